# First system call of each thread: an LRU hash keeps the first timestamp
# (insert only when absent, BPF_NOEXIST), and a count of new threads.
license "GPL"
BPF_NOEXIST = 1
map :first_seen, :lru_hash, key: :u32, value: :u64, max_entries: 4096
map :new_threads, :array, value: :u64, max_entries: 1

tracepoint "raw_syscalls/sys_enter", name: "lru_first" do |ctx|
  if first_seen.update(tid, ktime_ns, BPF_NOEXIST) == 0
    new_threads[0] += 1
  end
  0
end
