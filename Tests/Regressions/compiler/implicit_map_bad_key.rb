# Implicit maps: keys are integers, comm, C strings or string literals (a
# String key was refused here until literal keys came; a Symbol still is).
# expect: implicit_map_bad_key.rb:7:3: error: an implicit map's key must be an Integer, `comm` or a C string, not Symbol
license "GPL"

tracepoint "syscalls/sys_enter_openat" do |ctx|
  @opens[:x] += 1
  0
end
