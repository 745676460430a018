# printf: the format must be a string literal.
# expect: printf_format_not_literal.rb:5:10: error: `printf` needs a format string literal first
license "GPL"
tracepoint "sched/sched_process_exec" do |ctx|
  printf(pid, 1)
end

