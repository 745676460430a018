# Filtering with params (.rodata, constant to the verifier): one syscall
# number, optionally one process; counted per thread.
license "GPL"
param :target_pid, :u32, default: 0     # 0: every process
param :target_nr, :s64, default: 39     # getpid on x86-64
map :counts, :hash, key: :u32, value: :u64, max_entries: 10240

tracepoint "raw_syscalls/sys_enter", name: "filter_param" do |ctx|
  if (target_pid == 0 || pid == target_pid) && ctx.id == target_nr
    counts[tid] += 1
  end
  0
end
