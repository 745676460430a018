# A data-dependent bounded loop: population count of a mixed pid/tgid.
license "GPL"
map :bits, :array, value: :u64, max_entries: 65

tracepoint "raw_syscalls/sys_enter", name: "loop_while" do |ctx|
  x = (get_current_pid_tgid ^ ctx.id) & 0xffffffffffff
  n = 0
  while x != 0 && n < 64
    x &= x - 1
    n += 1
  end
  bits[n] += 1
  0
end
