#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

#define IPPROTO_TCP 6
#define TCP_SYN_SENT 2

struct event {
	u32 pid;
	u32 uid;
	u16 family;
	u16 sport;
	u16 dport;
	char comm[16];
};

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } events SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int tcpconnect(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP || ctx->newstate != TCP_SYN_SENT)
		return 0;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		FAULT(0);
		return 0;
	}
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->uid = (u32)bpf_get_current_uid_gid();
	e->family = ctx->family;
	e->sport = ctx->sport;
	e->dport = ctx->dport;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
