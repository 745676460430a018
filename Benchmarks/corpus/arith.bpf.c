#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("socket")
int socket_filter(struct __sk_buff *ctx)
{
    long a = (long)ctx->len * 3 + 7;
    long b = ctx->protocol ^ 0x55;
    long c = (a & 0xff) << 4;
    long d = a > b ? a - b : b - a;
    return (c | d) & 0xffff;
}
char _license[] SEC("license") = "GPL";
