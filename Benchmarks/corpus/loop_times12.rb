# A short counted loop (12.times): mix the syscall number 12 times and
# count the 64 buckets of the result. Unrolled: the verifier would walk
# all twelve trips of the rolled loop anyway.
license "GPL"
map :buckets, :array, value: :u64, max_entries: 64

tracepoint "raw_syscalls/sys_enter", name: "loop_times12" do |ctx|
  h = ctx.id
  12.times do |i|
    h = ((h ^ (h >> 7)) * 31 + i) & 0xffffffff
  end
  buckets[h & 63] += 1
  0
end
