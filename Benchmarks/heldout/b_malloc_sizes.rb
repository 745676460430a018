# uprobe on libc's malloc: a log2 histogram of requested sizes and the
# bytes requested per process, optionally for one process only.
license "GPL"
param :target_pid, :u32, default: 0
map :sizes, :hist
map :bytes, :hash, key: :u32, value: :u64, max_entries: 10240

uprobe "/lib/x86_64-linux-gnu/libc.so.6", "malloc", name: "malloc_sizes" do |ctx|
  p = pid
  return 0 if target_pid != 0 && p != target_pid
  size = ctx.arg(0)
  sizes.add(size)
  bytes[p] += size
  0
end
