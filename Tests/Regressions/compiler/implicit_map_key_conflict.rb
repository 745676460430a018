# Implicit maps: every use takes keys of the same types; the error names both lines.
# expect: implicit_map_key_conflict.rb:7:3: error: `@opens` is used with key (char[16]) here and with key (u64) at line 6
license "GPL"

tracepoint "syscalls/sys_enter_openat" do |ctx|
  @opens[pid] += 1
  @opens[comm] += 1
  0
end
