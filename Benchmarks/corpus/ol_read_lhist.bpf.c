/* read() sizes asked for, linear buckets of 100 from 0 to 1000 (bucket 0:
 * below 0, 1..10: [0, 100)…[900, 1000), 11: 1000 and above, as bpftrace's
 * lhist, with each bucket's sum as Infrared keeps it): a shared array,
 * atomic adds. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

ARRAY_MAP(sizes, struct count_sum, 12);

struct sys_enter_read { u64 common; s64 nr; u64 fd; u64 buf; u64 count; };

SEC("tracepoint/syscalls/sys_enter_read")
int ol_read_lhist(struct sys_enter_read *ctx)
{
	s64 v = ctx->count;
	u32 b = v < 0 ? 0 : v >= 1000 ? 11 : v / 100 + 1;
	bucket_add(&sizes, b, v, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
