/* uprobe libc write: for fd 1 and 2, the bytes of up to WORDS 8-byte words
 * of the buffer (each read with bpf_probe_read_user) summed in a bounded
 * loop; the sum added per comm (per-CPU hash) and the number of words read
 * counted in a per-CPU lhist(0, 5, 1) array, as Infrared lays them out. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "common.bpf.h"

#define WORDS 4

struct comm_key { char comm[16]; };
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 10240);
	 __type(key, struct comm_key); __type(value, u64); } csum SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 7);
	 __type(key, u32); __type(value, struct count_sum); } words SEC(".maps");

SEC("uprobe//lib/x86_64-linux-gnu/libc.so.6:write")
int BPF_KPROBE(write_csum, s64 fd, const char *buf, s64 n)
{
	if (fd != 1 && fd != 2)
		return 0;
	s64 sum = 0, i;
	for (i = 0; i < WORDS && (i + 1) * 8 <= n; i++) {
		u64 w;
		bpf_probe_read_user(&w, sizeof(w), buf + i * 8);
#pragma unroll
		for (int j = 0; j < 8; j++)
			sum += (w >> (j * 8)) & 0xff;
	}

	struct comm_key k;
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	u64 *s = bpf_map_lookup_elem(&csum, &k);
	if (s) {
		*s += sum;
	} else if (bpf_map_update_elem(&csum, &k, &sum, BPF_ANY) < 0) {
		FAULT(0);
	}

	u32 b = i < 0 ? 0 : i >= 5 ? 6 : i + 1;
	struct count_sum *h = bpf_map_lookup_elem(&words, &b);
	if (h) {
		h->count += 1;
		h->sum += i;
	} else {
		FAULT(1);
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
