# Context switches per process with a raw tracepoint: sched_switch's raw
# arguments are (preempt, prev, next, prev_state); the task pointers are
# read through CO-RE.
license "GPL"
map :oncpu, :hash, key: :u32, value: :u64, max_entries: 10240

raw_tracepoint "sched_switch", name: "rawtp_switch" do |ctx|
  nxt = cast(:task_struct, ctx.arg(2))
  oncpu[nxt.tgid] += 1
  0
end
