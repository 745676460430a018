#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>
#include "common.bpf.h"

HASH_MAP(sums, u32, u64, 16);

SEC("usdt//tmp/infrared-bench/workload:bench:tick")
int BPF_USDT(usdt_tick, long a, long b)
{
	u32 k = a & 15;
	map_add(&sums, &k, b);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
