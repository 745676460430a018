#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

HASH_MAP(start, u32, u64, 10240);
ARRAY_MAP(usecs, u64, 66);

SEC("tracepoint/raw_syscalls/sys_enter")
int hist_us_enter(void *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&start, &tid, &ts, 0) < 0)
		FAULT(0);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int hist_us_exit(void *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 *tsp = bpf_map_lookup_elem(&start, &tid);
	if (!tsp)
		return 0;
	u64 delta = (bpf_ktime_get_ns() - *tsp) / 1000;
	hist_add(&usecs, delta, 1);
	bpf_map_delete_elem(&start, &tid);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
