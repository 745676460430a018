# ruby_alloc.rb — Ruby object allocations per class, and where they happen:
# class, source file and line (USDT object__create, and array__create,
# hash__create, string__create for the literals the VM builds itself).
license "GPL"

# A short name: with --pid PID, the libruby process PID has mapped (/proc/PID/maps),
# else the one in the linker's directories; --pid also limits the probes to PID.
LIBRUBY = "libruby"

struct :Klass do
  char :name, 48
end

# An allocation site: libruby's probes give the class name (object__create
# only; the literal probes are named after their type here), the Ruby file
# and the line being executed.
struct :Site do
  char :name, 48
  char :file, 128
  u32 :line
end

map :allocs, :hash, key: :Klass, value: :u64, max_entries: 4096
map :sites, :hash, key: :Site, value: :u64, max_entries: 8192

usdt LIBRUBY, "ruby", "object__create" do |ctx|
  k = Klass.new
  k.name = user_string(ctx.arg(0))
  allocs[k] += 1
  s = Site.new
  s.name = user_string(ctx.arg(0))
  s.file = user_string(ctx.arg(1))
  s.line = ctx.arg(2)
  sites[s] += 1
  0
end

# The literals the VM builds itself: one program per probe, the type's name
# a build-time constant of each.
{ "array__create" => "Array", "hash__create" => "Hash", "string__create" => "String" }.each do |probe, type|
  usdt LIBRUBY, "ruby", probe, name: probe.sub("__", "_") do |ctx|
    s = Site.new
    s.name = type
    s.file = user_string(ctx.arg(1))
    s.line = ctx.arg(2)
    sites[s] += 1
    0
  end
end
