# Implicit maps: `@counts` cannot name a map the file declares.
# expect: implicit_map_declared_clash.rb:7:3: error: `@counts` names an implicit map, but `counts` is declared at line 4
license "GPL"
map :counts, :hash, key: :u32, value: :u64

tracepoint "syscalls/sys_enter_openat" do |ctx|
  @counts[pid] += 1
  0
end
