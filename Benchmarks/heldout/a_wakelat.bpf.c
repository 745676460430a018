#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

HASH_MAP(wakeup_ts, u32, u64, 10240);
ARRAY_MAP(usecs, u64, 66);

SEC("tracepoint/sched/sched_wakeup")
int on_wakeup(struct trace_event_raw_sched_wakeup_template *ctx)
{
	u32 pid = ctx->pid;
	u64 ts = bpf_ktime_get_ns();

	if (bpf_map_update_elem(&wakeup_ts, &pid, &ts, BPF_ANY) < 0)
		FAULT(0);
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int on_switch(struct trace_event_raw_sched_switch *ctx)
{
	u32 pid = ctx->next_pid;
	u64 *tsp = bpf_map_lookup_elem(&wakeup_ts, &pid);

	if (tsp) {
		hist_add(&usecs, (bpf_ktime_get_ns() - *tsp) / 1000, 1);
		bpf_map_delete_elem(&wakeup_ts, &pid);
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
