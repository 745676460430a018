#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("socket")
int sockarith(struct __sk_buff *ctx)
{
	u64 a = ctx->len, b = ctx->protocol, c = ctx->ifindex, s = 0;
	for (int i = 0; i < 16; i++) {
		s = ((s * 33) ^ ((a >> (i & 7)) + b + i)) & 0xffffffffff;
		a = (a * 7 + c) % 65521;
	}
	u64 d = s / 1000 + s % 977;
	u64 r = d > 5000 ? d - 5000 : 5000 - d;
	return r & 0xffff;
}
char LICENSE[] SEC("license") = "GPL";
