# printf: fewer values than conversions.
# expect: printf_too_few.rb:5:10: error: `printf`'s format takes 2 values, given 1
license "GPL"
tracepoint "sched/sched_process_exec" do |ctx|
  printf("%d %d\n", pid)
end

