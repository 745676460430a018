# An LSM hook is a bpf_lsm_<hook> function in the kernel's BTF.
# expect: lsm_unknown_hook.rb:3:1: error: no LSM hook 'no_such_hook' in BTF (no kernel function bpf_lsm_no_such_hook)
lsm "no_such_hook" do |ctx|
  0
end
