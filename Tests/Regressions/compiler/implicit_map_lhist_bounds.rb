# Implicit maps: lhist's bounds are literals with max > min and step > 0.
# expect: implicit_map_lhist_bounds.rb:6:10: error: lhist needs step > 0, max > min and at most 1000 buckets, not (100, 0, 10)
license "GPL"

tracepoint "syscalls/sys_enter_read" do |ctx|
  @sizes.lhist(ctx.count, 100, 0, 10)
  0
end
