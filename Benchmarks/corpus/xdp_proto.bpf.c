/* IPv4 packets by IP protocol, direct packet access; XDP_PASS always. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 256);
	 __type(key, u32); __type(value, u64); } protos SEC(".maps");

SEC("xdp")
int xdp_proto(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	u32 proto = ip->protocol;
	u64 *v = bpf_map_lookup_elem(&protos, &proto);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		FAULT(0);
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
