# exitsnoop.rb — process exits with exit code and lifetime.
license "GPL"

struct :Event do
  u32  :pid
  u32  :ppid
  s32  :exit_code
  u64  :lifetime_ns
  char :comm, 16
end

map :events, :ringbuf, max_entries: 256 * 1024

tracepoint "sched/sched_process_exit" do |ctx|
  task = current_task
  if pid == tid                               # the whole process, not one of its threads
    e = events.reserve(Event)
    e.pid = pid
    e.ppid = task.real_parent.tgid
    e.exit_code = task.exit_code >> 8
    e.lifetime_ns = ktime_ns - task.start_time
    e.comm = comm
    events.submit(e)
  end
  0
end

on_event :events do |e|
  puts format("%-16s %-7d %-7d %4d %8.3fs", e.comm, e.pid, e.ppid, e.exit_code, e.lifetime_ns / 1e9)
end
