/* read() byte statistics per process name: count and total (stats()) in
 * one value, the largest read in another map (a racy max, as C tools do). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

struct comm_key { char comm[16]; };
struct stats { u64 count; u64 total; };
HASH_MAP(bytes, struct comm_key, struct stats, 10240);
HASH_MAP(largest, struct comm_key, s64, 10240);

SEC("tracepoint/syscalls/sys_exit_read")
int read_stats(struct trace_event_raw_sys_exit *ctx)
{
	s64 ret = ctx->ret;
	if (ret < 0)
		return 0;
	struct comm_key k = {};
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	struct stats *s = bpf_map_lookup_elem(&bytes, &k);
	if (s) {
		__sync_fetch_and_add(&s->count, 1);
		__sync_fetch_and_add(&s->total, ret);
	} else {
		struct stats init = { 1, ret };
		if (bpf_map_update_elem(&bytes, &k, &init, BPF_NOEXIST) < 0)
			FAULT(0);
	}
	s64 *m = bpf_map_lookup_elem(&largest, &k);
	if (!m) {
		if (bpf_map_update_elem(&largest, &k, &ret, BPF_NOEXIST) < 0)
			FAULT(1);
	} else if (ret > *m) {
		*m = ret;
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
