#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

const volatile u32 target_pid = 0;

struct event {
	u32 pid;
	u32 uid;
	s32 flags;
	char comm[16];
	char filename[128];
};

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int opensnoop_rb(struct trace_event_raw_sys_enter *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (target_pid && pid != target_pid)
		return 0;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		FAULT(0);
		return 0;
	}
	e->pid = pid;
	e->uid = (u32)bpf_get_current_uid_gid();
	e->flags = (s32)ctx->args[2];
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), (const char *)ctx->args[1]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
