#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("cgroup/dev")
int cgroup_device(struct bpf_cgroup_dev_ctx *ctx)
{
    bpf_printk("dev %d:%d type %d\n", ctx->major, ctx->minor, ctx->access_type);
    return 1;
}
char _license[] SEC("license") = "GPL";
