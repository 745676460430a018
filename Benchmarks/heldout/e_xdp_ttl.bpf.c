/* XDP TTL watch: IPv4 (untagged or behind one 802.1Q tag) TTLs counted per
 * value and in a per-CPU linear histogram (lhist 0..256 step 32: bucket 0
 * below 0, 1..8, 9 at 256 and above; each bucket its count and sum, as
 * Infrared lays out a keyless implicit lhist); TTL below min_ttl dropped and
 * counted in a global; verdicts counted per CPU by action. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"

#define ETH_P_IP 0x0800
#define ETH_P_8021Q 0x8100

const volatile u8 min_ttl = 0;
u64 low_ttl = 0;

struct ttl_bucket { u64 count; s64 sum; };

ARRAY_MAP(ttls, u64, 256);
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 4);
	 __type(key, u32); __type(value, u64); } verdicts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 10);
	 __type(key, u32); __type(value, struct ttl_bucket); } ttl_hist SEC(".maps");

SEC("xdp")
int xdp_ttl(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	u16 proto = bpf_ntohs(eth->h_proto);
	if (proto == ETH_P_8021Q) {
		struct vlan_hdr *vh = (void *)(eth + 1);
		if ((void *)(vh + 1) > data_end)
			return XDP_PASS;
		proto = bpf_ntohs(vh->h_vlan_encapsulated_proto);
		ip = (void *)(vh + 1);
	}
	if (proto != ETH_P_IP)
		return XDP_PASS;
	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;

	s64 ttl = ip->ttl;
	u32 key = ttl;
	array_add_slot(&ttls, &key, 1, 0);

	u32 bucket = ttl < 0 ? 0 : ttl >= 256 ? 9 : ttl / 32 + 1;
	struct ttl_bucket *b = bpf_map_lookup_elem(&ttl_hist, &bucket);
	if (b) {
		b->count += 1;
		b->sum += ttl;
	} else {
		FAULT(1);
	}

	u32 verdict = XDP_PASS;
	if (ttl < min_ttl) {
		low_ttl += 1;
		verdict = XDP_DROP;
	}
	array_add_slot(&verdicts, &verdict, 1, 2);
	return verdict;
}
char LICENSE[] SEC("license") = "GPL";
