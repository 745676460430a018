# XDP: IPv4 TCP and UDP packets counted per destination port (host order)
# in an array map; packets to one blocked port are dropped. IPv4 headers
# with options are passed uncounted. b_xdp_ports.rb written with ntohs;
# c-twin: b_xdp_ports
license "GPL"
XDP_DROP = 1
XDP_PASS = 2
param :blocked_port, :u16, default: 23
map :dports, :array, value: :u64, max_entries: 65536

xdp name: "xdp_ports" do |ctx|
  data = ctx.data
  return XDP_PASS if data + 38 > ctx.data_end      # eth(14) + ip(20) + ports(4)
  eth = cast(:ethhdr, data)
  return XDP_PASS if eth.h_proto != 0x0008          # ETH_P_IP, big-endian
  ip = cast(:iphdr, data + 14)
  return XDP_PASS if ip.ihl != 5
  proto = ip.protocol
  return XDP_PASS unless proto == 6 || proto == 17  # TCP or UDP
  raw = cast(:udphdr, data + 34).dest               # same offset in tcphdr
  port = ntohs(raw)
  dports[port] += 1
  port == blocked_port ? XDP_DROP : XDP_PASS
end
