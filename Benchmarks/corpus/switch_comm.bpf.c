#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "common.bpf.h"

struct comm_key { char comm[16]; };
HASH_MAP(switches, struct comm_key, u64, 10240);

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct comm_key k = {};
	bpf_probe_read_kernel_str(k.comm, sizeof(k.comm), prev->comm);
	map_add(&switches, &k, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
