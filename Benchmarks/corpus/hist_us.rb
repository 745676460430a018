# Syscall latency in microseconds as a log2 histogram (runqlat's and
# biolatency's `(now - start) / 1000`): a u64 difference divided unsigned.
license "GPL"
map :start, :hash, key: :u32, value: :u64, max_entries: 10240
map :usecs, :hist

tracepoint "raw_syscalls/sys_enter", name: "hist_us_enter" do |ctx|
  start[tid] = ktime_ns
  0
end

tracepoint "raw_syscalls/sys_exit", name: "hist_us_exit" do |ctx|
  t = start.lookup(tid)
  if t
    usecs.add((ktime_ns - t.value) / 1000)
    start.delete(tid)
  end
  0
end
