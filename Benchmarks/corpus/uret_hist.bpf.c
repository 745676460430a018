#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "common.bpf.h"

HASH_MAP(calls, u32, u64, 10240);
ARRAY_MAP(results, u64, 66);

SEC("uretprobe//tmp/infrared-bench/workload:bench_add")
int BPF_KRETPROBE(uret_add, long ret)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	map_add(&calls, &pid, 1);
	hist_add(&results, ret, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
