/* Socket filter: IPv4 packets counted per (protocol: TCP/UDP/other, size
 * class of skb->len) in an array and their lengths in an Infrared hist map
 * (65 log2 buckets and a sum slot); non-IPv4 counted in a global and
 * dropped, non-first fragments dropped; kept packets truncated to snap_len
 * when it is non-zero. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"

#define ETH_P_IP 0x0800
#define IP_OFFSET 0x1fff
#define NCLASSES 5

const volatile u32 snap_len = 0;
u64 non_ip = 0;

struct ipv4 {	/* the first 12 bytes of struct iphdr */
	u8 ver_ihl;
	u8 tos;
	u16 tot_len;
	u16 id;
	u16 frag_off;
	u8 ttl;
	u8 protocol;
	u16 check;
};

ARRAY_MAP(by_class, u64, 3 * NCLASSES);
ARRAY_MAP(sizes, u64, 66);

SEC("socket")
int sock_len(struct __sk_buff *skb)
{
	struct ipv4 ip = {};
	u32 len, size, proto, key;

	if (skb->protocol != bpf_htons(ETH_P_IP)) {
		non_ip += 1;
		return 0;
	}
	if (bpf_skb_load_bytes(skb, 14, &ip, 12) != 0)
		return 0;
	if (bpf_ntohs(ip.frag_off) & IP_OFFSET)
		return 0;
	len = skb->len;
	if (len < 128)
		size = 0;
	else if (len < 512)
		size = 1;
	else if (len < 1024)
		size = 2;
	else if (len <= 1514)
		size = 3;
	else
		size = 4;
	switch (ip.protocol) {
	case IPPROTO_TCP: proto = 0; break;
	case IPPROTO_UDP: proto = 1; break;
	default: proto = 2;
	}
	key = proto * NCLASSES + size;
	array_add_slot(&by_class, &key, 1, 0);
	hist_add(&sizes, len, 1);
	return snap_len && len > snap_len ? snap_len : len;
}
char LICENSE[] SEC("license") = "GPL";
