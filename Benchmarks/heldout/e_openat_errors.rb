# Failed openat calls: at sys_enter_openat the file name and flags are kept
# per thread (a struct value in a hash); at sys_exit_openat, when ret < 0,
# the errno (-ret) is counted in a hash map, the failures are counted per
# comm and kind (case/when on common errnos), and a ring buffer record with
# pid, errno, kind, flags, comm and file name is sent. --skip-enoent leaves
# out ENOENT, the usual "not there" miss.
license "GPL"
ENOENT = 2
EPERM = 1
EACCES = 13
ENFILE = 23
EMFILE = 24
EEXIST = 17
param :skip_enoent, :bool, default: false

struct :Pending do
  u32  :flags
  char :filename, 64
end
struct :Failure do
  u32  :pid
  s32  :errno
  u32  :kind
  u32  :flags
  char :comm, 16
  char :filename, 64
end
map :pending, :hash, key: :u32, value: :Pending, max_entries: 10240
map :errors, :hash, key: :u32, value: :u64, max_entries: 256
map :failures, :ringbuf, max_entries: 256 * 1024

tracepoint "syscalls/sys_enter_openat", name: "openat_enter" do |ctx|
  o = Pending.new
  o.flags = ctx.flags
  o.filename = ctx.filename
  pending[tid] = o
  0
end

tracepoint "syscalls/sys_exit_openat", name: "openat_exit" do |ctx|
  t = tid
  o = pending.lookup(t)
  return 0 unless o
  ret = ctx.ret
  if ret < 0
    err = -ret
    unless skip_enoent != 0 && err == ENOENT
      errors[err] += 1
      kind = case err
             when ENOENT then 1
             when EPERM, EACCES then 2
             when ENFILE, EMFILE then 3
             when EEXIST then 4
             else 0
             end
      @by_comm[comm, kind].count
      e = failures.reserve(Failure)
      if e
        e.pid = pid
        e.errno = err
        e.kind = kind
        e.flags = o.flags
        e.comm = comm
        e.filename = o.filename
        failures.submit(e)
      end
    end
  end
  pending.delete(t)
  0
end
