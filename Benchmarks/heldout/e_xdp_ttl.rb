# XDP TTL watch: IPv4 packets, untagged or behind one 802.1Q VLAN tag, have
# their TTL counted per value (an array of 256) and in a linear histogram
# (an implicit lhist, 0..256 step 32); packets whose TTL is below min_ttl are
# dropped (0: none is) and counted in a global. Verdicts (XDP_DROP,
# XDP_PASS) are counted per CPU, indexed by the action.
license "GPL"
XDP_DROP = 1
XDP_PASS = 2
ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100
param :min_ttl, :u8, default: 0
map :ttls, :array, value: :u64, max_entries: 256
map :verdicts, :percpu_array, value: :u64, max_entries: 4
global :low_ttl, :u64

xdp name: "xdp_ttl" do |ctx|
  data = ctx.data
  data_end = ctx.data_end
  return XDP_PASS if data + 14 > data_end
  proto = ntohs(cast(:ethhdr, data).h_proto)
  ip = data + 14
  if proto == ETH_P_8021Q
    return XDP_PASS if data + 18 > data_end
    proto = ntohs(cast(:vlan_hdr, data + 14).h_vlan_encapsulated_proto)
    ip = data + 18
  end
  return XDP_PASS if proto != ETH_P_IP
  return XDP_PASS if ip + 20 > data_end
  ttl = cast(:iphdr, ip).ttl
  ttls[ttl] += 1
  @ttl_hist.lhist(ttl, 0, 256, 32)
  verdict = XDP_PASS
  if ttl < min_ttl
    low_ttl += 1
    verdict = XDP_DROP
  end
  verdicts[verdict] += 1
  verdict
end
