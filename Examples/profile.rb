# profile.rb — a CPU sampler: kernel and user stacks 99 times a second,
# counted per process and stack pair.
license "GPL"

struct :Key do
  u32  :pid
  s32  :kernel_stack
  s32  :user_stack
  char :comm, 16
end

map :stacks, :stack_trace, max_entries: 16384
map :samples, :hash, key: :Key, value: :u64, max_entries: 16384

USER_STACK = 1 << 8                       # BPF_F_USER_STACK

perf_event :cpu_clock, frequency: 99 do |ctx|
  k = Key.new
  k.pid = pid
  k.kernel_stack = stacks.get_stackid(ctx, 0)
  k.user_stack = stacks.get_stackid(ctx, USER_STACK)
  k.comm = comm
  samples[k] += 1
  0
end
