#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

HASH_MAP(counts, u32, u64, 10240);

SEC("tracepoint/raw_syscalls/sys_enter")
int count_implicit(void *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	map_add(&counts, &pid, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
