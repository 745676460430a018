# A USDT probe (bench:tick, two 8-byte register arguments) of the benchmark
# workload: arg1 summed into 16 buckets chosen by arg0.
license "GPL"
map :sums, :hash, key: :u32, value: :u64, max_entries: 16

usdt "/tmp/infrared-bench/workload", "bench", "tick", name: "usdt_tick" do |ctx|
  sums[ctx.arg(0) & 15] += ctx.arg(1)
  0
end
