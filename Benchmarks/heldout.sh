#!/usr/bin/env bash
# Benchmarks/heldout.sh — probes the optimizer was never tuned on.
#
# Benchmarks/heldout/NAME.rb and its C twin NAME.bpf.c (the same maps,
# types, filters and arithmetic; clang-14 -O2 with libbpf CO-RE) were
# written after the corpus, by people looking at the language docs rather
# than at the compiler, to see whether the corpus's instruction counts
# generalize. a_* and b_* were measured before the fixes they led to, c_*
# and d_* after those, e_* after the next (the notes in RESULTS.md). This
# prints, per probe,
# the instruction slots each emits and the instructions the verifier
# walked loading it (verified_insns, summed over programs; loaded with
# libbpf by Benchmarks/loader.c, attached where the section says how, no
# workload), and the geometric mean and maximum of the ratios.
#
# Usage (as root): Benchmarks/heldout.sh [NAME...]
# Environment: INFRARED (default .build/release/infrared), CLANG (clang-14),
# BPFTOOL (bpftool), OBJDUMP (llvm-objdump-14).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
INFRARED=${INFRARED:-.build/release/infrared}
CLANG=${CLANG:-clang-14}
BPFTOOL=${BPFTOOL:-bpftool}
OBJDUMP=${OBJDUMP:-llvm-objdump-14}
DIR=Benchmarks/heldout
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
gcc -O2 -Wall -o "$WORK/bench-loader" Benchmarks/loader.c -lbpf
"$BPFTOOL" btf dump file /sys/kernel/btf/vmlinux format c > "$WORK/vmlinux.h"
CFLAGS=(-O2 -g -target bpf -D__TARGET_ARCH_x86 -I "$WORK" -I Benchmarks/corpus -I "/usr/include/$(uname -m)-linux-gnu")
slots() {
  local total=0 size
  for size in $("$OBJDUMP" -h "$1" | awk '$NF == "TEXT" && NF >= 4 {print $3}'); do total=$(( total + 16#$size / 8 )); done
  echo "$total"
}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$DIR"/*.rb; do names+=("$(basename "$f" .rb)"); done
fi
echo "| probe | emitted Infrared | emitted clang | IR/clang | verified Infrared | verified clang | IR/clang |"
echo "|---|--:|--:|--:|--:|--:|--:|"
rows=()
for n in "${names[@]}"; do
  "$INFRARED" build "$DIR/$n.rb" -o "$WORK/$n.ir.o"
  # Two spellings of one probe share a twin: `# c-twin: NAME` in the .rb.
  twin=$(sed -n 's/^# c-twin: //p' "$DIR/$n.rb"); twin=${twin:-$n}
  "$CLANG" "${CFLAGS[@]}" -c "$DIR/$twin.bpf.c" -o "$WORK/$n.clang.o"
  ei=$(slots "$WORK/$n.ir.o"); ec=$(slots "$WORK/$n.clang.o")
  vi=$("$WORK/bench-loader" "$WORK/$n.ir.o" | jq -r .verified_insns)
  vc=$("$WORK/bench-loader" "$WORK/$n.clang.o" | jq -r .verified_insns)
  rows+=("$n $ei $ec $vi $vc")
  python3 -c "print(f'| $n | $ei | $ec | {$ei/$ec:.2f} | $vi | $vc | {$vi/$vc:.2f} |')"
done
printf '%s\n' "${rows[@]}" | python3 -c '
import sys, math
rows = [l.split() for l in sys.stdin if l.strip()]
e = [(r[0], int(r[1]) / int(r[2])) for r in rows]
v = [(r[0], int(r[3]) / int(r[4])) for r in rows]
g = lambda xs: math.exp(sum(math.log(x) for _, x in xs) / len(xs))
me, mv = max(e, key=lambda x: x[1]), max(v, key=lambda x: x[1])
print(f"| **geomean** ({len(rows)} probes) | | | **{g(e):.2f}** | | | **{g(v):.2f}** |")
print(f"| **max** | | | {me[1]:.2f} ({me[0]}) | | | {mv[1]:.2f} ({mv[0]}) |")
'
