#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int xdp_prog(struct xdp_md *ctx)
{
    long sum = 0;
    for (long i = 0; i < 16; i++)
        sum += i * ctx->ingress_ifindex;
    return sum & 3;
}
char _license[] SEC("license") = "GPL";
