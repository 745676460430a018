# CPU profile at 49 Hz on every CPU: samples counted per (pid, cpu, kernel
# stack, user stack) in a hash map, the stacks' ids from one stack map; the
# idle task is skipped, and with target_pid only that process is sampled.
# With kernel_only the user stack is not walked (-1). A kernel stack that
# could not be recorded for another reason than a sample in user mode
# (-EFAULT) is counted per CPU in stack_errors[0], a user stack in [1].
license "GPL"
USER_STACK = 1 << 8          # BPF_F_USER_STACK
EFAULT = 14
param :target_pid, :u32, default: 0
param :kernel_only, :bool, default: false

struct :Sample do
  u32 :pid
  u32 :cpu
  s32 :kstack
  s32 :ustack
end
map :stacks, :stack_trace, max_entries: 8192
map :samples, :hash, key: :Sample, value: :u64, max_entries: 16384
map :stack_errors, :percpu_array, value: :u64, max_entries: 2

perf_event :cpu_clock, frequency: 49, name: "cpu_profile" do |ctx|
  p = pid
  return 0 if p == 0
  return 0 if target_pid != 0 && p != target_pid
  k = Sample.new
  k.pid = p
  k.cpu = cpu
  kid = stacks.get_stackid(ctx, 0)
  stack_errors[0] += 1 if kid < 0 && kid != -EFAULT
  k.kstack = kid
  if kernel_only == 0
    uid_ = stacks.get_stackid(ctx, USER_STACK)
    stack_errors[1] += 1 if uid_ < 0 && uid_ != -EFAULT
    k.ustack = uid_
  else
    k.ustack = -1
  end
  samples[k] += 1
  0
end
