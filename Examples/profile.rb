# profile.rb — a CPU sampler: kernel and user stacks 99 times a second on
# every CPU, counted per process and stack pair, printed at exit as folded
# stacks (`comm;user frames root→leaf;kernel frames root→leaf COUNT`, what
# flamegraph.pl and inferno read); `--flamegraph out.svg` also writes a
# flame graph to open in a browser.
license "GPL"

option :flamegraph, :string, arg: "FILE", help: "also write an SVG flame graph to FILE"

struct :Key do
  u32  :pid
  s32  :kernel_stack
  s32  :user_stack
  char :comm, 16
end

map :stacks, :stack_trace, max_entries: 16384
map :samples, :hash, key: :Key, value: :u64, max_entries: 16384

USER_STACK = 1 << 8                       # BPF_F_USER_STACK

perf_event :cpu_clock, frequency: 99 do |ctx|
  k = Key.new
  k.pid = pid
  k.kernel_stack = stacks.get_stackid(ctx, 0)
  k.user_stack = stacks.get_stackid(ctx, USER_STACK)
  k.comm = comm
  samples[k] += 1
  0
end

# User frames are named through the process's memory map, which is gone once
# it exits: once a second, new processes' maps are read and new stacks named.
$user_frames = {}
def user_frames(k)
  $user_frames[[k.pid, k.user_stack]] ||= stacks.symbols(k.user_stack, k.pid)
end

every 1 do
  keys = samples.keys
  keys.each { |k| stacks.remember(k.pid) }
  keys.each { |k| user_frames(k) }
end

# A walk through code without frame pointers yields runs of frames that
# cannot be named: each run is shown as one [unknown].
def squeeze(frames)
  out = []
  frames.each { |f| out << f unless f == "[unknown]" && out.last == "[unknown]" }
  out
end

at_exit do
  folded = Hash.new(0)
  samples.each do |k, n|
    frames = [k.comm] + squeeze(user_frames(k).reverse) + squeeze(stacks.symbols(k.kernel_stack).reverse)
    folded[frames.map { |f| f.tr(";", ":") }.join(";")] += n
  end
  folded.keys.sort.each { |stack| puts "#{stack} #{folded[stack]}" }
  FlameGraph.write(flamegraph, folded, title: "profile") if flamegraph
end
