# System calls sorted into a few classes with case/when on the syscall
# number (x86-64), counted in an array map.
license "GPL"
FILE, PROCESS, MEMORY, NETWORK, OTHER = 0, 1, 2, 3, 4
map :classes, :array, value: :u64, max_entries: 5

tracepoint "raw_syscalls/sys_enter", name: "syscall_class" do |ctx|
  cls = case ctx.id
        when 0, 1, 2, 3, 4, 5, 8, 257, 262 then FILE       # read write open close stat fstat lseek openat newfstatat
        when 39, 56, 57, 59, 60, 61, 231 then PROCESS      # getpid clone fork execve exit wait4 exit_group
        when 9, 10, 11, 12, 25 then MEMORY                 # mmap mprotect munmap brk mremap
        when 41, 42, 43, 44, 45, 46, 47 then NETWORK       # socket connect accept sendto recvfrom sendmsg recvmsg
        else OTHER
        end
  classes[cls] += 1
  0
end
