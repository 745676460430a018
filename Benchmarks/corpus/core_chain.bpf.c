#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"

HASH_MAP(counts, u32, u64, 10240);

SEC("tracepoint/sched/sched_process_exec")
int core_chain(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	map_add(&counts, &ppid, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
