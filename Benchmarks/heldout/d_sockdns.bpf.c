/* Socket filter: keep IPv4 UDP to/from a port (DNS), count per source port. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"

#define ETH_P_IP 0x0800

const volatile u16 port = 53;

struct ip4 { u8 vhl; u8 tos; u16 tot_len; u32 id_frag; u8 ttl; u8 protocol; };
struct ports { u16 sport; u16 dport; };
HASH_MAP(by_sport, u16, u64, 4096);

SEC("socket")
int sock_dns(struct __sk_buff *skb)
{
	struct ip4 ip = {};
	struct ports pt = {};

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, 14, &ip, 10) != 0)
		return 0;
	if (ip.protocol != IPPROTO_UDP)
		return 0;
	if (bpf_skb_load_bytes(skb, 14 + (ip.vhl & 15) * 4, &pt, 4) != 0)
		return 0;
	u16 sport = bpf_ntohs(pt.sport);
	if (sport != port && bpf_ntohs(pt.dport) != port)
		return 0;
	map_add(&by_sport, &sport, 1);
	return skb->len;
}
char LICENSE[] SEC("license") = "GPL";
