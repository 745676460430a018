/* tp_btf sched_process_exec: exec record with parent tgid, argument-area size
 * and the executed file's dentry name; execs counted per parent. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"

const volatile bool include_root = false;
const volatile u64 min_args = 0;

struct exec_event {
	u32 pid;
	u32 ppid;
	u32 old_pid;
	u32 uid;
	u64 args_len;
	char comm[16];
	char exe[32];
};

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } events SEC(".maps");
HASH_MAP(by_parent, u32, u64, 4096);

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_parent, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	u32 uid = (u32)bpf_get_current_uid_gid();
	if (uid == 0 && !include_root)
		return 0;
	struct mm_struct *mm = p->mm;
	u64 args_len = BPF_CORE_READ(mm, arg_end) - BPF_CORE_READ(mm, arg_start);
	if (args_len < min_args)
		return 0;
	u32 ppid = BPF_CORE_READ(p, real_parent, tgid);
	map_add_slot(&by_parent, &ppid, 1, 0);
	struct exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		FAULT(1);
		return 0;
	}
	e->pid = p->tgid;
	e->ppid = ppid;
	e->old_pid = old_pid;
	e->uid = uid;
	e->args_len = args_len;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), p->comm);
	bpf_probe_read_kernel_str(e->exe, sizeof(e->exe),
				  BPF_CORE_READ(bprm, file, f_path.dentry, d_name.name));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
