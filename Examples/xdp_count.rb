# xdp_count.rb — packets per IP protocol seen by XDP on an interface
# (read with bpf_xdp_load_bytes; 0xffff counts frames that are not IPv4).
license "GPL"

struct :EtherType do
  u8 :hi
  u8 :lo
end

struct :Proto do
  u8 :value
end

map :packets, :hash, key: :u32, value: :u64, max_entries: 256

XDP_PASS = 2

xdp do |ctx|
  t = EtherType.new
  pr = Proto.new
  if xdp_load_bytes(ctx, 12, t, 2) == 0 && t.hi == 0x08 && t.lo == 0x00 && xdp_load_bytes(ctx, 23, pr, 1) == 0
    packets[pr.value] += 1
  else
    packets[0xffff] += 1
  end
  XDP_PASS
end
