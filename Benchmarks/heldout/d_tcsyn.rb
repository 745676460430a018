# tc ingress: TCP SYNs (SYN without ACK) counted per destination port (host
# order), over IPv4 (no options) and IPv6 (TCP as the first next header),
# untagged or behind one 802.1Q tag. With vlan_id set, only packets tagged
# with that VLAN are looked at. stats: [0] TCP segments, [1] SYN-ACKs,
# [2] tagged packets. Every packet goes on (TC_ACT_OK).
license "GPL"
TC_ACT_OK = 0
ETH_P_8021Q_BE = 0x0081   # 0x8100 as it reads from the wire on x86
ETH_P_IP_BE = 0x0008
ETH_P_IPV6_BE = 0xDD86
IPPROTO_TCP = 6
param :vlan_id, :u16, default: 0
map :syn_ports, :hash, key: :u16, value: :u64, max_entries: 8192
map :stats, :array, value: :u64, max_entries: 3

def tcp_segment(data, data_end, off)
  if data + off + 20 <= data_end
    tcp = cast(:tcphdr, data + off)
    stats[0] += 1
    if tcp.syn == 1
      if tcp.ack == 0
        syn_ports[ntohs(tcp.dest)] += 1
      else
        stats[1] += 1
      end
    end
  end
  0
end

def l3(data, data_end, off, proto)
  if proto == ETH_P_IP_BE
    if data + off + 20 <= data_end
      ip = cast(:iphdr, data + off)
      tcp_segment(data, data_end, off + 20) if ip.ihl == 5 && ip.protocol == IPPROTO_TCP
    end
  elsif proto == ETH_P_IPV6_BE
    if data + off + 40 <= data_end
      tcp_segment(data, data_end, off + 40) if cast(:ipv6hdr, data + off).nexthdr == IPPROTO_TCP
    end
  end
  0
end

tc :ingress, name: "tc_syn" do |ctx|
  data = ctx.data
  data_end = ctx.data_end
  return TC_ACT_OK if data + 14 > data_end
  proto = cast(:ethhdr, data).h_proto
  if proto == ETH_P_8021Q_BE
    return TC_ACT_OK if data + 18 > data_end
    vlan = cast(:vlan_hdr, data + 14)
    return TC_ACT_OK if vlan_id != 0 && (ntohs(vlan.h_vlan_TCI) & 0xFFF) != vlan_id
    stats[2] += 1
    l3(data, data_end, 18, vlan.h_vlan_encapsulated_proto)
  elsif vlan_id == 0
    l3(data, data_end, 14, proto)
  end
  TC_ACT_OK
end
