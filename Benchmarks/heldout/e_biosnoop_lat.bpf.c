/* Block I/O latency: issue time, size and comm kept per request (key: dev
 * and sector) at block_rq_issue; at block_rq_complete a per-CPU log2
 * histogram of microseconds (as Infrared lays out a keyless implicit hist:
 * a per-CPU array of 66 buckets, bucket 0 below 0, 1 for 0, k + 2 for
 * [2^k, 2^(k+1)), each bucket its count and sum), per-CPU counts per device
 * and per (device, error), and a ring buffer record for slow requests.
 * Small requests and other devices optionally skipped. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

/* five fault slots (common.bpf.h has four) */
u64 faults5[5] = {};
#undef FAULT
#define FAULT(slot) __sync_fetch_and_add(&faults5[slot], 1)

const volatile u32 min_bytes = 0;
const volatile u32 dev = 0;
const volatile u64 slow_us = 10000;

struct req_key { u32 dev; u64 sector; };
struct issued { u64 ts; u32 bytes; char comm[16]; };
struct slow_io {
	u64 sector;
	u64 lat_us;
	u32 dev;
	u32 bytes;
	s32 error;
	char rwbs[10];
	char comm[16];
};
struct dev_err { u64 dev; u64 error; };

HASH_MAP(issued, struct req_key, struct issued, 10240);
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } slow SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 66);
	 __type(key, u32); __type(value, struct count_sum); } usecs SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 10240);
	 __type(key, u64); __type(value, u64); } ios SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 10240);
	 __type(key, struct dev_err); __type(value, u64); } errors SEC(".maps");

SEC("tracepoint/block/block_rq_issue")
int rq_issue(struct trace_event_raw_block_rq *ctx)
{
	u32 bytes = ctx->bytes;
	if (bytes < min_bytes)
		return 0;
	if (dev != 0 && ctx->dev != dev)
		return 0;
	struct req_key k = {};
	k.dev = ctx->dev;
	k.sector = ctx->sector;
	struct issued v = {};
	v.ts = bpf_ktime_get_ns();
	v.bytes = bytes;
	bpf_probe_read_kernel_str(v.comm, sizeof(v.comm), ctx->comm);
	if (bpf_map_update_elem(&issued, &k, &v, BPF_ANY) < 0)
		FAULT(0);
	return 0;
}

static __always_inline void pcpu_count(void *map, const void *key, int slot)
{
	u64 *c = bpf_map_lookup_elem(map, key);
	if (c) {
		*c += 1;
	} else {
		u64 one = 1;
		if (bpf_map_update_elem(map, key, &one, BPF_ANY) < 0)
			FAULT(slot);
	}
}

SEC("tracepoint/block/block_rq_complete")
int rq_complete(struct trace_event_raw_block_rq_completion *ctx)
{
	u32 d = ctx->dev;
	struct req_key k = {};
	k.dev = d;
	k.sector = ctx->sector;
	struct issued *s = bpf_map_lookup_elem(&issued, &k);
	if (!s)
		return 0;
	u64 us = (bpf_ktime_get_ns() - s->ts) / 1000;

	s64 v = us;
	u32 bucket = v < 0 ? 0 : v == 0 ? 1 : log2_bucket(v) + 1;
	struct count_sum *b = bpf_map_lookup_elem(&usecs, &bucket);
	if (b) {
		b->count += 1;
		b->sum += v;
	} else {
		FAULT(1);
	}

	u64 dk = d;
	pcpu_count(&ios, &dk, 2);

	s32 err = ctx->error;
	if (err != 0) {
		struct dev_err ek = { d, (s64)err };
		pcpu_count(&errors, &ek, 3);
	}

	if (us >= slow_us) {
		struct slow_io *e = bpf_ringbuf_reserve(&slow, sizeof(*e), 0);
		if (e) {
			e->sector = ctx->sector;
			e->lat_us = us;
			e->dev = d;
			e->bytes = s->bytes;
			e->error = err;
			bpf_probe_read_kernel_str(e->rwbs, sizeof(e->rwbs), ctx->rwbs);
			bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), s->comm);
			bpf_ringbuf_submit(e, 0);
		} else {
			FAULT(4);
		}
	}
	bpf_map_delete_elem(&issued, &k);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
