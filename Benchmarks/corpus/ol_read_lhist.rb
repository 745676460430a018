# read() sizes asked for, as a linear histogram (bpftrace's lhist()).
license "GPL"
tracepoint("syscalls/sys_enter_read") { |ctx| @sizes.lhist(ctx.count, 0, 1000, 100) }
