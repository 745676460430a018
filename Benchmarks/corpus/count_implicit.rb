# Syscalls per process as an implicit map: per-CPU, no atomic on the hot path.
license "GPL"

tracepoint "raw_syscalls/sys_enter", name: "count_implicit" do |ctx|
  @counts[pid] += 1
  0
end
