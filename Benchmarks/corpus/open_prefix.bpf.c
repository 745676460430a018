/* Opens under /etc/ per process name: the first bytes of the user path read
 * into a small buffer, compared with the prefix. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

struct comm_key { char comm[16]; };
HASH_MAP(etc_opens, struct comm_key, u64, 10240);

SEC("tracepoint/syscalls/sys_enter_openat")
int open_prefix(struct trace_event_raw_sys_enter *ctx)
{
	static const char prefix[] = "/etc/";
	char buf[8] = {};
	bpf_probe_read_user_str(buf, sizeof(buf), (const char *)ctx->args[1]);
#pragma unroll
	for (int i = 0; i < sizeof(prefix) - 1; i++)
		if (buf[i] != prefix[i])
			return 0;
	struct comm_key k = {};
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	map_add(&etc_opens, &k, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
