# Arithmetic-heavy socket filter: a 16-round mix of skb fields with
# multiplication, shifts, modulo and division by constants.
license "GPL"

socket_filter name: "sockarith" do |ctx|
  a = ctx.len
  b = ctx.protocol
  c = ctx.ifindex
  s = 0
  16.times do |i|
    s = ((s * 33) ^ ((a >> (i & 7)) + b + i)) & 0xffffffffff
    a = (a * 7 + c) % 65521
  end
  d = s / 1000 + s % 977
  r = d > 5000 ? d - 5000 : 5000 - d
  r & 0xffff
end
