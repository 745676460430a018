# A u32 field is never below 0: `< 0` would silently never be true.
# expect: unsigned_below_zero.rb:12:25: error: this comparison is always false: the value compared with 0 is unsigned (u32), never below 0
license "GPL"
struct :Rec do
  u32 :n
end
map :counts, :array, value: :u64, max_entries: 1

tracepoint "syscalls/sys_enter_getppid" do |ctx|
  r = Rec.new
  r.n = pid
  counts[0] += 1 if r.n < 0
  0
end
