# How long nanosleep(2) really sleeps: start time per thread on entry, the
# difference in microseconds as a log2 histogram on exit.
license "GPL"
map :start, :hash, key: :u32, value: :u64, max_entries: 10240
map :usecs, :hist

tracepoint "syscalls/sys_enter_nanosleep", name: "nanosleep_enter" do |ctx|
  start[tid] = ktime_ns
  0
end

tracepoint "syscalls/sys_exit_nanosleep", name: "nanosleep_exit" do |ctx|
  t = start.lookup(tid)
  if t
    usecs.add((ktime_ns - t.value) / 1000)
    start.delete(tid)
  end
  0
end
