# CO-RE pointer chain: execs counted per parent process.
license "GPL"
map :counts, :hash, key: :u32, value: :u64, max_entries: 10240

tracepoint "sched/sched_process_exec", name: "core_chain" do |ctx|
  counts[current_task.real_parent.tgid] += 1
  0
end
