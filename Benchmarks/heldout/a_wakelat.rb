# Wakeup-to-run latency from the classic sched tracepoints: when a task is
# woken, note the time under its pid; when a CPU switches to it, the delay
# in microseconds goes to a log2 histogram.
license "GPL"
map :wakeup_ts, :hash, key: :u32, value: :u64, max_entries: 10240
map :usecs, :hist

tracepoint "sched/sched_wakeup", name: "on_wakeup" do |ctx|
  wakeup_ts[ctx.pid] = ktime_ns
  0
end

tracepoint "sched/sched_switch", name: "on_switch" do |ctx|
  next_pid = ctx.next_pid
  t = wakeup_ts.lookup(next_pid)
  if t
    usecs.add((ktime_ns - t.value) / 1000)
    wakeup_ts.delete(next_pid)
  end
  0
end
