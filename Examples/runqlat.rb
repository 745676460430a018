# runqlat.rb — scheduler run-queue latency (wakeup to running), as a log2
# histogram in microseconds.
license "GPL"

map :start, :hash, key: :u32, value: :u64, max_entries: 10240
map :usecs, :hist

tracepoint "sched/sched_wakeup" do |ctx|
  start[ctx.pid] = ktime_ns
  0
end

tracepoint "sched/sched_switch" do |ctx|
  t = start.lookup(ctx.next_pid)
  if t
    usecs.add((ktime_ns - t.value) / 1000)
    start.delete(ctx.next_pid)
  end
  0
end

at_exit do
  usecs.print
end
