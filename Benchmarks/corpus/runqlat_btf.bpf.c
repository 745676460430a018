/* runqlat, libbpf-tools style: tp_btf programs reading the typed task
 * arguments directly (CO-RE through vmlinux.h's preserve_access_index). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "common.bpf.h"

#define TASK_RUNNING 0

HASH_MAP(start, u32, u64, 10240);
ARRAY_MAP(usecs, u64, 66);

static __always_inline void enqueue(u32 pid)
{
	u64 ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&start, &pid, &ts, 0) < 0)
		FAULT(0);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(runqlat_wakeup, struct task_struct *p)
{
	enqueue(p->pid);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(runqlat_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (prev->__state == TASK_RUNNING)
		enqueue(prev->pid);
	u32 pid = next->pid;
	u64 *t = bpf_map_lookup_elem(&start, &pid);
	if (t) {
		hist_add(&usecs, (bpf_ktime_get_ns() - *t) / 1000, 1);
		bpf_map_delete_elem(&start, &pid);
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
