# TCP state changes of IPv4 sockets from sock:inet_sock_set_state: a ring
# buffer record per change with the addresses (read from the socket through
# CO-RE: sk->__sk_common.skc_rcv_saddr / skc_daddr), the ports, both states
# and the microseconds the socket spent in the old state (0 when its previous
# change was not seen). The last change's time is kept per socket and
# forgotten at TCP_CLOSE. With port set, only sockets with that local or
# remote port are traced.
license "GPL"
IPPROTO_TCP = 6
AF_INET = 2
TCP_CLOSE = 7
param :port, :u16, default: 0

struct :Change do
  u64  :skaddr
  u64  :delta_us
  u32  :pid
  u32  :saddr
  u32  :daddr
  u16  :sport
  u16  :dport
  s32  :oldstate
  s32  :newstate
  char :comm, 16
end
map :last_change, :hash, key: :u64, value: :u64, max_entries: 10240
map :changes, :ringbuf, max_entries: 256 * 1024

tracepoint "sock/inet_sock_set_state", name: "tcp_state" do |ctx|
  return 0 if ctx.protocol != IPPROTO_TCP || ctx.family != AF_INET
  return 0 unless port == 0 || ctx.sport == port || ctx.dport == port
  skaddr = ctx.skaddr
  now = ktime_ns
  t = last_change.lookup(skaddr)
  delta = t ? (now - t.value) / 1000 : 0
  newstate = ctx.newstate
  if newstate == TCP_CLOSE
    last_change.delete(skaddr)
  else
    last_change[skaddr] = now
  end
  e = changes.reserve(Change)
  return 0 unless e
  sk = cast(:sock, skaddr)
  e.skaddr = skaddr
  e.delta_us = delta
  e.pid = pid
  e.saddr = sk.__sk_common.skc_rcv_saddr
  e.daddr = sk.__sk_common.skc_daddr
  e.sport = ctx.sport
  e.dport = ctx.dport
  e.oldstate = ctx.oldstate
  e.newstate = newstate
  e.comm = comm
  changes.submit(e)
  0
end
