# Bytes read by process name (bpftrace's sum()).
license "GPL"
tracepoint("syscalls/sys_exit_read") { |ctx| @bytes[comm].sum(ctx.ret) if ctx.ret > 0 }
