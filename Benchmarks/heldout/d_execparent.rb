# tp_btf sched_process_exec: a ring buffer record per exec with the parent's
# tgid (p->real_parent->tgid), the size of the new image's argument area
# (p->mm->arg_end - arg_start) and the executed file's name
# (bprm->file->f_path.dentry->d_name.name), and execs counted per parent.
# Root's execs are skipped unless include_root; so are short command lines.
license "GPL"
param :include_root, :bool, default: false
param :min_args, :u64, default: 0

struct :Exec do
  u32  :pid
  u32  :ppid
  u32  :old_pid
  u32  :uid
  u64  :args_len
  char :comm, 16
  char :exe, 32
end
map :events, :ringbuf, max_entries: 256 * 1024
map :by_parent, :hash, key: :u32, value: :u64, max_entries: 4096

tp_btf "sched_process_exec", name: "exec_parent" do |ctx|
  u = uid
  return 0 if u == 0 && include_root == 0
  task = ctx.p
  mm = task.mm
  args_len = mm.arg_end - mm.arg_start
  return 0 if args_len < min_args
  ppid = task.real_parent.tgid
  by_parent[ppid] += 1
  e = events.reserve(Exec)
  return 0 unless e
  e.pid = task.tgid
  e.ppid = ppid
  e.old_pid = ctx.old_pid
  e.uid = u
  e.args_len = args_len
  e.comm = task.comm
  e.exe = ctx.bprm.file.f_path.dentry.d_name.name
  events.submit(e)
  0
end
