# TCP state transitions counted by (old state, new state), from the
# sock:inet_sock_set_state tracepoint.
license "GPL"
IPPROTO_TCP = 6

tracepoint "sock/inet_sock_set_state", name: "tcp_states" do |ctx|
  if ctx.protocol == IPPROTO_TCP
    @transitions[ctx.oldstate, ctx.newstate] += 1
  end
  0
end
