# opencount.rb — the VM matrix's kprobe/kretprobe check: calls of
# do_sys_openat2 by one process, and how many of them returned -ENOENT.
#
#   opencount --target-pid PID     prints calls[0]: N, enoent[0]: M and errors[0]: E at exit
license "GPL"

param :target_pid, :u32, default: 0

map :calls, :array, key: :u32, value: :u64, max_entries: 1
map :enoent, :array, key: :u32, value: :u64, max_entries: 1
map :errors, :array, key: :u32, value: :u64, max_entries: 1


kprobe "do_sys_openat2" do |ctx|
  if pid == target_pid
    calls[0] += 1
  end
  0
end

# ctx.ret is the return register as a signed long: -2 is -ENOENT, < 0 any error.
kretprobe "do_sys_openat2" do |ctx|
  if pid == target_pid && ctx.ret == -2
    enoent[0] += 1
  end
  if pid == target_pid && ctx.ret < 0
    errors[0] += 1
  end
  0
end
