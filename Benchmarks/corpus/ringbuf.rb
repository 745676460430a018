# Ring buffer records with strings: execsnoop (comm, __data_loc filename).
license "GPL"

struct :Event do
  u32  :pid
  u32  :ppid
  u32  :uid
  char :comm, 16
  char :filename, 64
end

map :events, :ringbuf, max_entries: 256 * 1024

tracepoint "sched/sched_process_exec", name: "ringbuf" do |ctx|
  e = events.reserve(Event)
  if e
    e.pid = pid
    e.ppid = current_task.real_parent.tgid
    e.uid = uid
    e.comm = comm
    e.filename = ctx.filename
    events.submit(e)
  end
  0
end
