# printf: a conversion puts/printf do not know.
# expect: printf_unknown_conversion.rb:5:10: error: printf format: `%f` is not a conversion puts/printf know (they know %d %i %u %x %X %s %c %%, with `-`, `0`, a width and a `.precision`)
license "GPL"
tracepoint "sched/sched_process_exec" do |ctx|
  printf("%f\n", pid)
end

