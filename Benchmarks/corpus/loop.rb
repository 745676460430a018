license "GPL"
xdp name: "xdp_prog" do |ctx|
  sum = 0
  i = 0
  while i < 16
    sum += i * ctx.ingress_ifindex
    i += 1
  end
  sum & 3
end
