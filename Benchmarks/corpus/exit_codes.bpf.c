#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"

struct exit_key { char comm[16]; int code; };
HASH_MAP(exits, struct exit_key, u64, 10240);

SEC("tracepoint/sched/sched_process_exit")
int exit_codes(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	if ((u32)id != id >> 32)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct exit_key k = {};
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	k.code = BPF_CORE_READ(task, exit_code) >> 8;
	map_add(&exits, &k, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
