# How deep in the process tree execs happen: walk real_parent (CO-RE) up to
# init, at most 16 steps, linear histogram of the depth.
license "GPL"

tracepoint "sched/sched_process_exec", name: "exec_depth" do |ctx|
  t = current_task
  depth = 0
  16.times do
    break if t.pid <= 1
    t = t.real_parent
    depth += 1
  end
  @depth.lhist(depth, 0, 16, 1)
  0
end
