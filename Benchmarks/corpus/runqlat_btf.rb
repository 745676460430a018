# runqlat as libbpf-tools writes it: BTF-typed tracepoints; a task's wakeup
# time (or the time it was preempted while runnable), and on the switch to
# it the run queue delay in microseconds, log2 histogram.
license "GPL"
TASK_RUNNING = 0
map :start, :hash, key: :u32, value: :u64, max_entries: 10240
map :usecs, :hist

tp_btf "sched_wakeup", name: "runqlat_wakeup" do |ctx|
  start[ctx.p.pid] = ktime_ns
  0
end

tp_btf "sched_switch", name: "runqlat_switch" do |ctx|
  if ctx.prev.__state == TASK_RUNNING
    start[ctx.prev.pid] = ktime_ns
  end
  t = start.lookup(ctx.next.pid)
  if t
    usecs.add((ktime_ns - t.value) / 1000)
    start.delete(ctx.next.pid)
  end
  0
end
