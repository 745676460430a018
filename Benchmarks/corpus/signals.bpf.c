#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

struct sig_key { int sig; char comm[16]; };
HASH_MAP(signals, struct sig_key, u64, 10240);

SEC("tracepoint/signal/signal_generate")
int signal_generate(struct trace_event_raw_signal_generate *ctx)
{
	struct sig_key k = { .sig = ctx->sig };
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	map_add(&signals, &k, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
