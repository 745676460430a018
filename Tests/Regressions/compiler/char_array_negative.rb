# Found by the front-end fuzzer (Tests/CompilerTests/FrontEndFuzzTests.swift); a diagnostic since commit fe73191.
# expect: char_array_negative.rb:5:1: error: the length of char array field :comm of struct Event must be 1…65535, not -16
license "GPL"
struct :Event do
  char :comm, -16
end

tracepoint "sched/sched_process_exec" do |ctx|
  0
end
