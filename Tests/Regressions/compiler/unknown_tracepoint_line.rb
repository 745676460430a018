# An unknown tracepoint is reported at its declaration (mruby gives the call
# and the block's first instruction the line of the block's `end`).
# expect: unknown_tracepoint_line.rb:6:1: error: no tracepoint sched/infrared_no_such_event: neither the BTF (trace_event_raw_infrared_no_such_event) nor tracefs describe it
map :counts, :hash, key: :u32, value: :u64, max_entries: 16

tracepoint "sched/infrared_no_such_event" do |ctx|
  # a comment naming tracepoint between the declaration and the body
  counts[pid] += 1
  0
end
