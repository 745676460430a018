# execparents.rb — the VM matrix's tp_btf check: execs counted by the
# parent's tgid, read through the BTF-typed `struct task_struct *p` argument
# of sched_process_exec (a CO-RE read of p->real_parent->tgid).
#
#   execparents     prints execs[PPID]: N at exit
license "GPL"

map :execs, :hash, key: :u32, value: :u64, max_entries: 1024

tp_btf "sched_process_exec" do |ctx|
  execs[ctx.p.real_parent.tgid] += 1
  0
end
