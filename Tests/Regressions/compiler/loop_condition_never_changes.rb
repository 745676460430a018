# `x` is read by the loop's test but never assigned in its body: the verifier
# would walk the loop until "the sequence of 8193 jumps is too complex".
# expect: loop_condition_never_changes.rb:7:3: error: this loop may never end: its exit condition reads nothing the loop changes from one iteration to the next
xdp do |ctx|
  x = ctx.ingress_ifindex
  n = 0
  while x < 10
    n += 1
  end
  n
end
