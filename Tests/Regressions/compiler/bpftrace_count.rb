# bpftrace's count() in a body.
# expect: bpftrace_count.rb:6:18: error: undefined method `count` in a BPF program body
# expect-hint: bpftrace's count() is an aggregation on a named map here: `@calls[comm] += 1` (or `@calls[comm].count`)
license "GPL"
tracepoint "syscalls/sys_enter_openat" do |ctx|
  @opens[comm] = count()
  0
end
