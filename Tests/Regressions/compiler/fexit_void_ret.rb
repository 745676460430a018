# fexit of a function that returns void has no `ctx.ret`.
# expect: fexit_void_ret.rb:6:14: error: kfree returns void: there is no `ctx.ret`
map :counts, :hash, key: :u32, value: :u64, max_entries: 16

fexit "kfree" do |ctx|
  counts[ctx.ret] += 1
  0
end
