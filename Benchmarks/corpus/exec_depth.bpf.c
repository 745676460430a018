#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"

/* lhist(depth, 0, 16, 1): 0 below 0, 1..16 one per depth, 17 for 16 and more */
ARRAY_MAP(depth_hist, struct count_sum, 18);

SEC("tracepoint/sched/sched_process_exec")
int exec_depth(void *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	u32 depth = 0;
	for (int i = 0; i < 16; i++) {
		if (BPF_CORE_READ(t, pid) <= 1)
			break;
		t = BPF_CORE_READ(t, real_parent);
		depth++;
	}
	u32 slot = depth >= 16 ? 17 : depth + 1;
	bucket_add(&depth_hist, slot, depth, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
