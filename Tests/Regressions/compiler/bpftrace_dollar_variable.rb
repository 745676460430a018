# bpftrace's $scratch variables: a Ruby global in a body, located at the name.
# expect: bpftrace_dollar_variable.rb:6:3: error: global variable `$start` is not available in a BPF program body
# expect-hint: bpftrace's $variables are Ruby locals here: `start = …`
license "GPL"
tracepoint "syscalls/sys_enter_openat" do |ctx|
  $start = ktime_ns
  0
end
