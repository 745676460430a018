/* perf_event CPU profile: samples per (pid, cpu, kernel stack, user stack);
 * idle skipped; optional pid filter; kernel-only mode; stack-error counts. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

#define EFAULT 14

const volatile u32 target_pid = 0;
const volatile bool kernel_only = false;

struct profile_key {
	u32 pid;
	u32 cpu;
	s32 kstack;
	s32 ustack;
};

struct { __uint(type, BPF_MAP_TYPE_STACK_TRACE); __uint(max_entries, 8192);
	 __uint(key_size, sizeof(u32)); __uint(value_size, 127 * sizeof(u64)); } stacks SEC(".maps");
HASH_MAP(samples, struct profile_key, u64, 16384);
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 2);
	 __type(key, u32); __type(value, u64); } stack_errors SEC(".maps");

static __always_inline void stack_error(u32 i)
{
	array_add_slot(&stack_errors, &i, 1, 0);
}

SEC("perf_event")
int cpu_profile(struct bpf_perf_event_data *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct profile_key k;

	if (pid == 0)
		return 0;
	if (target_pid != 0 && pid != target_pid)
		return 0;
	k.pid = pid;
	k.cpu = bpf_get_smp_processor_id();
	k.kstack = bpf_get_stackid(ctx, &stacks, 0);
	if (k.kstack < 0 && k.kstack != -EFAULT)
		stack_error(0);
	if (!kernel_only) {
		k.ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		if (k.ustack < 0 && k.ustack != -EFAULT)
			stack_error(1);
	} else {
		k.ustack = -1;
	}
	map_add_slot(&samples, &k, 1, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
