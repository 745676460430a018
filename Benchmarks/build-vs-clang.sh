#!/usr/bin/env bash
# Build time and instruction count: `infrared build` vs `clang-14 -O2 -g
# -target bpf` on the same programs (Benchmarks/corpus/NAME.rb and
# NAME.bpf.c), side by side from one run. Prints a markdown table.
#   RUNS=20 Benchmarks/build-vs-clang.sh
set -euo pipefail
cd "$(dirname "$0")/.."
INFRARED=${INFRARED:-.build/release/infrared}
CLANG=${CLANG:-clang-14}
RUNS=${RUNS:-10}
MULTIARCH="/usr/include/$(uname -m)-linux-gnu"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ms() { # median wall time in ms of RUNS runs of "$@"
  local times=()
  for _ in $(seq "$RUNS"); do
    local s=$(date +%s%N); "$@" >/dev/null 2>&1; local e=$(date +%s%N)
    times+=($(( (e - s) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}
insns() { # instruction slots in executable sections
  llvm-objdump-14 -d "$1" | grep -cE '^ +[0-9]+:'
}
echo "| probe | infrared build (ms) | clang -O2 (ms) | time ratio | infrared insns | clang insns | insn ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for rb in Benchmarks/corpus/*.rb; do
  name=$(basename "$rb" .rb); c="Benchmarks/corpus/$name.bpf.c"
  "$INFRARED" build "$rb" -o "$tmp/$name.ir.o"
  "$CLANG" -O2 -g -target bpf -I "$MULTIARCH" -c "$c" -o "$tmp/$name.clang.o"
  ti=$(ms "$INFRARED" build "$rb" -o "$tmp/$name.ir.o")
  tc=$(ms "$CLANG" -O2 -g -target bpf -I "$MULTIARCH" -c "$c" -o "$tmp/$name.clang.o")
  ni=$(insns "$tmp/$name.ir.o"); nc=$(insns "$tmp/$name.clang.o")
  echo "| $name | $ti | $tc | $(awk "BEGIN{printf \"%.2f\", $ti/$tc}") | $ni | $nc | $(awk "BEGIN{printf \"%.2f\", $ni/$nc}") |"
done
