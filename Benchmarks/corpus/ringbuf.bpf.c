#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"

struct event {
	u32 pid;
	u32 ppid;
	u32 uid;
	char comm[16];
	char filename[64];
};

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } events SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int ringbuf(struct trace_event_raw_sched_process_exec *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		e->pid = bpf_get_current_pid_tgid() >> 32;
		e->ppid = BPF_CORE_READ(task, real_parent, tgid);
		e->uid = (u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		unsigned off = ctx->__data_loc_filename & 0xFFFF;
		bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);
		bpf_ringbuf_submit(e, 0);
	} else {
		FAULT(0);
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
