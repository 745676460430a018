# Opens of files under /etc/, counted per process name: a prefix compare of
# a user-space path.
license "GPL"

tracepoint "syscalls/sys_enter_openat", name: "open_prefix" do |ctx|
  if ctx.filename.start_with?("/etc/")
    @etc_opens[comm] += 1
  end
  0
end
