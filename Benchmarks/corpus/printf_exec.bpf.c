/* One record per exec for user space to print as a line: pid, parent, name,
 * file (the C way to bpftrace's printf). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"
#include <bpf/bpf_core_read.h>

struct line {
	u32 pid;
	u32 ppid;
	char comm[16];
	char filename[64];
};

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } lines SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int printf_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct line *l = bpf_ringbuf_reserve(&lines, sizeof(*l), 0);
	if (!l) {
		FAULT(0);
		return 0;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	l->pid = bpf_get_current_pid_tgid() >> 32;
	l->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(l->comm, sizeof(l->comm));
	unsigned off = ctx->__data_loc_filename & 0xFFFF;
	bpf_probe_read_kernel_str(l->filename, sizeof(l->filename), (void *)ctx + off);
	bpf_ringbuf_submit(l, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
