# bpftrace tutorial lesson 7 (Examples/one-liners.md) as bpftrace writes it:
# vfs_read latency by process name, kprobe + kretprobe.
# BpftraceTutorialTests checks that this is the lesson's line.
kprobe("vfs_read") { @start[tid] = ktime_ns }; kretprobe("vfs_read") { t = @start[tid]; if t > 0 then @ns[comm].hist(ktime_ns - t); @start.delete(tid) end }
