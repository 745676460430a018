#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

u64 total = 0;
HASH_MAP(forks, u32, u64, 10240);

SEC("tracepoint/sched/sched_process_fork")
int forks_by_parent(struct trace_event_raw_sched_process_fork *ctx)
{
	u32 ppid = ctx->parent_pid;

	map_add(&forks, &ppid, 1);
	total += 1;
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
