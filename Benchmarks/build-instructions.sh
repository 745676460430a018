#!/usr/bin/env bash
# Benchmarks/build-instructions.sh — the instructions a build executes
# (valgrind's callgrind, "Ir"), for Infrared and clang-14 on the probe files
# Benchmarks/scaling.sh generates. Unlike wall time, the count is the same
# on every run (to a few hundred thousand instructions out of millions: the
# runtime's hash seeds), so a change of 1 % is visible on a machine whose
# wall-clock noise is 10 %. It counts work, not time: cache misses, page
# faults and the back ends running on all cores are not in it, so the wall
# clock (scaling.sh) stays the measure of the issue's target; this is the
# one to compare two builds of the compiler with.
#
#   Benchmarks/build-instructions.sh [--base OLD_BINARY] [CELLS…]
#     CELLS: shape:size pairs (default: programs:1 programs:100 lines:1000
#            branchy:100 maps:100 maps:1000 loops:100 loops:1000)
#     --base: also count OLD_BINARY (another build of `infrared`) and print new/old
#     CLANG=none skips clang (it takes about 50× its wall time under callgrind).
#
# Needs valgrind (apt-get install valgrind). Our static binary's DWARF is
# not readable by valgrind 3.19, so a copy without debug sections is run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd); cd "$ROOT"
INFRARED=${INFRARED:-.build/release/infrared}; CLANG=${CLANG:-clang-14}; BASE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --base) BASE=$2; shift 2 ;;
    -*) echo "build-instructions.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
CELLS=${*:-"programs:1 programs:100 lines:1000 branchy:100 maps:100 maps:1000 loops:100 loops:1000"}
command -v valgrind >/dev/null || { echo "build-instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
[ -x "$INFRARED" ] || { echo "build-instructions.sh: no $INFRARED (make build)" >&2; exit 1; }
work=$(mktemp -d /tmp/infrared-instructions.XXXXXX); trap 'rm -rf "$work"' EXIT
strip --strip-debug -o "$work/infrared" "$INFRARED"
[ -n "$BASE" ] && strip --strip-debug -o "$work/base" "$BASE"
# The generator and header of scaling.sh, so both benchmarks build the same files.
awk '/<<.PY.$/{f=1;next} /^PY$/{if(f){exit}} f' Benchmarks/scaling.sh > "$work/gen.py"
awk '/cat > "\$work\/h.h" <<.H./{f=1;next} /^H$/{f=0} f' Benchmarks/scaling.sh > "$work/h.h"
count() {  # command… → instructions executed
  local out
  out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null) || { echo "build-instructions.sh: failed: $*" >&2; echo "$out" | tail -5 >&2; exit 1; }
  echo "$out" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
header="| shape | N | Infrared instructions | clang instructions | IR/clang |"; rule="|---|--:|--:|--:|--:|"
[ -n "$BASE" ] && { header="$header base instructions | new/base |"; rule="$rule--:|--:|"; }
echo "$header"; echo "$rule"
for cell in $CELLS; do
  shape=${cell%%:*}; n=${cell##*:}
  python3 "$work/gen.py" "$shape" "$n" "$work"
  ir=$(count "$work/infrared" build "$work/s.rb" -o "$work/s.o")
  if [ "$CLANG" = none ]; then cl="—"; ratio="—"
  else
    cl=$(count "$CLANG" -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -I"$work" -c "$work/s.bpf.c" -o "$work/c.o")
    ratio=$(python3 -c "print(f'{$ir/$cl:.3f}')")
  fi
  row="| $shape | $n | $ir | $cl | $ratio |"
  if [ -n "$BASE" ]; then
    base=$(count "$work/base" build "$work/s.rb" -o "$work/b.o")
    row="$row $base | $(python3 -c "print(f'{$ir/$base:.3f}')") |"
  fi
  echo "$row"
done
