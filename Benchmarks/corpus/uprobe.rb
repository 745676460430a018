# A uprobe on the benchmark workload's bench_add(a, b): the sum of its
# arguments per process. (run.sh builds the workload at this path.)
license "GPL"
map :sums, :hash, key: :u32, value: :u64, max_entries: 10240

uprobe "/tmp/infrared-bench/workload", "bench_add", name: "uprobe_add" do |ctx|
  sums[pid] += ctx.arg(0) + ctx.arg(1)
  0
end
