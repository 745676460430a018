# The same filter in the block form of the probe language. The context is
# the kernel's struct bpf_cgroup_dev_ctx, its layout read from kernel BTF.
license "GPL"

URANDOM_MAJOR = 1
URANDOM_MINOR = 9

cgroup_device do |ctx|
  if ctx.major == URANDOM_MAJOR && ctx.minor == URANDOM_MINOR
    0      # deny
  else
    1      # allow
  end
end
