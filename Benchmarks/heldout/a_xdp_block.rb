# XDP blocklist: drop IPv4 packets whose source address user space put in
# `blocked`, counting the drops per source address.
license "GPL"
map :blocked, :hash, key: :u32, value: :u8, max_entries: 1024
map :drops, :hash, key: :u32, value: :u64, max_entries: 1024

xdp name: "xdp_block" do |ctx|
  data = ctx.data
  return 2 if data + 34 > ctx.data_end          # Ethernet + IPv4 headers
  return 2 if cast(:ethhdr, data).h_proto != 0x0008   # ETH_P_IP, big-endian
  saddr = cast(:iphdr, data + 14).saddr
  return 2 unless blocked.lookup(saddr)
  drops[saddr] += 1
  1                                              # XDP_DROP
end
