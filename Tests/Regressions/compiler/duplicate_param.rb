# Found by the front-end fuzzer (Tests/CompilerTests/FrontEndFuzzTests.swift); a diagnostic since commit 69e2078.
# expect: duplicate_param.rb:5:1: error: param :target_pid is declared twice
license "GPL"
param :target_pid, :u32, default: 0
param :target_pid, :u32, default: 1

tracepoint "sched/sched_process_exec" do |ctx|
  0
end
