# runqlen: sample the CFS run queue length of the CPU at 99 Hz, through the
# current task's sched entity (CO-RE; cfs_rq.nr_queued, nr_running before
# 6.14), as a linear histogram.
license "GPL"

perf_event :cpu_clock, frequency: 99, name: "runqlen_sample" do |ctx|
  len = current_task.se.cfs_rq.nr_queued
  @runqlen.lhist(len, 0, 32, 1)
  0
end
