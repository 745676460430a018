#!/usr/bin/env bash
# The kernel matrix: the static loaders of the examples (and Tests/VM's probe
# files), built here, run unchanged in each Debian kernel of BTF/VERSIONS
# booted under QEMU, with the checks of Tests/VM/checks.sh.
#
#   Scripts/vmtest.sh            (make vmtest; needs `make build` first)
#
# Env: INFRARED (default .build/release/infrared), VMTEST_CHECKS (a subset,
# e.g. "opencount execsnoop"), VMTEST_BOOTS (boot attempts per kernel, 3),
# VMTEST_TIMEOUT (seconds per boot, 240), VMTEST_INIT_TIMEOUT (seconds until
# /init must have started, 90), VMTEST_KEEP=1 keeps the work dir.
#
# Each kernel boots with a busybox initramfs whose /init (Tests/VM/init.sh)
# prints "RESULT <tool> PASS|FAIL <what>" per check on the serial console.
# A boot that dies before /init ran (no "VMTEST BOOTED" line; seen with 6.12
# under TCG: an int3 oops in sched_clock_cpu) is booted again, and printed;
# a failed or missing check is never retried. Exit 1 on any FAIL or missing
# result. Uses TCG: nested KVM hangs on the machines this runs on.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
die() { echo "vmtest: error: $*" >&2; exit 1; }
say() { echo "vmtest: $*"; }

infrared=${INFRARED:-.build/release/infrared}
[ -x "$infrared" ] || die "$infrared not built (run make build)"
for c in qemu-system-x86_64 busybox cpio gzip cc; do
  command -v $c >/dev/null || die "$c missing (run make setup)"
done
[ -x /bin/busybox ] || die "/bin/busybox missing (busybox-static; run make setup)"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

checks=${VMTEST_CHECKS:-opencount execsnoop opensnoop exitsnoop syscount runqlat device_filter xdp_count profile skeleton unlinksnoop execparents embed_btf ruby_calls ruby_alloc ruby_gc killed tutorial_lhist tutorial_latency tutorial_struct tutorial_fentry}
boots=${VMTEST_BOOTS:-3}
boot_timeout=${VMTEST_TIMEOUT:-240}
init_timeout=${VMTEST_INIT_TIMEOUT:-90}
start_all=$(now)

work=$(mktemp -d /tmp/infrared-vmtest.XXXXXX)
[ "${VMTEST_KEEP:-0}" = 1 ] && say "work dir: $work" || trap 'rm -rf "$work"' EXIT

# ---- the tools and the workload -------------------------------------------------
rootfs=$work/root
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,run}
source_of() {
  case "$1" in
    opencount) echo Tests/VM/opencount.rb ;;
    execparents) echo Tests/VM/execparents.rb ;;
    tutorial_*) echo "Tests/VM/$1.rb" ;;
    *) echo "Examples/$1.rb" ;;
  esac
}
tools=$(for c in $checks; do
  case "$c" in killed) echo opencount xdp_count device_filter ;; skeleton|embed_btf) ;; *) echo "$c" ;; esac   # killed: loaders of other checks
done | tr ' ' '\n' | sort -u)
for c in $tools; do
  "$infrared" gen loader "$(source_of "$c")" -o "$rootfs/bin/$c" || die "gen loader $(source_of "$c") failed"
