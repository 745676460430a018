# Off-CPU time per process from sched_switch's raw arguments (preempt,
# prev, next, prev_state): the time a thread leaves the CPU is kept per
# thread id; when it is switched back in, the microseconds it was away are
# added to its process's total (intervals shorter than min_us are ignored).
license "GPL"
param :min_us, :u64, default: 1
map :start, :hash, key: :u32, value: :u64, max_entries: 10240
map :offcpu_us, :hash, key: :u32, value: :u64, max_entries: 10240

raw_tracepoint "sched_switch", name: "offcpu" do |ctx|
  prev = cast(:task_struct, ctx.arg(1))
  nxt = cast(:task_struct, ctx.arg(2))
  now = ktime_ns
  prev_tid = prev.pid
  start[prev_tid] = now if prev_tid != 0     # not the idle task
  next_tid = nxt.pid
  t = start.lookup(next_tid)
  if t
    delta = (now - t.value) / 1000
    offcpu_us[nxt.tgid] += delta if delta >= min_us
    start.delete(next_tid)
  end
  0
end
