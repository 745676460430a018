/* Keep UDP packets (their first 96 bytes), drop the rest; counts in .bss. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

u64 kept = 0;
u64 dropped = 0;

SEC("socket")
int sock_udp(struct __sk_buff *skb)
{
	u8 proto;
	if (bpf_skb_load_bytes(skb, 23, &proto, 1) == 0 && proto == 17) {
		kept++;
		return skb->len < 96 ? skb->len : 96;
	}
	dropped++;
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
