# killsnoop: each signal sent, as a ring buffer record (sender pid and name,
# target pid, signal, result); --target-sig N keeps one signal only.
license "GPL"
param :target_sig, :s32, default: 0

struct :Event do
  u32  :pid
  s32  :tpid
  s32  :sig
  s32  :ret
  char :comm, 16
end
map :events, :ringbuf, max_entries: 256 * 1024

tracepoint "signal/signal_generate", name: "killsnoop" do |ctx|
  return 0 if target_sig != 0 && ctx.sig != target_sig
  e = events.reserve(Event)
  if e
    e.pid = pid
    e.tpid = ctx.pid
    e.sig = ctx.sig
    e.ret = ctx.result
    e.comm = comm
    events.submit(e)
  end
  0
end
