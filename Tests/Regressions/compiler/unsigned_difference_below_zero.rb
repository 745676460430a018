# A difference of two u64s (ktime_ns and a :u64 map value) is a u64, as in
# C: `< 0` would silently never be true (a negative interval wraps).
# expect: unsigned_difference_below_zero.rb:13:23: error: this comparison is always false: the value compared with 0 is unsigned (u64), never below 0
license "GPL"
map :start, :hash, key: :u32, value: :u64, max_entries: 16
map :late, :array, value: :u64, max_entries: 1

tracepoint "raw_syscalls/sys_exit" do |ctx|
  t = start.lookup(tid)
  if t
    d = ktime_ns - t.value
    late[0] += 1 if d > 1000
    late[0] += 1 if d < 0
  end
  0
end
