#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

HASH_MAP(start, u32, u64, 10240);
ARRAY_MAP(usecs, u64, 66);

SEC("tracepoint/syscalls/sys_enter_nanosleep")
int nanosleep_enter(void *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&start, &tid, &ts, 0) < 0)
		FAULT(0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_nanosleep")
int nanosleep_exit(void *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 *t = bpf_map_lookup_elem(&start, &tid);
	if (t) {
		hist_add(&usecs, (bpf_ktime_get_ns() - *t) / 1000, 1);
		bpf_map_delete_elem(&start, &tid);
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
