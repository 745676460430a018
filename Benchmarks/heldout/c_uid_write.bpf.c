/* Bytes written per uid (sum, largest, average) for uids >= min_uid, a
 * count of such writes, and a line for each write of at least `big` bytes.
 * Per-CPU hashes as Infrared lays out implicit aggregations (user space
 * merges the CPUs). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

/* five fault slots (common.bpf.h has four) */
u64 faults5[5] = {};
#undef FAULT
#define FAULT(slot) __sync_fetch_and_add(&faults5[slot], 1)

const volatile u32 min_uid = 1000;
const volatile s64 big = 1 << 20;

struct max_val { s64 value; u64 set; };
struct avg_val { s64 total; u64 count; };

#define PCPU_HASH(name, K, V) \
	struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 10240); \
		 __type(key, K); __type(value, V); } name SEC(".maps")
PCPU_HASH(bytes, u64, u64);
PCPU_HASH(largest, u64, struct max_val);
PCPU_HASH(avg_size, u64, struct avg_val);
PCPU_HASH(writes, u64, u64);

struct line { u32 uid; char comm[16]; s64 ret; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } lines SEC(".maps");

SEC("tracepoint/syscalls/sys_exit_write")
int uid_write(struct trace_event_raw_sys_exit *ctx)
{
	s64 ret = ctx->ret;
	if (ret <= 0)
		return 0;
	u64 uid = (u32)bpf_get_current_uid_gid();
	if (uid < min_uid)
		return 0;

	u64 *b = bpf_map_lookup_elem(&bytes, &uid);
	if (b) {
		*b += ret;
	} else if (bpf_map_update_elem(&bytes, &uid, &ret, BPF_ANY) < 0) {
		FAULT(0);
	}

	struct max_val *m = bpf_map_lookup_elem(&largest, &uid);
	if (m) {
		if (ret >= m->value) {
			m->value = ret;
			m->set = 1;
		}
	} else {
		struct max_val init = { ret, 1 };
		if (bpf_map_update_elem(&largest, &uid, &init, BPF_ANY) < 0)
			FAULT(1);
	}

	struct avg_val *a = bpf_map_lookup_elem(&avg_size, &uid);
	if (a) {
		a->total += ret;
		a->count += 1;
	} else {
		struct avg_val init = { ret, 1 };
		if (bpf_map_update_elem(&avg_size, &uid, &init, BPF_ANY) < 0)
			FAULT(2);
	}

	u64 zero = 0;
	u64 *w = bpf_map_lookup_elem(&writes, &zero);
	if (w) {
		*w += 1;
	} else {
		u64 one = 1;
		if (bpf_map_update_elem(&writes, &zero, &one, BPF_ANY) < 0)
			FAULT(3);
	}

	if (ret >= big) {
		struct line *l = bpf_ringbuf_reserve(&lines, sizeof(*l), 0);
		if (!l) {
			FAULT(4);
			return 0;
		}
		l->uid = uid;
		bpf_get_current_comm(l->comm, sizeof(l->comm));
		l->ret = ret;
		bpf_ringbuf_submit(l, 0);
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
