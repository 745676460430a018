# Execs by one user: each exec as a ring buffer record, and a count per
# program name (a declared map the Swift side reads).
license "GPL"

param :target_uid, :u32, default: 0

struct :Exec do
  u32  :pid
  u32  :uid
  char :comm, 16
end

map :execs, :ringbuf, max_entries: 64 * 1024
map :by_comm, :hash, key: [:char, 16], value: :u64, max_entries: 1024

tracepoint "sched/sched_process_exec" do |ctx|
  if uid == target_uid
    e = execs.reserve(Exec)
    if e
      e.pid = pid
      e.uid = uid
      e.comm = comm
      execs.submit(e)
    end
    by_comm[comm] += 1
  end
  0
end
