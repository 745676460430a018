#!/usr/bin/env bash
# footprint.sh — where the static loader runner's bytes go, and the peak RSS
# of generated loaders.
#   1. The runner is linked again from the objects of the last `make runner`
#      (its Objects.LinkFileList, with the libraries Package.swift and the
#      module maps name) with a linker map; the allocated bytes of every input
#      section are summed per archive (Swift runtime and Foundation archives,
#      glibc, libbpf, ...) or per module (InfraredLoader, ...). The relinked
#      file is stripped and its size printed beside the runner's: the two
#      should be within a few hundred KB (`-Xlinker -s` vs strip).
#   2. With PROFILE=1 (root, perf events): `profile.rb` as a loader, run as
#      the README runs it (`--duration 5 --flamegraph`, a gcc -O0 loop and
#      swiftc compiling beside it), its peak RSS (/usr/bin/time's maximum
#      resident set size).
#   3. With EXAMPLES=1 (root): every Examples/*.rb as a loader, run for
#      `--duration 2` (device filters on a fresh cgroup, xdp_count on lo):
#      its size and peak RSS, or why it did not run.
#
#   Benchmarks/footprint.sh                       # uses .build-runner (make runner)
#   RUNNER_SCRATCH=/path/.build-runner INFRARED=.build/release/infrared PROFILE=1 EXAMPLES=1 Benchmarks/footprint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scratch=$(realpath -m "${RUNNER_SCRATCH:-$root/.build-runner}")
runner=$scratch/release/infrared-runner
list=$scratch/release/infrared-runner.product/Objects.LinkFileList
[ -f "$list" ] && [ -x "$runner" ] || { echo "no runner build in $scratch: run make runner (or set RUNNER_SCRATCH)" >&2; exit 1; }

work=$(mktemp -d /tmp/footprint.XXXXXX)
trap 'rm -rf "$work"' EXIT

# SwiftPM renames an executable module's entry point to <module>_main.
swiftc -static-executable -emit-executable -o "$work/runner" @"$list" -L"$scratch/release" \
  -lmruby -lm -lzstd -lbz2 -llzma -lz -lbpf -lelf \
  -Xlinker --defsym -Xlinker main=infrared_runner_main -Xlinker --gc-sections \
  -Xlinker -Map="$work/runner.map" 2>/dev/null
strip -o "$work/runner.stripped" "$work/runner"

python3 - "$work/runner.map" <<'PY'
import collections, re, sys
lines = open(sys.argv[1]).read().split('\n')
start = lines.index('Memory map') if 'Memory map' in lines else 0
one = re.compile(r'^ (\S+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$')
cont = re.compile(r'^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$')
total = collections.Counter()
for i in range(start + 1, len(lines)):
    m = one.match(lines[i])
    if m:
        name, _, size, path = m.groups()
    else:
        m = cont.match(lines[i])
        prev = lines[i - 1].strip()
        if not m or ' ' in prev or not prev.startswith(('.', 'swift')):
            continue
        name = prev
        _, size, path = m.groups()
    # what the file holds: no debug info, notes or zero-filled sections
    if name.startswith(('.debug', '.comment', '.note', '.bss', '.tbss')):
        continue
    path = path.strip()
    if '(' in path:
        key = path.split('(')[0].split('/')[-1]
    elif '.build/' in path:
        key = path.split('/')[-2].removesuffix('.build')
    else:
        key = path.split('/')[-1]
    total[key] += int(size, 16)
print('| input | bytes in the runner |')
print('|---|---:|')
for key, size in total.most_common():
    if size >= 10_000:
        print(f'| {key} | {size:,} |')
print(f'| (all inputs under 10 KB) | {sum(s for s in total.values() if s < 10_000):,} |')
print(f'| **sum** | **{sum(total.values()):,}** |')
PY
echo
echo "runner: $(stat -c %s "$runner") bytes; relinked and stripped: $(stat -c %s "$work/runner.stripped") bytes"

