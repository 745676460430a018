#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

const volatile u32 target_pid = 0;   /* 0: every process */
const volatile s64 target_nr = 39;   /* getpid on x86-64 */
HASH_MAP(counts, u32, u64, 10240);

SEC("tracepoint/raw_syscalls/sys_enter")
int filter_param(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	if ((target_pid == 0 || (u32)(id >> 32) == target_pid) && ctx->id == target_nr) {
		u32 tid = (u32)id;
		map_add(&counts, &tid, 1);
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
