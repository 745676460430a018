# The return value is fexit's: fentry runs before the function returns.
# expect: fentry_ret.rb:6:25: error: `ctx.ret` is only available in fexit programs, not fentry
map :counts, :hash, key: :u32, value: :u64, max_entries: 16

fentry "do_unlinkat" do |ctx|
  counts[0] += 1 if ctx.ret == 0
  0
end
