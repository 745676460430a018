/* TCP lifecycle events from sock:inet_sock_set_state: new state sorted
 * into kinds with a switch, counted per kind (per-CPU hash, as Infrared's
 * implicit count); a ring buffer record for each connection that becomes
 * established or closed; `port` keeps one local or remote port. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

const volatile u16 port = 0;

struct tcp_event {
	u64 skaddr;
	u64 ts;
	u32 pid;
	s32 oldstate;
	s32 newstate;
	u16 sport;
	u16 dport;
	u16 family;
	u8 kind;
};
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 10240);
	 __type(key, u64); __type(value, u64); } kinds SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_events(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (port && ctx->sport != port && ctx->dport != port)
		return 0;
	u64 kind;
	switch (ctx->newstate) {
	case 1: kind = 1; break;
	case 2: case 3: case 12: kind = 2; break;
	case 4: case 5: case 6: case 8: case 9: case 11: kind = 3; break;
	case 7: kind = 4; break;
	default: kind = 0;
	}
	u64 *c = bpf_map_lookup_elem(&kinds, &kind);
	if (c) {
		*c += 1;
	} else {
		u64 one = 1;
		if (bpf_map_update_elem(&kinds, &kind, &one, BPF_ANY) < 0)
			FAULT(0);
	}
	if (kind != 1 && kind != 4)
		return 0;
	struct tcp_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		FAULT(1);
		return 0;
	}
	e->skaddr = (u64)ctx->skaddr;
	e->ts = bpf_ktime_get_ns();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->oldstate = ctx->oldstate;
	e->newstate = ctx->newstate;
	e->sport = ctx->sport;
	e->dport = ctx->dport;
	e->family = ctx->family;
	e->kind = kind;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
