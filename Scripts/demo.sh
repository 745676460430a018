#!/usr/bin/env bash
# The live demo, on the running kernel:
#  1. `infrared gen loader Examples/execsnoop.rb` makes one static tool; it
#     runs for a few seconds while this script starts some processes, and
#     prints one line per exec (then exits by --duration, detaching all).
#  2. The seed demo: Examples/device_filter.rb (the original compiler's form)
#     attached with bpftool to a fresh cgroup v2, where a process can read
#     /dev/zero but not /dev/urandom.
# Everything is detached and removed on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
INFRARED=${INFRARED:-.build/release/infrared}
CG_ROOT=${CG_ROOT:-/sys/fs/cgroup/unified}
SECONDS_LIVE=${SECONDS_LIVE:-4}
work=$(mktemp -d)
cg="$CG_ROOT/infrared-demo-$$"
pin="/sys/fs/bpf/infrared-demo-$$"
cleanup() {
  bpftool cgroup detach "$cg" device pinned "$pin" 2>/dev/null || true
  rm -f "$pin"
  rmdir "$cg" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== infrared gen loader Examples/execsnoop.rb -o execsnoop"
"$INFRARED" gen loader Examples/execsnoop.rb -o "$work/execsnoop"
ls -l "$work/execsnoop" | awk '{print "   " $5 " bytes, " $1}'
echo "== ./execsnoop --duration $SECONDS_LIVE   (while this script runs a few commands)"
"$work/execsnoop" --duration "$SECONDS_LIVE" > "$work/execs.txt" &
tool=$!
sleep 1
for cmd in "uname -r" "id -u" "date +%s" "ls /" "true"; do $cmd >/dev/null; sleep 0.3; done
wait "$tool"
echo "   PID     PPID    UID    COMM             FILENAME   (this script's commands; $(wc -l < "$work/execs.txt") execs seen in all)"
grep -E " (uname|id|date|ls|true) " "$work/execs.txt" | sed 's/^/   /' || true

echo
echo "== the seed demo: infrared build Examples/device_filter.rb"
"$INFRARED" build Examples/device_filter.rb -o "$work/device_filter.bpf.o"
"$INFRARED" disasm "$work/device_filter.bpf.o" --no-show-raw-insn
echo "== load with bpftool, attach to $cg"
bpftool prog load "$work/device_filter.bpf.o" "$pin" type cgroup/dev
mkdir "$cg"
bpftool cgroup attach "$cg" device pinned "$pin"
sh -c "echo \$\$ > $cg/cgroup.procs
       if head -c 8 /dev/zero >/dev/null 2>&1; then echo '/dev/zero:    allowed'; else echo '/dev/zero:    DENIED'; fi
       if head -c 8 /dev/urandom >/dev/null 2>&1; then echo '/dev/urandom: allowed'; else echo '/dev/urandom: DENIED (by the BPF program)'; fi"
echo "== detached; outside the cgroup /dev/urandom reads again:"
bpftool cgroup detach "$cg" device pinned "$pin"
head -c 8 /dev/urandom | od -An -tx1
