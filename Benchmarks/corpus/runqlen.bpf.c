/* runqlen: the current CPU's CFS queue length at each sample, linear
 * buckets of bpftrace's lhist(len, 0, 32, 1): 0 below 0, 1..32 one per
 * length, 33 for 32 and more; each bucket's count and sum, as Infrared keeps them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"

ARRAY_MAP(runqlen, struct count_sum, 34);

SEC("perf_event")
int runqlen_sample(struct bpf_perf_event_data *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	u64 len = BPF_CORE_READ(task, se.cfs_rq, nr_queued);
	u32 slot = len >= 32 ? 33 : len + 1;
	bucket_add(&runqlen, slot, len, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
