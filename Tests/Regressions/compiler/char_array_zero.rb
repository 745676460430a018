# Found by the front-end fuzzer (Tests/CompilerTests/FrontEndFuzzTests.swift); a diagnostic since commit fe73191.
# expect: char_array_zero.rb:6:1: error: the length of char array field :comm of struct Event must be 1…65535, not 0
license "GPL"
struct :Event do
  u32 :pid
  char :comm, 0
end

tracepoint "sched/sched_process_exec" do |ctx|
  0
end
