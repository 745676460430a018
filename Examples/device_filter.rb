# device_filter.rb — the seed demo, in the form of the original Ruby-to-BPF
# compiler: a cgroup device program that denies /dev/urandom (char 1:9) to
# every process of the cgroup it is attached to, and allows everything else.
#
#   infrared build Examples/device_filter.rb
#   bpftool prog load Examples/device_filter.bpf.o /sys/fs/bpf/devfilter type cgroup/dev
#   bpftool cgroup attach /sys/fs/cgroup/unified/mygroup device pinned /sys/fs/bpf/devfilter
license! "GPL"
section! "cgroup/dev"

class Context
  attr :access_type, :u32
  attr :major, :u32
  attr :minor, :u32
end

def check(ctx)
  if ctx.major == 1 && ctx.minor == 9
    return 0
  else
    return 1
  end
end
