# Block I/O latency, biosnoop-style: at block_rq_issue the time, the size
# and the issuing task's name are kept per request (a struct key of device
# and sector, a struct value); at block_rq_complete the latency in
# microseconds goes to a log2 histogram (an implicit keyless hist), requests
# are counted per device, failed ones per (device, error), and each request
# of at least --slow-us is sent to a ring buffer as a record (device,
# sector, latency, size, error, rwbs, comm). Requests smaller than
# --min-bytes are not traced; --dev N (the kernel's dev_t, major << 20 |
# minor) keeps one device only.
license "GPL"
param :min_bytes, :u32, default: 0
param :dev, :u32, default: 0
param :slow_us, :u64, default: 10_000

struct :ReqKey do
  u32 :dev
  u64 :sector
end
struct :Issued do
  u64  :ts
  u32  :bytes
  char :comm, 16
end
struct :SlowIo do
  u64  :sector
  u64  :lat_us
  u32  :dev
  u32  :bytes
  s32  :error
  char :rwbs, 10
  char :comm, 16
end
map :issued, :hash, key: :ReqKey, value: :Issued, max_entries: 10240
map :slow, :ringbuf, max_entries: 256 * 1024

tracepoint "block/block_rq_issue", name: "rq_issue" do |ctx|
  return 0 if ctx.bytes < min_bytes
  return 0 if dev != 0 && ctx.dev != dev
  k = ReqKey.new
  k.dev = ctx.dev
  k.sector = ctx.sector
  v = Issued.new
  v.ts = ktime_ns
  v.bytes = ctx.bytes
  v.comm = ctx.comm
  issued[k] = v
  0
end

tracepoint "block/block_rq_complete", name: "rq_complete" do |ctx|
  k = ReqKey.new
  k.dev = ctx.dev
  k.sector = ctx.sector
  s = issued.lookup(k)
  return 0 unless s
  us = (ktime_ns - s.ts) / 1000
  @usecs.hist(us)
  @ios[ctx.dev].count
  err = ctx.error
  @errors[ctx.dev, err].count if err != 0
  if us >= slow_us
    e = slow.reserve(SlowIo)
    if e
      e.sector = ctx.sector
      e.lat_us = us
      e.dev = ctx.dev
      e.bytes = s.bytes
      e.error = err
      e.rwbs = ctx.rwbs
      e.comm = s.comm
      slow.submit(e)
    end
  end
  issued.delete(k)
  0
end
