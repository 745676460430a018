# execsnoop.rb — every exec on the machine: pid, ppid, uid, comm, filename.
#
#   infrared run Examples/execsnoop.rb [--target-uid UID]
#   infrared gen loader Examples/execsnoop.rb -o execsnoop && ./execsnoop --format json
license "GPL"

param :target_uid, :s64, default: -1      # -1: every user

struct :Event do
  u32  :pid
  u32  :ppid
  u32  :uid
  char :comm, 16
  char :filename, 128
end

map :events, :ringbuf, max_entries: 256 * 1024

tracepoint "sched/sched_process_exec" do |ctx|
  if target_uid < 0 || uid == target_uid
    e = events.reserve(Event)
    e.pid = pid
    e.ppid = current_task.real_parent.tgid   # CO-RE read
    e.uid = uid
    e.comm = comm
    e.filename = ctx.filename                 # __data_loc string of the tracepoint
    events.submit(e)
  end
  0
end

on_event :events do |e|
  puts format("%-7d %-7d %-6d %-16s %s", e.pid, e.ppid, e.uid, e.comm, e.filename)
end
