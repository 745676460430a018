# tc ingress classifier: bytes per IP protocol (IPv4 protocol or IPv6 next
# header) in a hash map; every packet goes on (TC_ACT_OK).
license "GPL"
TC_ACT_OK = 0
ETH_P_IP_BE = 0x0008      # 0x0800 as it reads from the wire on x86
ETH_P_IPV6_BE = 0xDD86    # 0x86DD
map :proto_bytes, :hash, key: :u32, value: :u64, max_entries: 256

tc :ingress, name: "tc_proto_bytes" do |ctx|
  data = ctx.data
  data_end = ctx.data_end
  return TC_ACT_OK if data + 14 > data_end
  h_proto = cast(:ethhdr, data).h_proto
  if h_proto == ETH_P_IP_BE
    return TC_ACT_OK if data + 34 > data_end
    proto = cast(:iphdr, data + 14).protocol
  elsif h_proto == ETH_P_IPV6_BE
    return TC_ACT_OK if data + 54 > data_end
    proto = cast(:ipv6hdr, data + 14).nexthdr
  else
    return TC_ACT_OK
  end
  proto_bytes[proto] += ctx.len
  TC_ACT_OK
end
