# ruby_profile.rb — a CPU profiler of Ruby code: samples the Ruby process
# --pid names 99 times a second (--frequency), walks its VM's control frames
# in BPF (execution context → control frames → iseq → label and path), and
# prints at exit folded stacks of Ruby frames, root first, as Ruby names them
# (`<main>;work;hot_a 42`: what flamegraph.pl and inferno read);
# `--flamegraph out.svg` also writes a flame graph. The target runs unmodified
# (no TracePoint, no USDT probes). Ruby 3.1.2 only: the layouts below are its
# own, and another version is refused at start.
license "GPL"

option :flamegraph, :string, arg: "FILE", help: "also write an SVG flame graph to FILE"
option :locations, :bool, help: "name frames `label (path:line)`, the line where the method or block starts"

# Set by before_load below from --pid, not by hand.
param :ruby_pid, :u32
param :ruby_vm_ptr, :u64      # &ruby_current_vm_ptr in the target

SUPPORTED_RUBY = "3.1.2"
MAX_FRAMES = 64               # frames walked from the leaf; deeper stacks lose their root side

# Ruby 3.1.2 on x86-64, as vm_core.h, iseq.h and internal/string.h lay it out.
VM_MAIN_RACTOR = 32           # rb_vm_t: ractor.main_ractor
RACTOR_RUNNING_EC = 520       # rb_ractor_t: threads.running_ec (the thread holding the GVL)
ISEQ_BODY = 16                # rb_iseq_t: body
BODY_LOCATION = 64            # rb_iseq_constant_body: location
STRING_NOEMBED = 1 << 13      # RString flags: FL_USER1, the bytes are on the heap
ARRAY_EMBED = 1 << 13         # RArray flags: FL_USER1, the elements are in the object
T_MASK = 0x1f
T_ARRAY = 0x07

struct :ExecutionContext do   # rb_execution_context_t, its first fields
  u64 :vm_stack
  u64 :vm_stack_size          # in VALUEs; control frames grow down from its end
  u64 :cfp
end

struct :ControlFrame do       # rb_control_frame_t: 64 bytes
  u64 :pc                     # 0 for C functions
  u64 :sp
  u64 :iseq
  u64 :self
  u64 :ep
  u64 :block_code
  u64 :bp
  u64 :jit_return
end
CONTROL_FRAME_SIZE = 64

struct :Location do           # rb_iseq_location_t
  u64 :pathobj                # a String, or an Array [path, realpath]
  u64 :base_label
  u64 :label
  u64 :first_lineno           # a Fixnum: (n << 1) | 1
end

struct :RubyString do         # struct RString: RBasic, then the heap form (or the bytes, embedded)
  u64 :flags
  u64 :klass
  u64 :len
  u64 :ptr
end

# What a frame is called, read once per iseq.
struct :Frame do
  u32  :line
  char :label, 64
  char :path, 120
end
map :frames, :hash, key: :u64, value: :Frame, max_entries: 16384
map :frame_scratch, :percpu_array, value: :Frame   # a Frame is built here: the stack is small

# A stack is the chain of its frames from the leaf: each link is named by a
# hash of the link before it and its iseq, so a sample counts one u64 and
# the hooks follow `parent` back to the leaf.
struct :Link do
  u64 :parent
  u64 :iseq
end
map :links, :hash, key: :u64, value: :Link, max_entries: 65536
map :samples, :hash, key: :u64, value: :u64, max_entries: 16384

# RSTRING_PTR: where a String's bytes are.
def string_bytes(str)
  s = user_read(RubyString, str)
  (s.flags & STRING_NOEMBED) != 0 ? s.ptr : str + 16
end

# The path of an iseq's pathobj: the String, or the Array's first element.
def path_string(pathobj)
  flags = user_read(:u64, pathobj)
  if (flags & T_MASK) == T_ARRAY
    (flags & ARRAY_EMBED) != 0 ? user_read(:u64, pathobj + 16) : user_read(:u64, user_read(:u64, pathobj + 32))
  else
    pathobj
  end
end

def name_frame(iseq)
  unless frames.lookup(iseq)
    loc = user_read(Location, user_read(:u64, iseq + ISEQ_BODY) + BODY_LOCATION)
    f = frame_scratch.lookup(0)
    f.line = loc.first_lineno >> 1
    f.label = user_string(string_bytes(loc.label))
    f.path = user_string(string_bytes(path_string(loc.pathobj)))
    frames[iseq] = f
  end
  0
end

def link(parent, iseq)
  h = (parent * 31 + iseq) * 0x61C8864680B583EB
  h ^= h >> 29
  h = 1 if h == 0
  unless links.lookup(h)
    l = Link.new
    l.parent = parent
    l.iseq = iseq
    links[h] = l
  end
  h
end

perf_event :cpu_clock, frequency: 99 do |ctx|      # --frequency HZ changes it
  if pid == ruby_pid
    vm = user_read(:u64, ruby_vm_ptr)
    ec = user_read(ExecutionContext, user_read(:u64, user_read(:u64, vm + VM_MAIN_RACTOR) + RACTOR_RUNNING_EC))
    # The frame at the stack's end is the VM's own top frame (a second
    # `<main>`): Ruby's backtraces leave it out, and so does this walk.
    stack_end = ec.vm_stack + ec.vm_stack_size * 8 - CONTROL_FRAME_SIZE
    cfp = ec.cfp
    stack = 0
    MAX_FRAMES.times do
      break if cfp == 0 || cfp >= stack_end
      f = user_read(ControlFrame, cfp)
      if f.iseq != 0 && f.pc != 0
        name_frame(f.iseq)
        stack = link(stack, f.iseq)
      end
      cfp += CONTROL_FRAME_SIZE
    end
    samples[stack] += 1     # 0: no Ruby frame (the GVL free, or in C code only)
  end
  0
end

# The target must be the Ruby whose layouts are above.
before_load do
  target = Target.pid or raise "give --pid PID: the Ruby process to profile"
  lib = Target.library("libruby") or raise "process #{target} maps no libruby (is it a Ruby built with --enable-shared, such as Debian's?)"
  at = Target.address(lib, "ruby_version")
  version = at && Target.read_string(at, 16)
  unless version == SUPPORTED_RUBY
    raise "Ruby #{version || '(unknown version)'} (#{lib}) is not supported: ruby_profile knows the VM of Ruby #{SUPPORTED_RUBY}"
  end
  self.ruby_pid = target
  self.ruby_vm_ptr = Target.address(lib, "ruby_current_vm_ptr") or raise "#{lib} has no ruby_current_vm_ptr"
end

def frame_name(iseq)
  f = frames[iseq]
  return "[unknown]" unless f
  name = f.label.empty? ? "[unknown]" : f.label
  locations ? "#{name} (#{f.path}:#{f.line})" : name
end

at_exit do
  all = links.to_h
  folded = Hash.new(0)
  samples.each do |h, n|
    names = []
    while h != 0 && (l = all[h])
      names << frame_name(l.iseq).tr(";", ":")
      h = l.parent
    end
    folded[names.empty? ? "[no Ruby frame]" : names.join(";")] += n
  end
  folded.keys.sort.each { |stack| puts "#{stack} #{folded[stack]}" }
  FlameGraph.write(flamegraph, folded, title: "ruby_profile") if flamegraph
end
