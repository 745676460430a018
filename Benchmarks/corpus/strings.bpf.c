#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

struct comm_file {
	char comm[16];
	char filename[64];
};
HASH_MAP(counts, struct comm_file, u64, 10240);

/* sys_enter_openat's record: trace_event_raw_sys_enter's layout (args[1] is the filename). */
SEC("tracepoint/syscalls/sys_enter_openat")
int strings(struct trace_event_raw_sys_enter *ctx)
{
	struct comm_file k = {};
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	bpf_probe_read_user_str(k.filename, sizeof(k.filename), (const char *)ctx->args[1]);
	map_add(&counts, &k, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
