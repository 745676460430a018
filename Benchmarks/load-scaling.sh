#!/usr/bin/env bash
# Benchmarks/load-scaling.sh — load-time scaling (issue 19): one object with
# N programs and N maps (program i `c_i[pid % 64] += 1` on the i-th
# syscalls/sys_enter_* tracepoint, each map a hash of its own), built by Infrared,
# then started RUNS times, in turn, as
#   - the tool `infrared gen loader` makes (the static runner + the object), and
#   - a C libbpf tool on `bpftool gen skeleton` of the same object
#     (open → load → attach, each phase timed with CLOCK_MONOTONIC);
# each run timed from exec to its "attached" line on stderr, then stopped
# with SIGINT. Prints a markdown table: medians and spread (min–max) for
# N = 1, 10, 100 (SIZES="…" to change).
#
#   INFRARED=.build/release/infrared INFRARED_RUNNER=.build-runner/release/infrared-runner RUNS=7 Benchmarks/load-scaling.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd); cd "$ROOT"
INFRARED=$(realpath -m "${INFRARED:-.build/release/infrared}")
RUNNER=$(realpath -m "${INFRARED_RUNNER:-.build-runner/release/infrared-runner}")
CLANG=${CLANG:-clang-14}
RUNS=${RUNS:-7}; SIZES=${SIZES:-"1 10 100"}
[ -x "$INFRARED" ] || { echo "load-scaling.sh: no $INFRARED (make build)" >&2; exit 1; }
[ -x "$RUNNER" ] || { echo "load-scaling.sh: no $RUNNER (make runner)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "load-scaling.sh: run as root (it loads BPF programs)" >&2; exit 1; }
work=$(mktemp -d /tmp/infrared-load-scaling.XXXXXX); trap 'rm -rf "$work"' EXIT
cd "$work"

for n in $SIZES; do
  python3 - "$n" > "p$n.rb" <<'PY'
import os, sys
n = int(sys.argv[1])
# One tracepoint each (a perf event takes at most 64 programs: E2BIG past that).
points = sorted(e for e in os.listdir("/sys/kernel/tracing/events/syscalls") if e.startswith("sys_enter_"))
assert len(points) >= n, f"{len(points)} syscall tracepoints, {n} wanted"
print('license "GPL"')
for i in range(n):
    print(f'map :c{i}, :hash, key: :u32, value: :u64, max_entries: 64')
for i in range(n):
    print(f'tracepoint "syscalls/{points[i]}", name: "p{i}" do |ctx|\n  c{i}[pid % 64] += 1\n  0\nend')
PY
  "$INFRARED" build "p$n.rb" -o "p$n.bpf.o"
  "$INFRARED" gen loader "p$n.rb" -o "ir$n" --runner "$RUNNER" > /dev/null
  bpftool gen skeleton "p$n.bpf.o" name "p$n" > "p$n.skel.h"
  cat > "c$n.c" <<C
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "p$n.skel.h"
static volatile sig_atomic_t stop;
static void on_signal(int s) { stop = 1; }
static double ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
int main(void) {
    signal(SIGINT, on_signal); signal(SIGTERM, on_signal);
    double t0 = ms();
    struct p$n *skel = p${n}__open();
    if (!skel) return 1;
    double t1 = ms();
    if (p${n}__load(skel)) { p${n}__destroy(skel); return 1; }
    double t2 = ms();
    if (p${n}__attach(skel)) { p${n}__destroy(skel); return 1; }
    double t3 = ms();
    fprintf(stderr, "attached open=%.2f load=%.2f attach=%.2f\n", t1 - t0, t2 - t1, t3 - t2);
    while (!stop) pause();
    p${n}__destroy(skel);
    return 0;
}
C
  "$CLANG" -O2 -I. "c$n.c" -o "c$n" -lbpf -lelf -lz
done

RUNS=$RUNS SIZES=$SIZES python3 - <<'PY'
import os, re, signal, statistics, subprocess, time
runs, sizes = int(os.environ["RUNS"]), os.environ["SIZES"].split()
def start(argv):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    t = (time.monotonic() - t0) * 1e3
    if "attached" not in line:
        raise SystemExit(f"{argv[0]}: no 'attached' line: {line}{p.stderr.read()}")
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    return t, line
def cell(xs): return f"{statistics.median(xs):.1f} ({min(xs):.1f}–{max(xs):.1f})"
print(f"| N programs + N maps | generated loader: exec → attached, ms | C skeleton tool: exec → attached, ms | C: open / load / attach, ms (median) | loader/C |")
print("|--:|--:|--:|--:|--:|")
for n in sizes:
    ir, c, phases = [], [], []
    for _ in range(runs):   # in turn, so drift hits both
        t, _ = start([f"./ir{n}"]); ir.append(t)
        t, line = start([f"./c{n}"]); c.append(t)
        phases.append([float(v) for v in re.findall(r"=([0-9.]+)", line)])
    ph = " / ".join(f"{statistics.median(p[i] for p in phases):.1f}" for i in range(3))
    print(f"| {n} | {cell(ir)} | {cell(c)} | {ph} | {statistics.median(ir) / statistics.median(c):.2f} |")
PY
