# opensnoop's entry half: each openat() of the process chosen by a param (0:
# all) as a ring buffer record with the flags and the file name.
license "GPL"
param :target_pid, :u32, default: 0

struct :Event do
  u32  :pid
  u32  :uid
  s32  :flags
  char :comm, 16
  char :filename, 128
end

map :events, :ringbuf, max_entries: 256 * 1024

tracepoint "syscalls/sys_enter_openat", name: "opensnoop_rb" do |ctx|
  return 0 if target_pid != 0 && pid != target_pid
  e = events.reserve(Event)
  if e
    e.pid = pid
    e.uid = uid
    e.flags = ctx.flags
    e.comm = comm
    e.filename = ctx.filename
    events.submit(e)
  end
  0
end
