# Implicit maps: a per-CPU (aggregated) map cannot be read back in a body.
# expect: implicit_map_read_aggregated.rb:7:3: error: `@n` is read here but aggregated (`+=`/count/sum) at line 6: a body sees only one CPU's share
license "GPL"

tracepoint "syscalls/sys_enter_openat" do |ctx|
  @n[pid].count
  printk("%d", @n[pid])
  0
end
