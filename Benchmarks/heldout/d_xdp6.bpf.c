/* XDP IPv6: packets and payload bytes per next header; TCP FIN/SYN/RST/ACK
 * counts per CPU; ICMPv6 types; drop below a minimum hop limit. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"

#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMPV6 58

const volatile u8 min_hop_limit = 0;

ARRAY_MAP(packets, u64, 256);
ARRAY_MAP(bytes, u64, 256);
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 4);
	 __type(key, u32); __type(value, u64); } tcp_flags SEC(".maps");
HASH_MAP(icmp6_types, u8, u64, 256);

static __always_inline void flag(u32 i)
{
	array_add_slot(&tcp_flags, &i, 1, 2);
}

SEC("xdp")
int xdp_ipv6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);

	if ((void *)(ip6 + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	if (ip6->hop_limit < min_hop_limit)
		return XDP_DROP;
	u32 nh = ip6->nexthdr;
	array_add_slot(&packets, &nh, 1, 0);
	array_add_slot(&bytes, &nh, bpf_ntohs(ip6->payload_len), 1);
	if (nh == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)(ip6 + 1);
		if ((void *)(tcp + 1) <= data_end) {
			if (tcp->fin)
				flag(0);
			if (tcp->syn)
				flag(1);
			if (tcp->rst)
				flag(2);
			if (tcp->ack)
				flag(3);
		}
	} else if (nh == IPPROTO_ICMPV6) {
		struct icmp6hdr *icmp6 = (void *)(ip6 + 1);
		if ((void *)icmp6 + 4 <= data_end) {
			u8 type = icmp6->icmp6_type;
			map_add_slot(&icmp6_types, &type, 1, 3);
		}
	}
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
