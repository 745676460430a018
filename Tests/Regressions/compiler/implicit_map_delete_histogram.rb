# Implicit maps: a histogram's buckets cannot be deleted by key in a body.
# expect: implicit_map_delete_histogram.rb:7:8: error: `@lat.delete` on a histogram (hist at line 6)
license "GPL"

tracepoint "syscalls/sys_exit_read" do |ctx|
  @lat[comm].hist(ctx.ret)
  @lat.delete(comm)
  0
end
