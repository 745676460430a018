# ruby_alloc.rb — Ruby object allocations per class (object__create).
license "GPL"

# A short name: with --pid PID, the libruby process PID has mapped (/proc/PID/maps),
# else the one in the linker's directories; --pid also limits the probes to PID.
LIBRUBY = "libruby"

struct :Klass do
  char :name, 48
end

map :allocs, :hash, key: :Klass, value: :u64, max_entries: 4096

usdt LIBRUBY, "ruby", "object__create" do |ctx|
  k = Klass.new
  k.name = user_string(ctx.arg(0))
  allocs[k] += 1
  0
end
