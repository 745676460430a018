/* System calls by process name, as a C author writes it: one shared hash
 * map keyed by comm, counted with an atomic add. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

struct comm_key { char comm[16]; };
HASH_MAP(calls, struct comm_key, u64, 10240);

SEC("tracepoint/raw_syscalls/sys_enter")
int ol_count_comm(void *ctx)
{
	struct comm_key k = {};
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	map_add(&calls, &k, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
