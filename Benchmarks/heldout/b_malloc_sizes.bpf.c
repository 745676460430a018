/* uprobe libc malloc: log2 histogram of sizes, bytes per process. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "common.bpf.h"

const volatile u32 target_pid = 0;

ARRAY_MAP(sizes, u64, 66);
HASH_MAP(bytes, u32, u64, 10240);

SEC("uprobe//lib/x86_64-linux-gnu/libc.so.6:malloc")
int BPF_KPROBE(malloc_sizes, size_t size)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;

	if (target_pid && pid != target_pid)
		return 0;
	hist_add(&sizes, size, 1);
	map_add(&bytes, &pid, size);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
