# Kernel timers fired, per callback function, the top 10 printed at exit:
# the program counts the function's address, `ksym` names it (/proc/kallsyms).
#   infrared run Examples/timers.rb --duration 5
license "GPL"

tracepoint "timer/timer_expire_entry" do |ctx|
  @fired[ctx.function] += 1
  0
end

# On /metrics: timers_fired{function="process_timeout"}.
metric_labels :@fired do |f| { function: ksym(f) || format("0x%x", f) } end

at_exit do
  @fired.to_h.sort_by { |f, n| [-n, f] }.first(10).each { |f, n| puts format("%-8d %s", n, ksym(f) || format("0x%x", f)) }
end
