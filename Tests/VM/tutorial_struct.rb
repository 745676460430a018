# bpftrace tutorial lesson 12 (Examples/one-liners.md): vfs_open's struct path
# argument walked to the file's name (kprobe, cast, CO-RE).
# BpftraceTutorialTests checks that this is the lesson's line.
kprobe("vfs_open") { |ctx| printf("open path: %s\n", cast(:path, ctx.arg(0)).dentry.d_name.name) }
