# A uretprobe on the benchmark workload's bench_add: its return value as a
# log2 histogram, and the calls per process. (run.sh builds the workload at
# this path.)
license "GPL"
map :calls, :hash, key: :u32, value: :u64, max_entries: 10240
map :results, :hist

uretprobe "/tmp/infrared-bench/workload", "bench_add", name: "uret_add" do |ctx|
  calls[pid] += 1
  results.add(ctx.ret)
  0
end
