#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine to build Infrared and run its kernel
# tests: the C libraries and tools, and the BPF-related filesystems.
# Idempotent: installs only what is missing, mounts only what is absent.
# Must run as root (the kernel tests load BPF).
set -euo pipefail

die() { echo "setup: error: $*" >&2; exit 1; }
say() { echo "setup: $*"; }

[ "$(id -u)" -eq 0 ] || die "must run as root (loading BPF needs root or CAP_BPF+CAP_PERFMON/CAP_SYS_ADMIN)"

# ---- packages ---------------------------------------------------------------
packages=(
  libbpf-dev libelf-dev libdw-dev zlib1g-dev libzstd-dev   # libbpf, libelf/libdw
  libmruby-dev mruby                                       # the Ruby front end
  bpftool clang-14 llvm-14 bpftrace dwarves                # oracles: C fixtures, objdump, pahole
  ruby pkg-config iproute2 util-linux make                 # scripts, pkg-config for CLibBPF, tc/ip, mount
  liblz4-dev liblzma-dev                                   # btf extract: lz4 and xz kernel images
  lz4 xz-utils zstd gzip libc6-dbg time                    # BTF tests: compressors, a real .debug file; btf-bench peak memory
  qemu-system-x86 busybox-static cpio                      # make vmtest: the kernel matrix under QEMU
  prometheus curl                                          # Scripts/prometheus-scrape.sh: a real server scrapes --metrics
)
command -v python3 >/dev/null || packages+=(python3)        # Scripts/gen-tables.py

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "packages: all present"
fi
pkg-config --exists libbpf || die "pkg-config cannot find libbpf after installing libbpf-dev"

# ---- filesystems -------------------------------------------------------------
mount_if_absent() {  # TYPE DIR
  local type=$1 dir=$2
  if mountpoint -q "$dir" 2>/dev/null; then return 0; fi
  mkdir -p "$dir" 2>/dev/null || true
  if mount -t "$type" "$type" "$dir" 2>/dev/null; then
    say "mounted $type at $dir"
  else
    echo "setup: warning: could not mount $type at $dir" >&2
    return 1
  fi
}
mount_if_absent bpf /sys/fs/bpf || true
mount_if_absent debugfs /sys/kernel/debug || true
mount_if_absent tracefs /sys/kernel/tracing \
  || die "tracefs is needed for tracepoint attach tests (mount -t tracefs nodev /sys/kernel/tracing)"

# cgroup v2: the kernel tests attach cgroup programs under /sys/fs/cgroup/unified
# (hybrid hosts), or under /sys/fs/cgroup when that is itself cgroup2.
if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null || true)" = "cgroup2fs" ]; then
  say "cgroup2 at /sys/fs/cgroup/unified"
elif [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null || true)" = "cgroup2fs" ]; then
  say "cgroup2 at /sys/fs/cgroup (unified hierarchy)"
else
  mkdir -p /sys/fs/cgroup/unified 2>/dev/null && mount -t cgroup2 none /sys/fs/cgroup/unified 2>/dev/null \
    || die "no cgroup v2 mount: expected /sys/fs/cgroup/unified (mount -t cgroup2 none /sys/fs/cgroup/unified)"
  say "mounted cgroup2 at /sys/fs/cgroup/unified"
fi

# ---- the kernel --------------------------------------------------------------
[ -r /sys/kernel/btf/vmlinux ] || echo "setup: warning: no /sys/kernel/btf/vmlinux (kernel without BTF): CO-RE needs --btf" >&2
say "ok: $(uname -r), libbpf $(pkg-config --modversion libbpf), $(clang-14 --version | head -1)"
