license "GPL"
socket_filter do |ctx|
  a = ctx.len * 3 + 7
  b = ctx.protocol ^ 0x55
  c = (a & 0xff) << 4
  d = a > b ? a - b : b - a
  (c | d) & 0xffff
end
