# Polling a map value: another CPU may change it, but the verifier sees the
# same state at every turn, so the loop cannot be shown to end.
# expect: loop_polls_map_value.rb:6:3: error: this loop may never end: its exit condition reads nothing the loop changes from one iteration to the next
tracepoint "syscalls/sys_enter_getpid" do |ctx|
  spins = 0
  while @flag[0] == 0
    spins += 1
  end
  @spins[0] = spins
  0
end