if [ "${PROFILE:-0}" = 1 ] || [ "${EXAMPLES:-0}" = 1 ]; then
  INFRARED=$(realpath -m "${INFRARED:-$root/.build/release/infrared}")
  [ -x "$INFRARED" ] || { echo "no infrared binary at $INFRARED: run make build (or set INFRARED)" >&2; exit 1; }
fi
if [ "${PROFILE:-0}" = 1 ]; then
  # The README's run: `irburner` (gcc -O0) loops in burn_cpu_here while
  # swift-frontend compiles (a 210 MB executable with 250 k function symbols,
  # the largest symbol table the profile names).
  printf '%s\n' 'int burn_cpu_here(volatile unsigned long n) { unsigned long s = 0; for (unsigned long i = 0; i < n; i++) s += i; return (int)s; }' \
    'int main(void) { for (;;) burn_cpu_here(100000000); }' > "$work/burn.c"
  gcc -O0 -o "$work/irburner" "$work/burn.c"
  "$work/irburner" & burner=$!
  compiler=
  if command -v swiftc > /dev/null; then
    cat "$root"/Sources/InfraredObject/*.swift > "$work/typecheck.swift"
    (while :; do swiftc -typecheck -parse-as-library -module-name X "$work/typecheck.swift" > /dev/null 2>&1 || true; done) & compiler=$!
  fi
  sleep 1
  (cd "$work" && INFRARED_RUNNER=$runner "$INFRARED" gen loader "$root/Examples/profile.rb" -o profile \
     && /usr/bin/time -f '%M' -o rss ./profile --duration 5 --flamegraph out.svg > out.folded 2>/dev/null \
     && echo "profile loader: $(stat -c %s profile) bytes; peak RSS $(cat rss) KB (--duration 5 --flamegraph, irburner${compiler:+ and swiftc -typecheck} running);" \
             "$(wc -l < out.folded) folded stacks, $(grep -c '^swift-frontend;' out.folded || true) of swift-frontend;" \
             "irburner: $(grep '^irburner;' out.folded | sort -k2 -n | tail -1)")
  kill "$burner" ${compiler:+"$compiler"} 2> /dev/null || true
  wait "$burner" ${compiler:+"$compiler"} 2> /dev/null || true
fi

if [ "${EXAMPLES:-0}" = 1 ]; then
  v2=/sys/fs/cgroup; [ -d /sys/fs/cgroup/unified ] && v2=/sys/fs/cgroup/unified   # hybrid hierarchy
  cgroup=$v2/footprint.$$
  mkdir "$cgroup"
  trap 'rmdir "$cgroup"; rm -rf "$work"' EXIT
  echo
  echo '| example | loader bytes | peak RSS KB (--duration 2) |'
  echo '|---|---:|---:|'
  for rb in "$root"/Examples/*.rb; do
    name=$(basename "$rb" .rb)
    case $name in device_filter*) extra=(--cgroup "$cgroup") ;; xdp_count) extra=(--ifname lo) ;; *) extra=() ;; esac
    if ! INFRARED_RUNNER=$runner "$INFRARED" gen loader "$rb" -o "$work/$name" 2> "$work/$name.err"; then
      echo "| $name | gen loader failed: $(head -1 "$work/$name.err" | sed 's/|/\\|/g') | |"; continue
    fi
    if /usr/bin/time -f '%M' -o "$work/$name.rss" timeout -s INT 10 "$work/$name" --duration 2 "${extra[@]}" > /dev/null 2> "$work/$name.err"; then
      echo "| $name | $(stat -c %s "$work/$name") | $(tail -1 "$work/$name.rss") |"
    else
      echo "| $name | $(stat -c %s "$work/$name") | did not run: $(grep -v '^Command exited' "$work/$name.err" | tail -1 | sed 's/|/\\|/g') |"
    fi
  done
fi
