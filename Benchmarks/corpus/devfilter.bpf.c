#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("cgroup/dev")
int check(struct bpf_cgroup_dev_ctx *ctx)
{
    if (ctx->major == 1 && ctx->minor == 9)
        return 0;
    return 1;
}
char _license[] SEC("license") = "GPL";
