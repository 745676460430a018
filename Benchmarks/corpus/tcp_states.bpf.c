#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

#define IPPROTO_TCP 6

struct transition { int oldstate; int newstate; };
HASH_MAP(transitions, struct transition, u64, 1024);

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_states(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	struct transition k = { .oldstate = ctx->oldstate, .newstate = ctx->newstate };
	map_add(&transitions, &k, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
