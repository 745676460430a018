# syscount.rb — system calls per process, the top 10 printed every second.
license "GPL"

map :counts, :hash, key: :u32, value: :u64, max_entries: 10240

raw_tracepoint "sys_enter" do |ctx|
  counts[pid] += 1
  0
end

every 1 do
  top = counts.to_h.sort_by { |_, n| -n }.first(10)
  puts "PID      SYSCALLS"
  top.each { |pid, n| puts format("%-8d %d", pid, n) }
  counts.clear
end
