/* Syscall latency: entry time per thread; on exit a per-CPU count per
 * syscall id and a per-CPU per-comm linear histogram of microseconds
 * (lhist 0..1000 step 50: bucket 0 below 0, 1..20, 21 at 1000 and above;
 * each bucket its count and sum), as Infrared lays out implicit maps. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

const volatile u32 target_pid = 0;

struct lat_key { char comm[16]; u64 bucket; };
struct lat_val { u64 count; s64 sum; };

HASH_MAP(start, u64, u64, 10240);
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 10240);
	 __type(key, u64); __type(value, u64); } calls SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 10240);
	 __type(key, struct lat_key); __type(value, struct lat_val); } lat SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int sc_enter(struct trace_event_raw_sys_enter *ctx)
{
	if (target_pid && (bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	u64 ts = bpf_ktime_get_ns();
	u64 tid = (u32)bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&start, &tid, &ts, BPF_ANY) < 0)
		FAULT(0);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sc_exit(struct trace_event_raw_sys_exit *ctx)
{
	u64 tid = (u32)bpf_get_current_pid_tgid();
	u64 *t = bpf_map_lookup_elem(&start, &tid);
	if (!t)
		return 0;
	s64 us = (bpf_ktime_get_ns() - *t) / 1000;

	u64 id = ctx->id;
	u64 *c = bpf_map_lookup_elem(&calls, &id);
	if (c) {
		*c += 1;
	} else {
		u64 one = 1;
		if (bpf_map_update_elem(&calls, &id, &one, BPF_ANY) < 0)
			FAULT(1);
	}

	struct lat_key k = {};
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	k.bucket = us < 0 ? 0 : us >= 1000 ? 21 : us / 50 + 1;
	struct lat_val *v = bpf_map_lookup_elem(&lat, &k);
	if (v) {
		v->count += 1;
		v->sum += us;
	} else {
		struct lat_val init = { 1, us };
		if (bpf_map_update_elem(&lat, &k, &init, BPF_ANY) < 0)
			FAULT(2);
	}
	bpf_map_delete_elem(&start, &tid);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
