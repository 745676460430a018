# tcpconnect: an active open (a socket going to SYN_SENT) as a ring buffer
# record with the process, family and ports.
license "GPL"
IPPROTO_TCP = 6
TCP_SYN_SENT = 2

struct :Event do
  u32  :pid
  u32  :uid
  u16  :family
  u16  :sport
  u16  :dport
  char :comm, 16
end

map :events, :ringbuf, max_entries: 256 * 1024

tracepoint "sock/inet_sock_set_state", name: "tcpconnect" do |ctx|
  if ctx.protocol == IPPROTO_TCP && ctx.newstate == TCP_SYN_SENT
    e = events.reserve(Event)
    if e
      e.pid = pid
      e.uid = uid
      e.family = ctx.family
      e.sport = ctx.sport
      e.dport = ctx.dport
      e.comm = comm
      events.submit(e)
    end
  end
  0
end
