# Implicit maps: methods are the aggregations, delete, and indexing.
# expect: implicit_map_unknown_method.rb:6:10: error: implicit map `@sizes` has no method `median`
license "GPL"

tracepoint "syscalls/sys_enter_read" do |ctx|
  @sizes.median(ctx.count)
  0
end
