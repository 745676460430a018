/* Shared by the corpus's CO-RE C programs (clang + libbpf side).
 *
 * map_add is what Infrared emits for `m[k] += n` on a hash map: look the key
 * up and add atomically; when absent insert n with BPF_NOEXIST; when another
 * CPU inserted first, look up again and add; when that finds nothing either
 * (the map is full), count a failed update. array_add is `m[k] += n` on an
 * array map: every key in range exists, so a lookup and an atomic add, and a
 * miss (a key out of range) is counted. The twins count what the program
 * could not do as Infrared's programs do (its `__infrared_faults`): one u64
 * per map and kind of loss in a zeroed global array, FAULT(slot) adding 1
 * atomically on the failure path (a full map, a full ring buffer).
 * hist_add is `h.add(v)` on an Infrared `hist` map: 65 buckets and a 66th
 * slot with the sum of the values (its Prometheus `_sum`). log2_bucket is
 * the bucket of an Infrared `hist` map (bpftrace's hist(): 0 for v <= 0, else 1 + floor(log2 v)),
 * written the way libbpf-tools' bits.bpf.h writes log2. */
#pragma once
#include <bpf/bpf_helpers.h>

#define HASH_MAP(name, K, V, N) \
	struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, N); \
		 __type(key, K); __type(value, V); } name SEC(".maps")
#define ARRAY_MAP(name, V, N) \
	struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, N); \
		 __type(key, u32); __type(value, V); } name SEC(".maps")

u64 faults[4] = {};
#define FAULT(slot) __sync_fetch_and_add(&faults[slot], 1)

static __always_inline void map_add_slot(void *map, const void *key, u64 n, int slot)
{
	u64 *v = bpf_map_lookup_elem(map, key);
	if (v) {
		__sync_fetch_and_add(v, n);
		return;
	}
	if (bpf_map_update_elem(map, key, &n, BPF_NOEXIST) == 0)
		return;
	v = bpf_map_lookup_elem(map, key);
	if (v)
		__sync_fetch_and_add(v, n);
	else
		FAULT(slot);
}
#define map_add(map, key, n) map_add_slot(map, key, n, 0)

static __always_inline void array_add_slot(void *map, const void *key, u64 n, int slot)
{
	u64 *v = bpf_map_lookup_elem(map, key);
	if (v)
		__sync_fetch_and_add(v, n);
	else
		FAULT(slot);
}
#define array_add(map, key, n) array_add_slot(map, key, n, 0)

static __always_inline u32 log2_bucket(s64 value)
{
	u64 v = value;
	u32 r, shift;
	if (value <= 0)
		return 0;
	r = (v > 0xFFFFFFFF) << 5; v >>= r;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r + 1;
}

static __always_inline void hist_add(void *map, s64 value, int slot)
{
	u32 bucket = log2_bucket(value), sum = 65;
	u64 *s;
	array_add_slot(map, &bucket, 1, slot);
	s = bpf_map_lookup_elem(map, &sum);
	if (s)
		__sync_fetch_and_add(s, value);
}

/* An implicit lhist/hist bucket as Infrared keeps it: its count and the sum
 * of its values (Prometheus _count/_sum). */
struct count_sum { u64 count; u64 sum; };

static __always_inline void bucket_add(void *map, u32 bucket, s64 value, int slot)
{
	struct count_sum *e = bpf_map_lookup_elem(map, &bucket);
	if (e) {
		__sync_fetch_and_add(&e->count, 1);
		__sync_fetch_and_add(&e->sum, value);
	} else {
		FAULT(slot);
	}
}
