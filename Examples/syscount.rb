# syscount.rb — system calls per process and per system call, the top 10 of
# each printed every second (system calls by name: `syscall_name`).
license "GPL"

map :counts, :hash, key: :u32, value: :u64, max_entries: 10240
map :syscalls, :hash, key: :u64, value: :u64, max_entries: 1024

raw_tracepoint "sys_enter" do |ctx|
  counts[pid] += 1
  syscalls[ctx.arg(1)] += 1               # sys_enter(regs, id)
  0
end

# On /metrics (--metrics HOST:PORT): syscount_syscalls{syscall="getpid"}.
metric_labels :syscalls do |id| { syscall: syscall_name(id) || "syscall_#{id}" } end

every 1 do
  top = counts.to_h.sort_by { |_, n| -n }.first(10)
  puts "PID      SYSCALLS"
  top.each { |pid, n| puts format("%-8d %d", pid, n) }
  puts "SYSCALL          COUNT"
  syscalls.to_h.sort_by { |_, n| -n }.first(10).each { |id, n| puts format("%-16s %d", syscall_name(id) || "syscall_#{id}", n) }
  counts.clear
  syscalls.clear
end
