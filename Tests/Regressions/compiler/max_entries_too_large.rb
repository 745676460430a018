# Found by the front-end fuzzer (Tests/CompilerTests/FrontEndFuzzTests.swift); a diagnostic since commit 69e2078.
# expect: max_entries_too_large.rb:4:1: error: max_entries of map :counts must be 1…4294967295, not 4294967296
license "GPL"
map :counts, :hash, key: :u32, value: :u64, max_entries: 1 << 32

tracepoint "sched/sched_process_exec" do |ctx|
  0
end
