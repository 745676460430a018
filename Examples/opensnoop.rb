# opensnoop.rb — openat() calls with filename, flags and return value: the
# enter and exit tracepoints are joined through a map keyed by thread id.
license "GPL"

param :target_pid, :u32, default: 0       # 0: every process

struct :Pending do
  u64  :flags
  char :filename, 128
end

struct :Event do
  u32  :pid
  s32  :ret
  u64  :flags
  char :comm, 16
  char :filename, 128
end

map :pending, :hash, key: :u32, value: :Pending, max_entries: 10240
map :events, :ringbuf, max_entries: 256 * 1024

tracepoint "syscalls/sys_enter_openat" do |ctx|
  if target_pid == 0 || pid == target_pid
    p = Pending.new
    p.flags = ctx.flags
    p.filename = ctx.filename                 # a user pointer: read with probe_read_user_str
    pending[tid] = p
  end
  0
end

tracepoint "syscalls/sys_exit_openat" do |ctx|
  p = pending.lookup(tid)
  if p
    e = events.reserve(Event)
    e.pid = pid
    e.ret = ctx.ret
    e.flags = p.flags
    e.comm = comm
    e.filename = p.filename
    events.submit(e)
    pending.delete(tid)
  end
  0
end

on_event :events do |e|
  puts format("%-7d %-16s %4d 0x%05x %s", e.pid, e.comm, e.ret, e.flags, e.filename)
end
