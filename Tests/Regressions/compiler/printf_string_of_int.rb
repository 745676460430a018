# printf: an Integer for %s is an error at that argument.
# expect: printf_string_of_int.rb:5:28: error: `%s` takes a string (comm, ctx.filename, user_string(p)), not Integer
license "GPL"
tracepoint "sched/sched_process_exec" do |ctx|
  printf("%-6d %s\n", pid, pid)
end

