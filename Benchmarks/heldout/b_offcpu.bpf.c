/* raw_tracepoint sched_switch: off-CPU microseconds per process. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"

const volatile u64 min_us = 1;

HASH_MAP(start, u32, u64, 10240);
HASH_MAP(offcpu_us, u32, u64, 10240);

/* sched_switch(preempt, prev, next, prev_state) */
SEC("raw_tracepoint/sched_switch")
int offcpu(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *prev = (struct task_struct *)ctx->args[1];
	struct task_struct *next = (struct task_struct *)ctx->args[2];
	u64 now = bpf_ktime_get_ns();
	u32 prev_tid = BPF_CORE_READ(prev, pid);
	u32 next_tid;
	u64 *t;

	if (prev_tid != 0 && bpf_map_update_elem(&start, &prev_tid, &now, BPF_ANY) < 0)
		FAULT(0);
	next_tid = BPF_CORE_READ(next, pid);
	t = bpf_map_lookup_elem(&start, &next_tid);
	if (t) {
		u64 delta = (now - *t) / 1000;
		if (delta >= min_us) {
			u32 tgid = BPF_CORE_READ(next, tgid);
			map_add_slot(&offcpu_us, &tgid, delta, 1);
		}
		bpf_map_delete_elem(&start, &next_tid);
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
