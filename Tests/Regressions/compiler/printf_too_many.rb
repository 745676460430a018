# printf: more values than conversions: the error is at the first extra value.
# expect: printf_too_many.rb:5:23: error: `printf`'s format takes 1 value, given 3
license "GPL"
tracepoint "sched/sched_process_exec" do |ctx|
  printf("%d\n", pid, tid, uid)
end

