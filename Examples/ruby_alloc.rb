# ruby_alloc.rb — Ruby object allocations per class (object__create).
license "GPL"

LIBRUBY = "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1"

param :target_pid, :u32, default: 0

struct :Klass do
  char :name, 48
end

map :allocs, :hash, key: :Klass, value: :u64, max_entries: 4096

usdt LIBRUBY, "ruby", "object__create" do |ctx|
  if target_pid == 0 || pid == target_pid
    k = Klass.new
    k.name = user_string(ctx.arg(0))
    allocs[k] += 1
  end
  0
end
