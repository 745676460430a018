# unlinksnoop.rb — files removed with unlink(2)/unlinkat(2): fentry counts the
# attempts per process, fexit reports each one with its result. Both read
# do_unlinkat's arguments by their BTF names, typed: `ctx.name` is a
# `struct filename *`, read further with CO-RE; `ctx.ret` is its `int` result.
# Needs a kernel with BPF trampolines (fentry/fexit); elsewhere the loader
# says so.
license "GPL"

param :target_pid, :u32, default: 0       # 0: every process

struct :Event do
  u32  :pid
  s32  :dfd
  s32  :ret
  char :comm, 16
  char :filename, 128
end

map :attempts, :hash, key: :u32, value: :u64, max_entries: 10240
map :events, :ringbuf, max_entries: 256 * 1024

fentry "do_unlinkat", name: "unlink_entry" do |ctx|
  attempts[pid] += 1 if target_pid == 0 || pid == target_pid
  0
end

fexit "do_unlinkat", name: "unlink_exit" do |ctx|
  if target_pid == 0 || pid == target_pid
    e = events.reserve(Event)
    if e
      e.pid = pid
      e.dfd = ctx.dfd
      e.ret = ctx.ret
      e.comm = comm
      e.filename = ctx.name.name              # struct filename's kernel copy of the path
      events.submit(e)
    end
  end
  0
end

on_event :events do |e|
  puts format("%-7d %-16s %4d %s", e.pid, e.comm, e.ret, e.filename)
end
