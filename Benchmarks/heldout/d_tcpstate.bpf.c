/* sock:inet_sock_set_state: IPv4 TCP state changes with addresses (CO-RE from
 * the sock), ports, states and time in the old state; optional port filter. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"

#define IPPROTO_TCP 6
#define AF_INET 2
#define TCP_CLOSE 7

const volatile u16 port = 0;

struct change {
	u64 skaddr;
	u64 delta_us;
	u32 pid;
	u32 saddr;
	u32 daddr;
	u16 sport;
	u16 dport;
	s32 oldstate;
	s32 newstate;
	char comm[16];
};

HASH_MAP(last_change, u64, u64, 10240);
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } changes SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP || ctx->family != AF_INET)
		return 0;
	u16 sport = ctx->sport, dport = ctx->dport;
	if (port != 0 && sport != port && dport != port)
		return 0;
	u64 skaddr = (u64)ctx->skaddr;
	u64 now = bpf_ktime_get_ns();
	u64 *t = bpf_map_lookup_elem(&last_change, &skaddr);
	u64 delta = t ? (now - *t) / 1000 : 0;
	int newstate = ctx->newstate;
	if (newstate == TCP_CLOSE)
		bpf_map_delete_elem(&last_change, &skaddr);
	else if (bpf_map_update_elem(&last_change, &skaddr, &now, BPF_ANY) < 0)
		FAULT(0);

	struct change *e = bpf_ringbuf_reserve(&changes, sizeof(*e), 0);
	if (!e) {
		FAULT(1);
		return 0;
	}
	struct sock *sk = (struct sock *)skaddr;
	e->skaddr = skaddr;
	e->delta_us = delta;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
	e->daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	e->sport = sport;
	e->dport = dport;
	e->oldstate = ctx->oldstate;
	e->newstate = newstate;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
