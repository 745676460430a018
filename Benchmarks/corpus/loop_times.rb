# A counted loop (N.times): mix the syscall number 32 times, count the
# 64 buckets of the result in an array map.
license "GPL"
map :buckets, :array, value: :u64, max_entries: 64

tracepoint "raw_syscalls/sys_enter", name: "loop_times" do |ctx|
  h = ctx.id
  32.times do |i|
    h = ((h ^ (h >> 7)) * 31 + i) & 0xffffffff
  end
  buckets[h & 63] += 1
  0
end
