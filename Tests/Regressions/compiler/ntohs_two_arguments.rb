# ntohs converts one Integer.
# expect: ntohs_two_arguments.rb:6:3: error: `ntohs` takes one Integer
# expect-hint: e.g. `ntohs(cast(:udphdr, data + 34).dest)`
license "GPL"
xdp do |ctx|
  ntohs(ctx.data, 2)
end
