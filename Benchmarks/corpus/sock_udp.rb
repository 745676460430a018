# A socket filter that keeps only UDP packets (first 96 bytes), with the
# IP protocol read by load_bytes; statistics per verdict in a global.
license "GPL"
global :kept, :u64
global :dropped, :u64

struct :Byte do
  u8 :v
end

socket_filter name: "sock_udp" do |ctx|
  b = Byte.new
  if skb_load_bytes(ctx, 23, b, 1) == 0 && b.v == 17
    kept += 1
    ctx.len < 96 ? ctx.len : 96
  else
    dropped += 1
    0
  end
end
