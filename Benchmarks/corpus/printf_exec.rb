# bpftrace's first one-liner shape: a printf line per exec (pid, parent,
# name, file), formatted by the loader from an implicit ring buffer.
license "GPL"

tracepoint "sched/sched_process_exec", name: "printf_exec" do |ctx|
  printf("%-7d %-7d %-16s %s\n", pid, current_task.real_parent.tgid, comm, ctx.filename)
  0
end
