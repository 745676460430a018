# Found by the front-end fuzzer (Tests/CompilerTests/FrontEndFuzzTests.swift); a diagnostic since commit 69e2078.
# expect: map_flags_negative.rb:4:1: error: flags of map :counts must fit in 32 bits, not -1
license "GPL"
map :counts, :hash, key: :u32, value: :u64, max_entries: 16, flags: -1

tracepoint "sched/sched_process_exec" do |ctx|
  0
end
