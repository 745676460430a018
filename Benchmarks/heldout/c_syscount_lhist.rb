# Syscall latency: per-thread entry time in an implicit hash; on exit, a
# count per syscall id and a per-comm linear histogram of microseconds.
# --target-pid N keeps one process only.
license "GPL"
param :target_pid, :u32, default: 0

tracepoint "raw_syscalls/sys_enter", name: "sc_enter" do |ctx|
  return 0 if target_pid != 0 && pid != target_pid
  @start[tid] = ktime_ns
  0
end

tracepoint "raw_syscalls/sys_exit", name: "sc_exit" do |ctx|
  t = @start.lookup(tid)
  if t
    us = (ktime_ns - t.value) / 1000
    @calls[ctx.id].count
    @lat[comm].lhist(us, 0, 1000, 50)
    @start.delete(tid)
  end
  0
end
