# Socket filter on an Ethernet packet socket: keeps IPv4 UDP datagrams to or
# from port (default 53, DNS), the whole packet; drops the rest. Kept
# datagrams are counted per source port (host order). IPv4 header length
# comes from the IHL nibble, so options are skipped.
license "GPL"
ETH_P_IP = 0x0800
IPPROTO_UDP = 17
param :port, :u16, default: 53

struct :Ip4 do
  u8  :vhl
  u8  :tos
  u16 :tot_len
  u32 :id_frag
  u8  :ttl
  u8  :protocol
end
struct :Ports do
  u16 :sport
  u16 :dport
end
map :by_sport, :hash, key: :u16, value: :u64, max_entries: 4096

socket_filter name: "sock_dns" do |ctx|
  return 0 if ctx.protocol != htons(ETH_P_IP)
  ip = Ip4.new
  return 0 if skb_load_bytes(ctx, 14, ip, 10) != 0
  return 0 if ip.protocol != IPPROTO_UDP
  pt = Ports.new
  return 0 if skb_load_bytes(ctx, 14 + (ip.vhl & 15) * 4, pt, 4) != 0
  sport = ntohs(pt.sport)
  return 0 unless sport == port || ntohs(pt.dport) == port
  by_sport[sport] += 1
  ctx.len
end
