# printf: a string value for %d is an error at that argument.
# expect: printf_int_of_string.rb:5:21: error: `%d` takes an Integer, not `comm`
license "GPL"
tracepoint "sched/sched_process_exec" do |ctx|
  printf("%d %s\n", comm, ctx.filename)
end

