# Forks per parent process (sched_process_fork's parent_pid, threads
# included), and pidpersec's running total of new tasks in a global.
license "GPL"
global :total, :u64
map :forks, :hash, key: :u32, value: :u64, max_entries: 10240

tracepoint "sched/sched_process_fork", name: "forks_by_parent" do |ctx|
  forks[ctx.parent_pid] += 1
  total += 1
  0
end
