# fentry on a function the kernel's BTF does not have: reported at the
# declaration, with the `infrared list` pattern that finds real ones.
# expect: fentry_unknown_function.rb:6:1: error: no kernel function 'no_such_fn' in BTF
map :counts, :hash, key: :u32, value: :u64, max_entries: 16

fentry "no_such_fn" do |ctx|
  counts[pid] += 1
  0
end
