# A name that is not one of do_unlinkat's arguments (int dfd, struct filename *name).
# expect: fentry_no_such_argument.rb:6:14: error: do_unlinkat has no argument `nosuch`
map :counts, :hash, key: :u32, value: :u64, max_entries: 16

fentry "do_unlinkat" do |ctx|
  counts[ctx.nosuch] += 1
  0
end
