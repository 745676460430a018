/* Failed system calls by number (syscount -e): a shared hash, atomic adds. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

HASH_MAP(errors, u64, u64, 1024);

SEC("tracepoint/raw_syscalls/sys_exit")
int syscount_err(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0) {
		u64 id = ctx->id;
		map_add(&errors, &id, 1);
	}
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
