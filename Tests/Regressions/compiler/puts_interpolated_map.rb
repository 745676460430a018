# puts: a value that cannot be printed, interpolated.
# expect: puts_interpolated_map.rb:6:26: error: `#{…}` of map `counts` cannot be printed from a BPF program
license "GPL"
map :counts, :hash, key: :u32, value: :u64
tracepoint "sched/sched_process_exec" do |ctx|
  puts "pid #{pid} map #{counts}"
end

