# bpftrace's interval probe at the top level.
# expect: bpftrace_interval.rb:9:1: error: the top level raised: undefined method 'interval' (NoMethodError)
# expect-hint: bpftrace's interval probe is a hook here: `every 1 do … end` runs in user space each second
license "GPL"
tracepoint "syscalls/sys_enter_openat" do |ctx|
  @opens[comm] += 1
  0
end
interval(1) { puts "tick" }
