# XDP: IPv4 packets counted by IP protocol, parsed with direct packet access
# (bounds checked against data_end); everything passes.
license "GPL"
XDP_PASS = 2
map :protos, :array, value: :u64, max_entries: 256

xdp name: "xdp_proto" do |ctx|
  data = ctx.data
  data_end = ctx.data_end
  return XDP_PASS if data + 34 > data_end
  eth = cast(:ethhdr, data)
  return XDP_PASS if eth.h_proto != 0x0008        # ETH_P_IP, big-endian
  ip = cast(:iphdr, data + 14)
  protos[ip.protocol] += 1
  XDP_PASS
end
