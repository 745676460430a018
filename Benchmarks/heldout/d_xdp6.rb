# XDP on IPv6: packets and payload bytes per next header (arrays of 256);
# TCP segments' FIN, SYN, RST and ACK flags counted per CPU; ICMPv6 messages
# counted per type. Packets whose hop limit is below min_hop_limit are
# dropped (0: none is).
license "GPL"
XDP_DROP = 1
XDP_PASS = 2
ETH_P_IPV6_BE = 0xDD86
IPPROTO_TCP = 6
IPPROTO_ICMPV6 = 58
param :min_hop_limit, :u8, default: 0
map :packets, :array, value: :u64, max_entries: 256
map :bytes, :array, value: :u64, max_entries: 256
map :tcp_flags, :percpu_array, value: :u64, max_entries: 4
map :icmp6_types, :hash, key: :u8, value: :u64, max_entries: 256

xdp name: "xdp_ipv6" do |ctx|
  data = ctx.data
  data_end = ctx.data_end
  return XDP_PASS if data + 54 > data_end            # Ethernet + IPv6
  return XDP_PASS if cast(:ethhdr, data).h_proto != ETH_P_IPV6_BE
  ip6 = cast(:ipv6hdr, data + 14)
  return XDP_DROP if ip6.hop_limit < min_hop_limit
  nh = ip6.nexthdr
  packets[nh] += 1
  bytes[nh] += ntohs(ip6.payload_len)
  if nh == IPPROTO_TCP
    if data + 74 <= data_end
      tcp = cast(:tcphdr, data + 54)
      tcp_flags[0] += 1 if tcp.fin == 1
      tcp_flags[1] += 1 if tcp.syn == 1
      tcp_flags[2] += 1 if tcp.rst == 1
      tcp_flags[3] += 1 if tcp.ack == 1
    end
  elsif nh == IPPROTO_ICMPV6
    icmp6_types[cast(:icmp6hdr, data + 54).icmp6_type] += 1 if data + 58 <= data_end
  end
  XDP_PASS
end
