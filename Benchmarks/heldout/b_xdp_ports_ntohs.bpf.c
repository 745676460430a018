/* XDP: IPv4 TCP/UDP packets per destination port; drop one port. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"

#define ETH_P_IP 0x0800

const volatile u16 blocked_port = 23;

ARRAY_MAP(dports, u64, 65536);

SEC("xdp")
int xdp_ports(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *l4 = (void *)(ip + 1);

	if ((void *)l4 + 4 > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->ihl != 5)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	u32 port = bpf_ntohs(l4->dest);
	array_add(&dports, &port, 1);
	return port == blocked_port ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
