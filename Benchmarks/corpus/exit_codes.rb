# Process exits counted by (name, exit status), the status read from the
# task (CO-RE) as exitsnoop does; threads other than the leader skipped.
license "GPL"

tracepoint "sched/sched_process_exit", name: "exit_codes" do |ctx|
  if pid == tid
    @exits[comm, current_task.exit_code >> 8] += 1
  end
  0
end
