# ruby_calls.rb — method calls per Class#method of Ruby processes, through
# libruby's USDT probes: cmethod__entry for C methods, method__entry for Ruby
# methods (Ruby 3.1 fires it only while trace instructions are on, e.g. with
# a TracePoint enabled).
license "GPL"

# A short name: with --pid PID, the libruby process PID has mapped (/proc/PID/maps),
# else the one in the linker's directories; --pid also limits the probes to PID.
LIBRUBY = "libruby"

struct :Call do
  char :klass, 32
  char :name, 32
end

map :calls, :hash, key: :Call, value: :u64, max_entries: 16384

usdt LIBRUBY, "ruby", "cmethod__entry" do |ctx|
  k = Call.new
  k.klass = user_string(ctx.arg(0))
  k.name = user_string(ctx.arg(1))
  calls[k] += 1
  0
end

usdt LIBRUBY, "ruby", "method__entry" do |ctx|
  k = Call.new
  k.klass = user_string(ctx.arg(0))
  k.name = user_string(ctx.arg(1))
  calls[k] += 1
  0
end

at_exit do
  calls.to_h.sort_by { |_, n| -n }.first(20).each { |k, n| puts format("%-40s %d", "#{k.klass}##{k.name}", n) }
end
