license "GPL"
cgroup_device do |ctx|
  printk("dev %d:%d type %d\n", ctx.major, ctx.minor, ctx.access_type)
  1
end
