# String lengths from a uprobe + uretprobe pair in libc: at entry the
# string's first bytes are kept per thread (user_string into a struct value
# of a hash); at return a per-comm log2 histogram of the lengths, a count of
# calls per process, a global count of empty strings, and a printf line with
# the string's head for each length of at least --min-len. --target-pid N
# keeps one process only. (libc's strlen is an IFUNC symbol, which libbpf
# 1.1 cannot attach to: "failed to find symbol 'strlen'"; so the lengths
# come from puts, which returns strlen(s) + 1, or EOF (-1) on error.)
license "GPL"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
param :target_pid, :u32, default: 0
param :min_len, :u32, default: 512

struct :Head do
  char :text, 32
end
map :heads, :hash, key: :u32, value: :Head, max_entries: 10240
global :empty, :u64

uprobe LIBC, "puts", name: "strlen_enter" do |ctx|
  return 0 if target_pid != 0 && pid != target_pid
  h = Head.new
  h.text = user_string(ctx.arg(0))
  heads[tid] = h
  0
end

uretprobe LIBC, "puts", name: "strlen_exit" do |ctx|
  p = pid
  return 0 if target_pid != 0 && p != target_pid
  len = ctx.ret - 1
  @lens[comm].hist(len)
  @calls[p].count
  empty += 1 if len == 0
  h = heads.lookup(tid)
  if h
    printf("%-7d %-16s %6d %s\n", p, comm, len, h.text) if len >= min_len
    heads.delete(tid)
  end
  0
end
