# bpftrace tutorial lesson 4 as a one-liner: system calls by process name.
license "GPL"
tracepoint("raw_syscalls/sys_enter") { @calls[comm] += 1 }
