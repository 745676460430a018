#!/usr/bin/env bash
# BTF benchmark: load a kernel's BTF and resolve 1,000 member paths with
# Infrared's BTF model, side by side with bpftool reading the same file.
# Prints a markdown table (best of N runs for times; peak RSS from
# /usr/bin/time -v).
#
#   Benchmarks/btf-bench.sh [BTF-FILE]      # default /sys/kernel/btf/vmlinux
#
# Uses release builds: $INFRARED (the CLI, for whole commands) and
# $BTF_BENCH (Benchmarks/btf-bench, the in-process workload) if set, else
# builds them with `swift build -c release --scratch-path .build-btf-release`.
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:-/sys/kernel/btf/vmlinux}
runs=${RUNS:-5}
die() { echo "btf-bench: error: $*" >&2; exit 1; }
[ -r "$file" ] || die "cannot read $file"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time; Scripts/setup.sh installs it)"
command -v bpftool >/dev/null || die "bpftool is missing"

infrared=${INFRARED:-}
if [ -z "$infrared" ]; then
  swift build -c release --scratch-path .build-btf-release --product infrared >/dev/null
  infrared=.build-btf-release/release/infrared
fi
btfbench=${BTF_BENCH:-}
if [ -z "$btfbench" ]; then
  swift build -c release --scratch-path .build-btf-release --product btf-bench >/dev/null
  btfbench=.build-btf-release/release/btf-bench
fi

# best wall-clock milliseconds of $runs runs of a command (output discarded)
best_ms() {
  local best=
  for _ in $(seq "$runs"); do
    local t0 t1 ms
    t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "$best"
}
# peak resident set size in MiB of one run
peak_mib() {
  /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}'
}

bench=$("$btfbench" "$file" --paths 1000 --rounds "$runs")
load_ms=$(sed -E 's/.*load_ms=([0-9.]+).*/\1/' <<<"$bench")
resolve_ms=$(sed -E 's/.*resolve_ms=([0-9.]+).*/\1/' <<<"$bench")
resolved=$(sed -E 's/.*resolved=([0-9]+).*/\1/' <<<"$bench")
types=$("$btfbench" "$file" --load-only | sed 's/types=//')

echo "BTF: \`$file\` ($(stat -L -c %s "$file" 2>/dev/null || wc -c <"$file") bytes, $types types); $(nproc) cores; best of $runs"
echo
echo "| what | tool | time | peak RSS |"
echo "|---|---|---:|---:|"
echo "| load + decode BTF (in process) | btf-bench | ${load_ms} ms | $(peak_mib "$btfbench" "$file" --load-only) MiB |"
echo "| resolve 1,000 member paths ($resolved resolved) | btf-bench | ${resolve_ms} ms | |"
echo "| whole command: dump raw | infrared btf dump | $(best_ms "$infrared" btf dump "$file") ms | $(peak_mib "$infrared" btf dump "$file") MiB |"
echo "| whole command: dump raw | bpftool btf dump file | $(best_ms bpftool btf dump file "$file") ms | $(peak_mib bpftool btf dump file "$file") MiB |"
echo "| whole command: dump C | infrared btf dump --format c | $(best_ms "$infrared" btf dump "$file" --format c) ms | $(peak_mib "$infrared" btf dump "$file" --format c) MiB |"
echo "| whole command: dump C | bpftool btf dump file … format c | $(best_ms bpftool btf dump file "$file" format c) ms | $(peak_mib bpftool btf dump file "$file" format c) MiB |"
