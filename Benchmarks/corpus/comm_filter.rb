# System calls of one program only, by number: a string compare on comm.
license "GPL"

tracepoint "raw_syscalls/sys_enter", name: "comm_filter" do |ctx|
  @calls[ctx.id] += 1 if comm == "workload"
  0
end
