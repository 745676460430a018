# funclatency for vfs_read: entry time per thread in a kprobe, the latency
# histogram in a kretprobe, for successful reads only.
license "GPL"
map :start, :hash, key: :u32, value: :u64, max_entries: 10240
map :nsecs, :hist

kprobe "vfs_read", name: "funclat_entry" do |ctx|
  start[tid] = ktime_ns
  0
end

kretprobe "vfs_read", name: "funclat_return" do |ctx|
  t = start.lookup(tid)
  if t
    nsecs.add(ktime_ns - t.value) if ctx.ret >= 0
    start.delete(tid)
  end
  0
end
