/* tc ingress: drop IPv4 UDP to port 53, count verdicts; skb_load_bytes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"
#include <bpf/bpf_endian.h>

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_P_IP 0x0800

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2);
	 __type(key, u32); __type(value, u64); } verdicts SEC(".maps");

static __always_inline void count(u32 i)
{
	u64 *v = bpf_map_lookup_elem(&verdicts, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		FAULT(0);
}

SEC("tc")
int tc_port(struct __sk_buff *skb)
{
	u8 proto;
	u16 dest;
	if (skb->protocol == bpf_htons(ETH_P_IP) &&
	    bpf_skb_load_bytes(skb, 23, &proto, 1) == 0 && proto == 17 &&
	    bpf_skb_load_bytes(skb, 36, &dest, 2) == 0 && dest == bpf_htons(53)) {
		count(1);
		return TC_ACT_SHOT;
	}
	count(0);
	return TC_ACT_OK;
}
char LICENSE[] SEC("license") = "GPL";
