/* System calls of processes named "workload", by number: comm compared
 * with an unrolled byte loop (NUL included). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

HASH_MAP(calls, u64, u64, 1024);

SEC("tracepoint/raw_syscalls/sys_enter")
int comm_filter(struct trace_event_raw_sys_enter *ctx)
{
	static const char want[] = "workload";
	char comm[16];
	bpf_get_current_comm(comm, sizeof(comm));
#pragma unroll
	for (int i = 0; i < sizeof(want); i++)
		if (comm[i] != want[i])
			return 0;
	u64 id = ctx->id;
	map_add(&calls, &id, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
