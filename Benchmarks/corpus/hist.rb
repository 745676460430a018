# Syscall latency as a log2 histogram: start time per thread on entry,
# looked up, bucketed and deleted on exit.
license "GPL"
map :start, :hash, key: :u32, value: :u64, max_entries: 10240
map :lat, :hist

tracepoint "raw_syscalls/sys_enter", name: "hist_enter" do |ctx|
  start[tid] = ktime_ns
  0
end

tracepoint "raw_syscalls/sys_exit", name: "hist_exit" do |ctx|
  t = start.lookup(tid)
  if t
    lat.add(ktime_ns - t.value)
    start.delete(tid)
  end
  0
end
