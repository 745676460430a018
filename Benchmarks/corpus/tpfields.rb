# Tracepoint fields from the kernel's trace_event_raw_sched_switch.
license "GPL"
map :switches, :hash, key: :u32, value: :u64, max_entries: 10240
map :preempted, :hash, key: :u32, value: :u64, max_entries: 10240

tracepoint "sched/sched_switch", name: "tpfields" do |ctx|
  switches[ctx.next_pid] += 1
  if ctx.prev_state == 0
    preempted[ctx.prev_pid] += 1
  end
  0
end
