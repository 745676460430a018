# Context switches away from each process name: the previous task's comm
# read through the BTF-typed sched_switch arguments.
license "GPL"

tp_btf("sched_switch") { |ctx| @switches[ctx.prev.comm] += 1 }
