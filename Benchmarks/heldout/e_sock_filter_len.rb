# Socket filter: IPv4 packets are classified by length (ctx.len) into five
# size classes (an if/elsif chain) and counted per (protocol, size class)
# in an array: TCP, UDP, other IPv4. Their lengths also go into a log2 hist
# map. Non-IPv4 packets are counted in a global and dropped, and so are
# non-first IPv4 fragments. The rest is kept, truncated to snap_len bytes
# when snap_len is non-zero (0: the whole packet).
license "GPL"
ETH_P_IP = 0x0800
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IP_OFFSET = 0x1fff          # fragment offset bits of frag_off
NCLASSES = 5
param :snap_len, :u32, default: 0

struct :Ipv4 do             # the first 12 bytes of struct iphdr
  u8  :ver_ihl
  u8  :tos
  u16 :tot_len
  u16 :id
  u16 :frag_off
  u8  :ttl
  u8  :protocol
  u16 :check
end
map :by_class, :array, value: :u64, max_entries: 3 * NCLASSES
map :sizes, :hist
global :non_ip, :u64

socket_filter name: "sock_len" do |ctx|
  if ctx.protocol != htons(ETH_P_IP)
    non_ip += 1
    return 0
  end
  ip = Ipv4.new
  return 0 if skb_load_bytes(ctx, 14, ip, 12) != 0
  return 0 if (ntohs(ip.frag_off) & IP_OFFSET) != 0
  len = ctx.len
  size = if len < 128 then 0
         elsif len < 512 then 1
         elsif len < 1024 then 2
         elsif len <= 1514 then 3
         else 4
         end
  proto = case ip.protocol
          when IPPROTO_TCP then 0
          when IPPROTO_UDP then 1
          else 2
          end
  by_class[proto * NCLASSES + size] += 1
  sizes.add(len)
  snap_len != 0 && len > snap_len ? snap_len : len
end
