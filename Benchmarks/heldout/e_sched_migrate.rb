# Task migrations from sched:sched_migrate_task: counted per (orig_cpu,
# dest_cpu) pair (an implicit count with two keys), a linear histogram of the
# destination CPU (an implicit keyless lhist, 0..64 step 4), a count per
# task name (the tracepoint's __data_loc comm as a char[16] key of a hash
# map) and per scheduling class in a per-CPU array (from prio: RT,
# nice 0, negative nice, positive nice). The last migration of each task is
# kept in an LRU hash; a task that moves straight back to the CPU it just
# left within --window-us is a "bounce": counted in a global and printed
# with printf. --target-pid N keeps one task only.
license "GPL"
MAX_RT_PRIO = 100
DEFAULT_PRIO = 120
param :target_pid, :u32, default: 0
param :window_us, :u64, default: 1000

struct :Move do
  u64 :ts
  s32 :from
  s32 :to
end
map :by_comm, :hash, key: [:char, 16], value: :u64, max_entries: 4096
map :classes, :percpu_array, value: :u64, max_entries: 4
map :last, :lru_hash, key: :u32, value: :Move, max_entries: 10240
global :bounces, :u64

tracepoint "sched/sched_migrate_task", name: "migrate" do |ctx|
  p = ctx.pid
  return 0 if target_pid != 0 && p != target_pid
  from = ctx.orig_cpu
  to = ctx.dest_cpu
  @pairs[from, to].count
  @dest_cpu.lhist(to, 0, 64, 4)
  by_comm[ctx.comm] += 1
  prio = ctx.prio
  cls = if prio < MAX_RT_PRIO then 0
        elsif prio == DEFAULT_PRIO then 1
        elsif prio < DEFAULT_PRIO then 2
        else 3
        end
  classes[cls] += 1
  now = ktime_ns
  l = last.lookup(p)
  # workaround: the natural `if l && l.from == to && l.to == from && …` is
  # refused (after `l && …` the compiler no longer knows l's type), so the
  # nil check is an `if` of its own.
  if l
    if l.from == to && l.to == from && now - l.ts < window_us * 1000
      bounces += 1
      printf("bounce %-7d %-16s cpu %d -> %d -> %d in %d us\n", p, ctx.comm, to, from, to, (now - l.ts) / 1000)
    end
  end
  m = Move.new
  m.ts = now
  m.from = from
  m.to = to
  last[p] = m
  0
end
