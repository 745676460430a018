# Implicit maps: keys are integers, comm or C strings.
# expect: implicit_map_bad_key.rb:6:3: error: an implicit map's key must be an Integer, `comm` or a C string, not String
license "GPL"

tracepoint "syscalls/sys_enter_openat" do |ctx|
  @opens["x"] += 1
  0
end
