# bpftrace's @[comm] is not Ruby: the syntax error says what to write.
# expect: bpftrace_anonymous_map.rb:6:3: error: syntax error, unexpected $undefined
# expect-hint: bpftrace's anonymous map `@[…]` needs a name in Ruby: `@counts[comm] += 1`
license "GPL"
tracepoint "syscalls/sys_enter_openat" do |ctx|
  @[comm] += 1
end
