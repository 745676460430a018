# ruby_calls.rb — method calls per Class#method of Ruby processes, through
# libruby's USDT probes: cmethod__entry for C methods, method__entry for Ruby
# methods (Ruby 3.1 fires it only while trace instructions are on, e.g. with
# a TracePoint enabled).
license "GPL"

LIBRUBY = "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1"

param :target_pid, :u32, default: 0       # 0: every Ruby process

struct :Call do
  char :klass, 32
  char :name, 32
end

map :calls, :hash, key: :Call, value: :u64, max_entries: 16384

usdt LIBRUBY, "ruby", "cmethod__entry" do |ctx|
  if target_pid == 0 || pid == target_pid
    k = Call.new
    k.klass = user_string(ctx.arg(0))
    k.name = user_string(ctx.arg(1))
    calls[k] += 1
  end
  0
end

usdt LIBRUBY, "ruby", "method__entry" do |ctx|
  if target_pid == 0 || pid == target_pid
    k = Call.new
    k.klass = user_string(ctx.arg(0))
    k.name = user_string(ctx.arg(1))
    calls[k] += 1
  end
  0
end

at_exit do
  calls.to_h.sort_by { |_, n| -n }.first(20).each { |k, n| puts format("%-40s %d", "#{k.klass}##{k.name}", n) }
end
