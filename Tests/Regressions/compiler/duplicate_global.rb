# Found by the front-end fuzzer (Tests/CompilerTests/FrontEndFuzzTests.swift); a diagnostic since commit 69e2078.
# expect: duplicate_global.rb:5:1: error: global :seen is declared twice
license "GPL"
global :seen, :u64, 0
global :seen, :u64, 0

tracepoint "sched/sched_process_exec" do |ctx|
  0
end
