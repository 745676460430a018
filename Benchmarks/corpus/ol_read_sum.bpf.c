/* Bytes read by process name: a shared hash map keyed by comm, atomic adds. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

struct comm_key { char comm[16]; };
HASH_MAP(bytes, struct comm_key, u64, 10240);

struct sys_exit_read { u64 common; s64 nr; s64 ret; };

SEC("tracepoint/syscalls/sys_exit_read")
int ol_read_sum(struct sys_exit_read *ctx)
{
	struct comm_key k = {};
	if (ctx->ret <= 0)
		return 0;
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	map_add(&bytes, &k, ctx->ret);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
