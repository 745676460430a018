# String keys: openat() calls counted per (comm, filename); the filename is
# a user pointer of the syscall tracepoint.
license "GPL"

struct :Key do
  char :comm, 16
  char :filename, 64
end

map :counts, :hash, key: :Key, value: :u64, max_entries: 10240

tracepoint "syscalls/sys_enter_openat", name: "strings" do |ctx|
  k = Key.new
  k.comm = comm
  k.filename = ctx.filename
  counts[k] += 1
  0
end
