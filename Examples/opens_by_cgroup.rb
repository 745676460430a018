# Files opened per cgroup (v2), printed at exit by the cgroup's path:
# `cgroup_path` turns the id the program records into the directory below
# /sys/fs/cgroup (`/system.slice/ssh.service`).
#   infrared run Examples/opens_by_cgroup.rb --duration 5
license "GPL"

tracepoint "syscalls/sys_enter_openat" do |ctx|
  @opens[get_current_cgroup_id] += 1
  0
end

# On /metrics: opens_by_cgroup_opens{cgroup="/system.slice/ssh.service"}.
metric_labels :@opens do |id| { cgroup: cgroup_path(id) || "cgroup #{id}" } end

at_exit do
  @opens.to_h.sort_by { |id, n| [-n, id] }.each { |id, n| puts format("%-8d %s", n, cgroup_path(id) || "cgroup #{id}") }
end
