# execsnoop as printf lines, from raw sys_enter (execve = 59): pid, uid,
# comm, the file and argv[0] (the pointer read from the user's argv array
# with user_read); files under /usr/lib/ and execs by cron are skipped.
# (tracepoint syscalls/sys_enter_execve cannot be used: Infrared types its
# `const char *const *argv` as a C string, so user_read refuses it.)
license "GPL"
SYS_EXECVE = 59

raw_tracepoint "sys_enter", name: "execsnoop_printf" do |ctx|
  return 0 if ctx.arg(1) != SYS_EXECVE
  regs = cast(:pt_regs, ctx.arg(0))
  file = regs.di
  return 0 if user_string(file).start_with?("/usr/lib/") || comm == "cron"
  argv0 = user_read(:u64, regs.si)
  printf("%-7d %-6d %-16s %s [%s]\n", pid, uid, comm, user_string(file), user_string(argv0))
  0
end
