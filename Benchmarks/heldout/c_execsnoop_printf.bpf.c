/* execsnoop from raw sys_enter (execve): one record per exec for user space
 * to print (pid, uid, comm, file, argv[0]); files under /usr/lib/ and execs
 * by cron skipped. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "common.bpf.h"

struct line {
	u32 pid;
	u32 uid;
	char comm[16];
	char file[64];
	char argv0[64];
};
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } lines SEC(".maps");

SEC("raw_tracepoint/sys_enter")
int execsnoop_printf(struct bpf_raw_tracepoint_args *ctx)
{
	static const char prefix[] = "/usr/lib/";
	static const char cron[] = "cron";
	if (ctx->args[1] != 59)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	const char *file = (const char *)PT_REGS_PARM1_CORE(regs);
	char buf[16] = {};
	bpf_probe_read_user_str(buf, sizeof(buf), file);
	int i;
#pragma unroll
	for (i = 0; i < sizeof(prefix) - 1; i++)
		if (buf[i] != prefix[i])
			break;
	if (i == sizeof(prefix) - 1)
		return 0;
	char comm[8];
	bpf_get_current_comm(comm, sizeof(comm));
#pragma unroll
	for (i = 0; i < sizeof(cron); i++)
		if (comm[i] != cron[i])
			break;
	if (i == sizeof(cron))
		return 0;
	const char *const *argv = (const char *const *)PT_REGS_PARM2_CORE(regs);
	const char *argv0 = NULL;
	bpf_probe_read_user(&argv0, sizeof(argv0), argv);

	struct line *l = bpf_ringbuf_reserve(&lines, sizeof(*l), 0);
	if (!l) {
		FAULT(0);
		return 0;
	}
	l->pid = bpf_get_current_pid_tgid() >> 32;
	l->uid = (u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(l->comm, sizeof(l->comm));
	bpf_probe_read_user_str(l->file, sizeof(l->file), file);
	bpf_probe_read_user_str(l->argv0, sizeof(l->argv0), argv0);
	bpf_ringbuf_submit(l, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
