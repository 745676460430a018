# A malformed tracepoint target is reported at its declaration, at the word `tracepoint`.
# expect: tracepoint_not_category_event.rb:5:3: error: tracepoint "sched_process_exec" must be CATEGORY/EVENT
[1].each do |i|
  # declared from a loop: still its own line
  tracepoint "sched_process_exec" do |ctx|
    i
  end
end
