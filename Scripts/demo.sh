#!/usr/bin/env bash
# The live demo: compile Examples/device_filter.rb with infrared, load it with
# bpftool, attach it to a fresh cgroup v2 for a few seconds, and show that a
# process in that cgroup can read /dev/zero but not /dev/urandom. Everything
# is detached and removed on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
INFRARED=${INFRARED:-.build/release/infrared}
CG_ROOT=${CG_ROOT:-/sys/fs/cgroup/unified}
SECONDS_LIVE=${SECONDS_LIVE:-3}
cg="$CG_ROOT/infrared-demo-$$"
pin="/sys/fs/bpf/infrared-demo-$$"
obj=$(mktemp --suffix=.bpf.o)
cleanup() {
  bpftool cgroup detach "$cg" device pinned "$pin" 2>/dev/null || true
  rm -f "$pin" "$obj"
  rmdir "$cg" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "== infrared build Examples/device_filter.rb"
"$INFRARED" build Examples/device_filter.rb -o "$obj"
echo "== infrared disasm"
"$INFRARED" disasm "$obj" || llvm-objdump-14 -d "$obj"
echo "== load and attach to $cg"
bpftool prog load "$obj" "$pin" type cgroup/dev
mkdir "$cg"
bpftool cgroup attach "$cg" device pinned "$pin"
bpftool cgroup show "$cg"
end=$(( $(date +%s) + SECONDS_LIVE ))
while [ "$(date +%s)" -lt "$end" ]; do
  sh -c "echo \$\$ > $cg/cgroup.procs
         if head -c 8 /dev/zero >/dev/null 2>&1; then echo '/dev/zero:    allowed'; else echo '/dev/zero:    DENIED'; fi
         if head -c 8 /dev/urandom >/dev/null 2>&1; then echo '/dev/urandom: allowed'; else echo '/dev/urandom: DENIED (by the BPF program)'; fi"
  sleep 1
done
echo "== detached; /dev/urandom outside the cgroup:"
head -c 8 /dev/urandom | od -An -tx1
