# Sizes asked of vfs_read, one log2 histogram per process name, from the
# typed arguments of an fentry program.
license "GPL"

fentry "vfs_read", name: "fentry_read" do |ctx|
  @sizes[comm].hist(ctx.count)
  0
end
