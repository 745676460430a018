# Bytes returned by read(), per process name: count, sum and average
# (bpftrace's stats()), and the largest read (max()).
license "GPL"

tracepoint "syscalls/sys_exit_read", name: "read_stats" do |ctx|
  if ctx.ret >= 0
    @bytes[comm].stats(ctx.ret)
    @largest[comm].max(ctx.ret)
  end
  0
end
