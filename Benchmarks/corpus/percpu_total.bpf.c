#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 2);
	 __type(key, u32); __type(value, u64); } totals SEC(".maps");

static __always_inline void bump(u32 i)
{
	u64 *v = bpf_map_lookup_elem(&totals, &i);
	if (v)
		(*v)++;
	else
		FAULT(0);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int percpu_total(void *ctx)
{
	bump(0);
	if (bpf_get_current_pid_tgid() >> 32 == 1)
		bump(1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
