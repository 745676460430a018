# Files opened per process name: bpftrace's one-liner
#   bpftrace -e 'tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }'
# `@opens` is an implicit map: declared by its use (key: comm, a char[16];
# value: a per-CPU count), printed at exit as bpftrace prints it.
#   infrared run Examples/opens_by_comm.rb --duration 5
license "GPL"

tracepoint "syscalls/sys_enter_openat" do |ctx|
  @opens[comm] += 1
  0
end
