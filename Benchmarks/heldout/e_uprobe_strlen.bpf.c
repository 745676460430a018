/* uprobe/uretprobe libc puts (strlen is an IFUNC libbpf 1.1 cannot attach
 * to; puts returns strlen + 1, or -1): the string's first 32 bytes kept per thread
 * at entry; at return a per-CPU per-comm log2 histogram of the lengths (as
 * Infrared lays out an implicit hist: bucket 0 below 0, 1 for 0, k + 2 for
 * [2^k, 2^(k+1)), each bucket its count and sum), a per-CPU count of calls
 * per process, a count of empty strings and a line with the head for long
 * strings; optional pid filter. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "common.bpf.h"

const volatile u32 target_pid = 0;
const volatile u32 min_len = 512;

u64 empty = 0;

struct head { char text[32]; };
struct lens_key { char comm[16]; u64 bucket; };
struct lens_val { u64 count; s64 sum; };
struct line { u64 pid; char comm[16]; s64 len; char text[32]; };

HASH_MAP(heads, u32, struct head, 10240);
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 10240);
	 __type(key, struct lens_key); __type(value, struct lens_val); } lens SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 10240);
	 __type(key, u64); __type(value, u64); } calls SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } lines SEC(".maps");

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

SEC("uprobe/" LIBC ":puts")
int BPF_KPROBE(strlen_enter, const char *s)
{
	if (target_pid && (bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	struct head h = {};
	bpf_probe_read_user_str(h.text, sizeof(h.text), s);
	u32 tid = (u32)bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&heads, &tid, &h, BPF_ANY) < 0)
		FAULT(0);
	return 0;
}

SEC("uretprobe/" LIBC ":puts")
int BPF_KRETPROBE(strlen_exit, long ret)
{
	s64 len = ret - 1;
	u64 id = bpf_get_current_pid_tgid();
	u64 pid = id >> 32;
	if (target_pid && pid != target_pid)
		return 0;

	struct lens_key k = {};
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	k.bucket = len < 0 ? 0 : len == 0 ? 1 : log2_bucket(len) + 1;
	struct lens_val *v = bpf_map_lookup_elem(&lens, &k);
	if (v) {
		v->count += 1;
		v->sum += len;
	} else {
		struct lens_val init = { 1, len };
		if (bpf_map_update_elem(&lens, &k, &init, BPF_ANY) < 0)
			FAULT(1);
	}

	u64 *c = bpf_map_lookup_elem(&calls, &pid);
	if (c) {
		*c += 1;
	} else {
		u64 one = 1;
		if (bpf_map_update_elem(&calls, &pid, &one, BPF_ANY) < 0)
			FAULT(2);
	}

	if (len == 0)
		empty += 1;

	u32 tid = (u32)id;
	struct head *h = bpf_map_lookup_elem(&heads, &tid);
	if (!h)
		return 0;
	if (len >= min_len) {
		struct line *l = bpf_ringbuf_reserve(&lines, sizeof(*l), 0);
		if (l) {
			l->pid = pid;
			bpf_get_current_comm(l->comm, sizeof(l->comm));
			l->len = len;
			bpf_probe_read_kernel_str(l->text, sizeof(l->text), h->text);
			bpf_ringbuf_submit(l, 0);
		} else {
			FAULT(3);
		}
	}
	bpf_map_delete_elem(&heads, &tid);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
