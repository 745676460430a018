#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 4096);
	 __type(key, u32); __type(value, u64); } first_seen SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
	 __type(key, u32); __type(value, u64); } new_threads SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int lru_first(void *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&first_seen, &tid, &ts, BPF_NOEXIST) == 0) {
		u32 zero = 0;
		u64 *v = bpf_map_lookup_elem(&new_threads, &zero);
		if (v)
			__sync_fetch_and_add(v, 1);
		else
			FAULT(0);
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
