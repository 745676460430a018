#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

const volatile s32 target_sig = 0;

struct event {
	u32 pid;
	s32 tpid;
	s32 sig;
	s32 ret;
	char comm[16];
};

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } events SEC(".maps");

SEC("tracepoint/signal/signal_generate")
int killsnoop(struct trace_event_raw_signal_generate *ctx)
{
	struct event *e;

	if (target_sig && ctx->sig != target_sig)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		FAULT(0);
		return 0;
	}
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->tpid = ctx->pid;
	e->sig = ctx->sig;
	e->ret = ctx->result;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
