# syscount -e: failed system calls counted by syscall number (raw_syscalls'
# sys_exit, whose ret is the negative errno).
license "GPL"

tracepoint "raw_syscalls/sys_exit", name: "syscount_err" do |ctx|
  @errors[ctx.id] += 1 if ctx.ret < 0
  0
end
