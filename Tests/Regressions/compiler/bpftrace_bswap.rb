# bpftrace's bswap is ntohs or ntohl here.
# expect: bpftrace_bswap.rb:6:3: error: undefined method `bswap` in a BPF program body
# expect-hint: bpftrace's bswap(x) is `ntohs(x)` (16 bits) or `ntohl(x)` (32 bits) here
license "GPL"
xdp do |ctx|
  bswap(ctx.data)
end
