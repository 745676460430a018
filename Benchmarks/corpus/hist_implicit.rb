# Syscall latency as implicit maps (bpftrace's hist()): start time per thread
# on entry, read, bucketed into per-CPU buckets and deleted on exit.
license "GPL"

tracepoint "raw_syscalls/sys_enter", name: "hist_enter" do |ctx|
  @start[tid] = ktime_ns
  0
end

tracepoint "raw_syscalls/sys_exit", name: "hist_exit" do |ctx|
  t = @start[tid]
  if t != 0
    @lat.hist(ktime_ns - t)
    @start.delete(tid)
  end
  0
end
