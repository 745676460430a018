# A declaration without its target is reported at the declaration.
# expect: missing_attach_target.rb:4:1: error: `kprobe` needs an attach target
xdp { |ctx| 1 }
kprobe do |ctx|
  0
end
