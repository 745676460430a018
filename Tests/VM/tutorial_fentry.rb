# bpftrace tutorial lesson 12 (Examples/one-liners.md) with fentry: vfs_open's
# BTF-typed `path` argument walked to the file's name.
# BpftraceTutorialTests checks that this is the lesson's line.
fentry("vfs_open") { |ctx| printf("open path: %s\n", ctx.path.dentry.d_name.name) }
