# bpftrace tutorial lesson 6 (Examples/one-liners.md), with the pid filter the
# matrix's exact counts need: the read sizes of one process, kretprobe vfs_read.
#   tutorial_lhist --target-pid PID    prints @bytes as bpftrace's lhist at exit
# BpftraceTutorialTests checks that this is the lesson's line.
param :target_pid, :u32; kretprobe("vfs_read") { |ctx| @bytes.lhist(ctx.ret, 0, 2000, 200) if pid == target_pid }
