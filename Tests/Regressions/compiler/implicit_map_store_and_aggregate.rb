# Implicit maps: a map is either stored (`=`) or aggregated, across programs too.
# expect: implicit_map_store_and_aggregate.rb:10:3: error: `@seen` is written with `=` here and with `+=`/count/sum at line 6
license "GPL"

tracepoint "syscalls/sys_enter_openat" do |ctx|
  @seen[pid] += 1
  0
end
tracepoint "syscalls/sys_enter_close" do |ctx|
  @seen[pid] = 5
  0
end
