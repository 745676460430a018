# exit takes no arguments in a body.
# expect: exit_with_argument.rb:5:8: error: `exit` in a BPF program body takes no arguments
license "GPL"
tracepoint "sched/sched_process_exec" do |ctx|
  exit 1
end

