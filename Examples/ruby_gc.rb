# ruby_gc.rb — Ruby GC mark and sweep pauses, as log2 histograms in microseconds.
license "GPL"

# A short name: with --pid PID, the libruby process PID has mapped (/proc/PID/maps),
# else the one in the linker's directories; --pid also limits the probes to PID.
LIBRUBY = "libruby"

# Marking and lazy sweeping interleave: one start map per phase.
map :mark_began, :hash, key: :u32, value: :u64, max_entries: 4096
map :sweep_began, :hash, key: :u32, value: :u64, max_entries: 4096
map :mark_us, :hist
map :sweep_us, :hist

usdt LIBRUBY, "ruby", "gc__mark__begin", name: "mark_begin" do |ctx|
  mark_began[tid] = ktime_ns
  0
end

usdt LIBRUBY, "ruby", "gc__mark__end", name: "mark_end" do |ctx|
  t = mark_began.lookup(tid)
  if t
    mark_us.add((ktime_ns - t.value) / 1000)
    mark_began.delete(tid)
  end
  0
end

usdt LIBRUBY, "ruby", "gc__sweep__begin", name: "sweep_begin" do |ctx|
  sweep_began[tid] = ktime_ns
  0
end

usdt LIBRUBY, "ruby", "gc__sweep__end", name: "sweep_end" do |ctx|
  t = sweep_began.lookup(tid)
  if t
    sweep_us.add((ktime_ns - t.value) / 1000)
    sweep_began.delete(tid)
  end
  0
end

at_exit do
  puts "GC mark (us):"
  mark_us.print
  puts "GC sweep (us):"
  sweep_us.print
end
