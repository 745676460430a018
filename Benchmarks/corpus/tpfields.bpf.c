#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

HASH_MAP(switches, u32, u64, 10240);
HASH_MAP(preempted, u32, u64, 10240);

SEC("tracepoint/sched/sched_switch")
int tpfields(struct trace_event_raw_sched_switch *ctx)
{
	u32 next = ctx->next_pid;
	map_add(&switches, &next, 1);
	if (ctx->prev_state == 0) {
		u32 prev = ctx->prev_pid;
		map_add_slot(&preempted, &prev, 1, 1);
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
