# read() sizes per process name as log2 histograms: bpftrace's one-liner
#   bpftrace -e 'tracepoint:syscalls:sys_exit_read { @bytes[comm] = hist(args->ret); }'
# One histogram per key, printed at exit in bpftrace's layout.
#   infrared run Examples/read_sizes.rb --duration 5
license "GPL"

tracepoint "syscalls/sys_exit_read" do |ctx|
  @bytes[comm].hist(ctx.ret)
  0
end
