# Syscalls per process: a hash map keyed by pid, one atomic add per event.
license "GPL"
map :counts, :hash, key: :u32, value: :u64, max_entries: 10240

tracepoint "raw_syscalls/sys_enter", name: "count_pid" do |ctx|
  counts[pid] += 1
  0
end
