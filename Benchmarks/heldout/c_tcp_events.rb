# TCP lifecycle events from sock:inet_sock_set_state: the new state
# (s32) sorted with case/when into kinds, counted per kind; a ring buffer
# record (socket address u64, ports and family u16, states s32) for each
# connection that becomes established or closed; --port N keeps
# connections with that local or remote port.
license "GPL"
IPPROTO_TCP = 6
param :port, :u16, default: 0

struct :TcpEvent do
  u64 :skaddr
  u64 :ts
  u32 :pid
  s32 :oldstate
  s32 :newstate
  u16 :sport
  u16 :dport
  u16 :family
  u8  :kind
end
map :events, :ringbuf, max_entries: 256 * 1024

tracepoint "sock/inet_sock_set_state", name: "tcp_events" do |ctx|
  return 0 if ctx.protocol != IPPROTO_TCP
  return 0 if port != 0 && ctx.sport != port && ctx.dport != port
  kind = case ctx.newstate
         when 1 then 1                    # ESTABLISHED
         when 2, 3, 12 then 2             # SYN_SENT, SYN_RECV, NEW_SYN_RECV
         when 4, 5, 6, 8, 9, 11 then 3    # FIN_WAIT1/2, TIME_WAIT, CLOSE_WAIT, LAST_ACK, CLOSING
         when 7 then 4                    # CLOSE
         else 0
         end
  @kinds[kind].count
  return 0 if kind != 1 && kind != 4
  e = events.reserve(TcpEvent)
  if e
    e.skaddr = ctx.skaddr
    e.ts = ktime_ns
    e.pid = pid
    e.oldstate = ctx.oldstate
    e.newstate = ctx.newstate
    e.sport = ctx.sport
    e.dport = ctx.dport
    e.family = ctx.family
    e.kind = kind
    events.submit(e)
  end
  0
end
