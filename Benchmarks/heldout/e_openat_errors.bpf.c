/* Failed openat calls: file name and flags kept per thread at sys_enter; at
 * sys_exit with ret < 0 a count per errno, a per-CPU count per (comm, kind)
 * as Infrared lays out an implicit count with two keys, and a ring buffer
 * record; ENOENT optionally skipped. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

#define ENOENT 2
#define EPERM 1
#define EACCES 13
#define ENFILE 23
#define EMFILE 24
#define EEXIST 17

const volatile bool skip_enoent = false;

struct pending { u32 flags; char filename[64]; };
struct failure {
	u32 pid;
	s32 err;
	u32 kind;
	u32 flags;
	char comm[16];
	char filename[64];
};
struct comm_kind { char comm[16]; u64 kind; };

HASH_MAP(pending, u32, struct pending, 10240);
HASH_MAP(errors, u32, u64, 256);
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } failures SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 10240);
	 __type(key, struct comm_kind); __type(value, u64); } by_comm SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct pending p = {};
	p.flags = ctx->args[2];
	bpf_probe_read_user_str(p.filename, sizeof(p.filename), (const char *)ctx->args[1]);
	u32 tid = (u32)bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&pending, &tid, &p, BPF_ANY) < 0)
		FAULT(0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	long ret = ctx->ret;
	if (ret < 0) {
		long err = -ret;
		if (!(skip_enoent && err == ENOENT)) {
			u32 key = err;
			map_add_slot(&errors, &key, 1, 1);

			u64 kind;
			switch (err) {
			case ENOENT: kind = 1; break;
			case EPERM: case EACCES: kind = 2; break;
			case ENFILE: case EMFILE: kind = 3; break;
			case EEXIST: kind = 4; break;
			default: kind = 0;
			}

			struct comm_kind k = {};
			bpf_get_current_comm(k.comm, sizeof(k.comm));
			k.kind = kind;
			u64 *c = bpf_map_lookup_elem(&by_comm, &k);
			if (c) {
				*c += 1;
			} else {
				u64 one = 1;
				if (bpf_map_update_elem(&by_comm, &k, &one, BPF_ANY) < 0)
					FAULT(2);
			}

			struct failure *e = bpf_ringbuf_reserve(&failures, sizeof(*e), 0);
			if (e) {
				e->pid = id >> 32;
				e->err = err;
				e->kind = kind;
				e->flags = p->flags;
				bpf_get_current_comm(e->comm, sizeof(e->comm));
				bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), p->filename);
				bpf_ringbuf_submit(e, 0);
			} else {
				FAULT(3);
			}
		}
	}
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
