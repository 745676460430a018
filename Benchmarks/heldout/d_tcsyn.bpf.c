/* tc ingress: TCP SYNs per destination port over IPv4/IPv6, untagged or
 * behind one 802.1Q tag; optional VLAN filter; a few counters. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"

#define TC_ACT_OK 0
#define ETH_P_8021Q 0x8100
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

const volatile u16 vlan_id = 0;

HASH_MAP(syn_ports, u16, u64, 8192);
ARRAY_MAP(stats, u64, 3);

static __always_inline void stat(u32 i)
{
	array_add_slot(&stats, &i, 1, 0);
}

SEC("tc")
int tc_syn(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct tcphdr *tcp;
	void *l3;
	u16 proto;

	if ((void *)(eth + 1) > data_end)
		return TC_ACT_OK;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vh = (void *)(eth + 1);
		if ((void *)(vh + 1) > data_end)
			return TC_ACT_OK;
		if (vlan_id != 0 && (bpf_ntohs(vh->h_vlan_TCI) & 0xFFF) != vlan_id)
			return TC_ACT_OK;
		stat(2);
		proto = vh->h_vlan_encapsulated_proto;
		l3 = vh + 1;
	} else if (vlan_id == 0) {
		l3 = eth + 1;
	} else {
		return TC_ACT_OK;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > data_end)
			return TC_ACT_OK;
		if (ip->ihl != 5 || ip->protocol != IPPROTO_TCP)
			return TC_ACT_OK;
		tcp = (void *)(ip + 1);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > data_end)
			return TC_ACT_OK;
		if (ip6->nexthdr != IPPROTO_TCP)
			return TC_ACT_OK;
		tcp = (void *)(ip6 + 1);
	} else {
		return TC_ACT_OK;
	}
	if ((void *)(tcp + 1) > data_end)
		return TC_ACT_OK;
	stat(0);
	if (tcp->syn) {
		if (!tcp->ack) {
			u16 port = bpf_ntohs(tcp->dest);
			map_add_slot(&syn_ports, &port, 1, 1);
		} else {
			stat(1);
		}
	}
	return TC_ACT_OK;
}
char LICENSE[] SEC("license") = "GPL";
