# Implicit maps: one aggregation per map.
# expect: implicit_map_min_and_max.rb:7:12: error: `@v` is written with max here and with min at line 6
license "GPL"

tracepoint "syscalls/sys_enter_read" do |ctx|
  @v[comm].min(ctx.count)
  @v[comm].max(ctx.count)
  0
end
