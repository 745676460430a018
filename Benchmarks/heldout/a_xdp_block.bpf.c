#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"

#define ETH_P_IP 0x0800

HASH_MAP(blocked, u32, u8, 1024);
HASH_MAP(drops, u32, u64, 1024);

SEC("xdp")
int xdp_block(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	u32 saddr;

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != __builtin_bswap16(ETH_P_IP))
		return XDP_PASS;
	saddr = ip->saddr;
	if (!bpf_map_lookup_elem(&blocked, &saddr))
		return XDP_PASS;
	map_add(&drops, &saddr, 1);
	return XDP_DROP;
}
char LICENSE[] SEC("license") = "GPL";
