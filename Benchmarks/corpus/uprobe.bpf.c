#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "common.bpf.h"

HASH_MAP(sums, u32, u64, 10240);

SEC("uprobe//tmp/infrared-bench/workload:bench_add")
int BPF_KPROBE(uprobe_add, long a, long b)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	map_add(&sums, &pid, a + b);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
