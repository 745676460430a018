/* sched:sched_migrate_task: per-CPU counts per (orig_cpu, dest_cpu) (as
 * Infrared lays out an implicit count with two keys), a per-CPU linear
 * histogram of the destination CPU (lhist 0..64 step 4: bucket 0 below 0,
 * 1..16, 17 at 64 and above; each bucket its count and sum), a count per
 * task name (the __data_loc comm read into a char[16] key), a per-CPU array
 * count per scheduling class (RT, nice 0, negative, positive nice), the last
 * move per task in an LRU hash, and a printf-style ring buffer record (format
 * id, pid, comm as a 64-byte string, the CPUs, microseconds) for a task that
 * moves straight back within window_us; optional pid filter. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

/* six fault slots (common.bpf.h has four) */
u64 faults6[6] = {};
#undef FAULT
#define FAULT(slot) __sync_fetch_and_add(&faults6[slot], 1)

#define MAX_RT_PRIO 100
#define DEFAULT_PRIO 120

const volatile u32 target_pid = 0;
const volatile u64 window_us = 1000;

u64 bounces = 0;

struct move { u64 ts; s32 from; s32 to; };
struct cpu_pair { u64 orig; u64 dest; };
struct bounce_line {
	u64 fmt;
	s64 pid;
	char comm[64];
	s64 to;
	s64 from;
	s64 back;
	u64 us;
};

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096);
	 __type(key, char[16]); __type(value, u64); } by_comm SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 4);
	 __type(key, u32); __type(value, u64); } classes SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 10240);
	 __type(key, u32); __type(value, struct move); } last SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 10240);
	 __type(key, struct cpu_pair); __type(value, u64); } pairs SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 18);
	 __type(key, u32); __type(value, struct count_sum); } dest_cpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } lines SEC(".maps");

SEC("tracepoint/sched/sched_migrate_task")
int migrate(struct trace_event_raw_sched_migrate_task *ctx)
{
	s32 pid = ctx->pid;
	if (target_pid && (s64)pid != (s64)target_pid)
		return 0;
	s32 from = ctx->orig_cpu, to = ctx->dest_cpu;

	struct cpu_pair pk = { (s64)from, (s64)to };
	u64 *c = bpf_map_lookup_elem(&pairs, &pk);
	if (c) {
		*c += 1;
	} else {
		u64 one = 1;
		if (bpf_map_update_elem(&pairs, &pk, &one, BPF_ANY) < 0)
			FAULT(0);
	}

	u32 bucket = to < 0 ? 0 : to >= 64 ? 17 : to / 4 + 1;
	struct count_sum *b = bpf_map_lookup_elem(&dest_cpu, &bucket);
	if (b) {
		b->count += 1;
		b->sum += to;
	} else {
		FAULT(1);
	}

	const char *comm = (const char *)ctx + (ctx->__data_loc_comm & 0xffff);
	char ck[16] = {};
	bpf_probe_read_kernel_str(ck, sizeof(ck), comm);
	map_add_slot(&by_comm, ck, 1, 2);

	s32 prio = ctx->prio;
	u32 cls = prio < MAX_RT_PRIO ? 0 : prio == DEFAULT_PRIO ? 1 : prio < DEFAULT_PRIO ? 2 : 3;
	array_add_slot(&classes, &cls, 1, 3);

	u64 now = bpf_ktime_get_ns();
	u32 key = pid;
	struct move *l = bpf_map_lookup_elem(&last, &key);
	if (l && l->from == to && l->to == from && now - l->ts < window_us * 1000) {
		bounces += 1;
		struct bounce_line *e = bpf_ringbuf_reserve(&lines, sizeof(*e), 0);
		if (e) {
			e->fmt = 0;
			e->pid = pid;
			bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), comm);
			e->to = to;
			e->from = from;
			e->back = to;
			e->us = (now - l->ts) / 1000;
			bpf_ringbuf_submit(e, 0);
		} else {
			FAULT(4);
		}
	}

	struct move m = { now, from, to };
	if (bpf_map_update_elem(&last, &key, &m, BPF_ANY) < 0)
		FAULT(5);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
