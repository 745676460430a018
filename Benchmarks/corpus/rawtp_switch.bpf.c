#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"

HASH_MAP(oncpu, u32, u64, 10240);

/* sched_switch(preempt, prev, next, prev_state) */
SEC("raw_tracepoint/sched_switch")
int rawtp_switch(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *next = (struct task_struct *)ctx->args[2];
	u32 tgid = BPF_CORE_READ(next, tgid);
	map_add(&oncpu, &tgid, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