done
if [[ " $checks " == *" ruby_"* ]]; then
  # The Ruby USDT examples' workload: Debian's ruby and the libraries it links,
  # at their paths (run with --disable-gems it reads no other file).
  [ -x /usr/bin/ruby ] && [ -e /usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1 ] \
    || die "no /usr/bin/ruby with libruby-3.1 (the Ruby USDT examples' workload): apt-get install ruby (make setup)"
  for f in /usr/bin/ruby $(ldd /usr/bin/ruby | grep -o '/[^ ]*'); do
    f=$(realpath -s "$f"); f=${f#/usr}
    mkdir -p "$rootfs/usr$(dirname "$f")"
    cp -L "/usr$f" "$rootfs/usr$f" 2>/dev/null || cp -L "$f" "$rootfs/usr$f"
  done
  ln -sfn usr/lib "$rootfs/lib"; ln -sfn usr/lib64 "$rootfs/lib64"   # Debian's merged /usr
  # The linker's directories, where a short library name ("libruby") is looked up.
  mkdir -p "$rootfs/etc"; cp -r /etc/ld.so.conf /etc/ld.so.conf.d "$rootfs/etc/"
fi
if [[ " $checks " == *" embed_btf "* ]]; then
  # execsnoop embedding every fixture's BTF, and one embedding each fixture's alone
  # (named by its release): the guest hides its kernel's BTF and runs them.
  "$infrared" gen loader Examples/execsnoop.rb -o "$rootfs/bin/embed_all" --embed-btf BTF || die "gen loader --embed-btf BTF failed"
  for f in BTF/*.btf.xz; do
    r=$(basename "$f" .btf.xz)
    "$infrared" gen loader Examples/execsnoop.rb -o "$rootfs/bin/embed_only.$r" --embed-btf "$f" || die "gen loader --embed-btf $f failed"
  done
fi
if [[ " $checks " == *" skeleton "* ]]; then   # opencount's C skeleton, static against libbpf
  "$infrared" gen skel Tests/VM/opencount.rb -o "$work/opencount.skel.h" || die "gen skel Tests/VM/opencount.rb failed"
  cc -static -O2 -Wall -Werror -I "$work" Tests/VM/skelmain.c -o "$rootfs/bin/skelmain" -lbpf -lelf -lz -lzstd \
    || die "cc -static Tests/VM/skelmain.c failed (libbpf-dev's libbpf.a, libelf-dev, zlib1g-dev, libzstd-dev)"
fi
cc -static -O2 -fno-omit-frame-pointer -Wall -o "$rootfs/bin/vmwork" Tests/VM/vmwork.c || die "cc -static Tests/VM/vmwork.c failed"
cp /bin/busybox "$rootfs/bin/busybox"
cp Tests/VM/init.sh "$rootfs/init"
cp Tests/VM/checks.sh "$rootfs/checks.sh"
chmod +x "$rootfs/init" "$rootfs/checks.sh"
echo "VMTEST_CHECKS='$checks'" >"$rootfs/etc/vmtest.env"
( cd "$rootfs" && find . | cpio -o -H newc --quiet | gzip -1 ) >"$work/initramfs.gz"
say "initramfs: $(du -h "$work/initramfs.gz" | cut -f1) ($(ls "$rootfs/bin" | wc -l) files in /bin), built in $(since "$start_all") s"

# ---- the kernels ------------------------------------------------------------------
mapfile -t kernels < <(Scripts/fetch-kernel-images.sh)
[ ${#kernels[@]} -gt 0 ] || die "no kernels (BTF/VERSIONS)"

# boot INDEX VMLINUZ: boots until /init ran (at most $boots times); the log is
# $work/log.INDEX. A boot that has not printed "VMTEST BOOTED" within
# $init_timeout s, or whose QEMU exited before it (oops=panic, panic=-1 and
# -no-reboot turn an early oops into an exit), is killed and booted again.
boot() {
  local i=$1 vmlinuz=$2 attempt t0 q waited
  for attempt in $(seq 1 "$boots"); do
    t0=$(now)
    timeout "$boot_timeout" qemu-system-x86_64 -accel tcg -cpu max -m 1G -smp 1 -nographic -no-reboot \
      -kernel "$vmlinuz" -initrd "$work/initramfs.gz" \
      -append "console=ttyS0 panic=-1 oops=panic quiet loglevel=4 rdinit=/init" </dev/null >"$work/log.$i" 2>&1 &
    q=$!
    waited=0
    until grep -aq 'VMTEST BOOTED' "$work/log.$i"; do
      if ! kill -0 "$q" 2>/dev/null || [ "$waited" -ge $((init_timeout * 2)) ]; then break; fi
      sleep 0.5; waited=$((waited + 1))
    done
    if grep -aq 'VMTEST BOOTED' "$work/log.$i"; then
      wait "$q" || true
      echo "$attempt $(since "$t0")" >>"$work/boots.$i"
      return 0
    fi
    kill "$q" 2>/dev/null || true
    wait "$q" || true
    echo "$attempt $(since "$t0")" >>"$work/boots.$i"
    cp "$work/log.$i" "$work/log.$i.dead$attempt"
  done
  return 1
}

pids=()
for i in "${!kernels[@]}"; do
  read -r package version vmlinuz <<<"${kernels[$i]}"
  boot "$i" "$vmlinuz" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done

# ---- the table --------------------------------------------------------------------
status=0
declare -A cell what
releases=()
for i in "${!kernels[@]}"; do
  read -r package version vmlinuz <<<"${kernels[$i]}"
  release=${package#linux-image-}
  releases+=("$release")
  log=$work/log.$i
  tr -d '\r' <"$log" >"$log.txt"
  while read -r attempt secs; do
    if grep -aq 'VMTEST BOOTED' "$log.txt" && [ "$attempt" = "$(wc -l <"$work/boots.$i")" ]; then
      say "$release: boot $attempt ran /init, ${secs} s"
    else
      say "$release: boot $attempt died before /init after ${secs} s: $(tr -d '\r' <"$work/log.$i.dead$attempt" | grep -a -m1 -E 'Oops|BUG:|Kernel panic' || tr -d '\r' <"$work/log.$i.dead$attempt" | grep -av '^ *$' | tail -1 | tr -cd '[:print:]' | cut -c1-160)"
    fi
  done <"$work/boots.$i"
  grep -aq 'VMTEST BOOTED' "$log.txt" || { say "$release: never reached /init in $boots boots"; status=1; }
  grep -aq '^VMTEST DONE' "$log.txt" || { grep -aq 'VMTEST BOOTED' "$log.txt" && say "$release: /init did not finish (log tail below)"; tail -n 20 "$log.txt" | sed 's/^/  | /'; status=1; }
  while read -r _ tool verdict rest; do
    cell[$i,$tool]=$verdict
    what[$tool]=$rest
  done < <(grep -a '^RESULT ' "$log.txt")
  grep -a '^LOG ' "$log.txt" | sed "s/^/  $release | /" || true
done

header="| tool |"; rule="|---|"
for r in "${releases[@]}"; do header+=" $r |"; rule+="---|"; done
echo
echo "$header what was checked |"
echo "$rule---|"
for c in $checks; do
  line="| $c |"
  for i in "${!kernels[@]}"; do
    case "${cell[$i,$c]:-}" in
      PASS) line+=" ✅ |" ;;
      FAIL) line+=" ❌ |"; status=1 ;;
      *) line+=" ❌ (no result) |"; status=1 ;;
    esac
  done
  echo "$line ${what[$c]:-} |"
done
echo
say "whole run $(since "$start_all") s; $([ $status = 0 ] && echo "all passed" || echo "FAILED")"
exit $status
