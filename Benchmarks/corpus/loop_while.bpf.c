#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

ARRAY_MAP(bits, u64, 65);

SEC("tracepoint/raw_syscalls/sys_enter")
int loop_while(struct trace_event_raw_sys_enter *ctx)
{
	u64 x = (bpf_get_current_pid_tgid() ^ ctx->id) & 0xffffffffffff;
	u32 n = 0;
	while (x != 0 && n < 64) {
		x &= x - 1;
		n++;
	}
	array_add(&bits, &n, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
