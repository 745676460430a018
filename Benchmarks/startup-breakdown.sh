#!/usr/bin/env bash
# startup-breakdown.sh — where a generated loader's start-up goes, step by
# step, beside the C libbpf skeleton tool of the same object.
#
# The probe is loader-bench.sh's execsnoop (one tracepoint, a 1 MiB ring
# buffer, CO-RE). A Python harness takes CLOCK_MONOTONIC, then starts the
# tool with that time in INFRARED_STARTUP_T0; each tool notes how long
# after it each step ended and prints the notes once attached:
#
#   loader (StartupTrace in InfraredLoader)   C tool (same marks by hand)
#   main      Swift runtime up, main entered  main     main() entered
#   payload   payload read, CRC-32 checked    -
#   manifest  manifest JSON decoded           -
#   options   command line parsed             -
#   open      libbpf bpf_object open (BTF,    open     NAME__open()
#             relocations, .rodata)
#   load      bpf_object__load (maps, CO-RE,  load     NAME__load()
#             verifier)
#   attach    every program attached          attach   NAME__attach()
#   readers   ring/perf buffer readers open   readers  ring_buffer__new()
#
# Times are cumulative milliseconds from the harness's clock reading before
# fork+exec (so both include the same Python spawn cost). Rounds alternate
# the two tools; the table gives each step's median and the spread
# (min–max) over the rounds; every round's raw numbers go to
# Benchmarks/results/startup-rounds.tsv (committed with the table). Two runs
# are SETTLE seconds apart (default 1): the kernel frees a tool's objects
# after it exits, and a tool started meanwhile is slowed by it.
#
# With --programs N the probe is instead load-scaling.sh's object of N
# programs and N hash maps (program i: `c_i[pid % 64] += 1` on the i-th
# syscalls/sys_enter_* tracepoint; no ring buffer, so `readers` is the end of
# attach), to see which steps grow with the object.
#
#   Benchmarks/startup-breakdown.sh              # 30 rounds, writes RESULTS.md section + raw rounds
#   Benchmarks/startup-breakdown.sh --programs 100   # writes its own section and startup-rounds-100.tsv
#   Benchmarks/startup-breakdown.sh --rounds 10 --no-write
# Needs root, clang-14, bpftool, python3, a static runner (make runner) and
# the CLI (make build, or INFRARED=…).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ROUNDS=30 WRITE=1 PROGRAMS=0
SETTLE=${SETTLE:-1}   # seconds between two tools' runs, for the kernel to finish freeing the last one's objects
COMMAND="Benchmarks/startup-breakdown.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift ;;
    --programs) PROGRAMS=$2; shift ;;
    --no-write) WRITE=0 ;;
    *) echo "usage: $0 [--rounds N] [--programs N] [--no-write]" >&2; exit 2 ;;
  esac
  shift
done
INFRARED=${INFRARED:-}
if [ -z "$INFRARED" ]; then
  for c in .build/release/infrared .build/debug/infrared; do [ -x "$c" ] && { INFRARED=$root/$c; break; }; done
fi
[ -x "${INFRARED:-}" ] || { echo "no infrared binary: run make build (or set INFRARED)" >&2; exit 1; }
INFRARED=$(realpath -m "$INFRARED")
RUNNER=$(realpath -m "${INFRARED_RUNNER:-$root/.build-runner/release/infrared-runner}")
[ -x "$RUNNER" ] || { echo "no static runner at $RUNNER: run make runner (or set INFRARED_RUNNER)" >&2; exit 1; }
CLANG=${CLANG:-clang-14}

work=$(mktemp -d /tmp/startup-breakdown.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

cat > execsnoop.rb <<'RUBY'
license "GPL"
struct :Event do
  u32  :pid
  u32  :ppid
  char :comm, 16
  char :filename, 64
end
map :events, :ringbuf, max_entries: 256 * 4096
tracepoint "sched/sched_process_exec" do |ctx|
  e = events.reserve(Event)
  e.pid = pid
  e.ppid = current_task.real_parent.tgid
  e.comm = comm
  e.filename = ctx.filename
  events.submit(e)
  0
end
RUBY
RINGBUF=-DRINGBUF PROBE="execsnoop (one tracepoint, CO-RE, 1 MiB ring buffer)" SUFFIX=""
if [ "$PROGRAMS" != 0 ]; then
  python3 - "$PROGRAMS" > execsnoop.rb <<'PY'
import os, sys
n = int(sys.argv[1])
points = sorted(e for e in os.listdir("/sys/kernel/tracing/events/syscalls") if e.startswith("sys_enter_"))
assert len(points) >= n, f"{len(points)} syscall tracepoints, {n} wanted"
print('license "GPL"')
for i in range(n):
    print(f'map :c{i}, :hash, key: :u32, value: :u64, max_entries: 64')
for i in range(n):
    print(f'tracepoint "syscalls/{points[i]}", name: "p{i}" do |ctx|\n  c{i}[pid % 64] += 1\n  0\nend')
PY
  RINGBUF="" PROBE="$PROGRAMS programs and $PROGRAMS hash maps (load-scaling.sh's object)" SUFFIX="-$PROGRAMS"
fi
"$INFRARED" build execsnoop.rb -o execsnoop.bpf.o
bpftool gen skeleton execsnoop.bpf.o name execsnoop > execsnoop.skel.h
cat > execsnoop.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "execsnoop.skel.h"
static unsigned long long t0, at[5];
static const char *step[5] = { "main", "open", "load", "attach", "readers" };
static int n;
static void mark(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    at[n++] = ts.tv_sec * 1000000000ull + ts.tv_nsec;
}
static volatile sig_atomic_t stop;
static void on_signal(int s) { stop = 1; }
static int handle(void *ctx, void *data, size_t size) { return 0; }
int main(void) {
    mark();
    const char *e = getenv("INFRARED_STARTUP_T0");
    t0 = e ? strtoull(e, NULL, 10) : 0;
    signal(SIGINT, on_signal); signal(SIGTERM, on_signal);
    struct execsnoop *skel = execsnoop__open();
    if (!skel) return 1;
    mark();
    if (execsnoop__load(skel)) return 1;
    mark();
    if (execsnoop__attach(skel)) return 1;
    mark();
#ifdef RINGBUF
    struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), handle, NULL, NULL);
#endif
    mark();
    for (int i = 0; i < n; i++) fprintf(stderr, "startup: %s %.3f\n", step[i], (at[i] - t0) / 1e6);
    fprintf(stderr, "attached\n");
#ifdef RINGBUF
    while (!stop) ring_buffer__poll(rb, 100);
    ring_buffer__free(rb);
#else
    while (!stop) pause();
#endif
    execsnoop__destroy(skel);
    return 0;
}
C
"$CLANG" -O2 $RINGBUF -I. execsnoop.c -o execsnoop-c -lbpf -lelf -lz
"$INFRARED" gen loader execsnoop.rb -o execsnoop --runner "$RUNNER" > /dev/null

cat > bench.py <<'PY'
import os, signal, statistics, subprocess, sys, time
ROUNDS = int(sys.argv[1])
SETTLE = float(sys.argv[2])
TOOLS = {"loader": ["./execsnoop", "--quiet"], "c": ["./execsnoop-c"]}
rows = []   # (tool, round, step, ms)
for r in range(ROUNDS):
    for name in (["loader", "c"] if r % 2 == 0 else ["c", "loader"]):
        env = dict(os.environ)
        t0 = time.monotonic_ns()
        env["INFRARED_STARTUP_T0"] = str(t0)
        p = subprocess.Popen(TOOLS[name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        steps = []
        for line in p.stderr:
            if line.startswith("startup: "):
                _, step, ms = line.split()
                steps.append((step, float(ms)))
                if step == "readers":
                    break
        p.send_signal(signal.SIGINT)
        p.wait(timeout=10)
        # The kernel frees the round's programs, maps and perf events after
        # the tool exits (deferred work): starting the next tool at once had
        # some rounds of either tool overlap it, 16 or 25 ms for the same step.
        time.sleep(SETTLE)
        if not steps or steps[-1][0] != "readers":
            sys.exit(f"{name}: round {r}: no startup lines (exit {p.returncode})")
        rows += [(name, r, s, ms) for s, ms in steps]
with open("rounds.tsv", "w") as f:
    f.write("tool\tround\tstep\tms_since_exec\n")
    for row in rows:
        f.write("%s\t%d\t%s\t%.3f\n" % row)
order = ["main", "payload", "manifest", "options", "open", "load", "attach", "readers"]
def stats(tool, step):
    v = [ms for t, _, s, ms in rows if t == tool and s == step]
    return (statistics.median(v), min(v), max(v)) if v else None
def cell(x):
    return "%.2f (%.2f–%.2f)" % x if x else "–"
def delta(tool, step):
    """Median over rounds of this step's own time (its mark minus the previous mark)."""
    d = []
    for r in range(ROUNDS):
        marks = [(s, ms) for t, rr, s, ms in rows if t == tool and rr == r]
        for i, (s, ms) in enumerate(marks):
            if s == step:
                d.append(ms - (marks[i - 1][1] if i else 0.0))
    return "%.2f" % statistics.median(d) if d else "–"
print("| step | loader: ms since exec, median (min–max) | loader: step ms | C tool: ms since exec, median (min–max) | C tool: step ms |")
print("|---|--:|--:|--:|--:|")
for s in order:
    print(f"| {s} | {cell(stats('loader', s))} | {delta('loader', s)} | {cell(stats('c', s))} | {delta('c', s)} |")
l, c = stats("loader", "readers")[0], stats("c", "readers")[0]
print(f"\nexec → attached and reading (median of {ROUNDS} rounds): loader {l:.2f} ms, C tool {c:.2f} ms, ratio {l / c:.2f}")
# Some rounds of either tool are slower by several ms in one step (load,
# usually), the machine's doing rather than the tool's: the rounds'
# distribution is then two humps, and which one the median falls in is
# luck. The lower quartile and the minimum show the tools' own cost.
def low(tool):
    v = sorted(ms for t, _, s, ms in rows if t == tool and s == "readers")
    return statistics.quantiles(v, n=4)[0], v[0]
(lq, lm), (cq, cm) = low("loader"), low("c")
print(f"lower quartile: loader {lq:.2f} ms, C tool {cq:.2f} ms, ratio {lq / cq:.2f}; minimum: loader {lm:.2f} ms, C tool {cm:.2f} ms, ratio {lm / cm:.2f}")
PY
table=$(python3 bench.py "$ROUNDS" "$SETTLE")
sizes="loader $(stat -c %s execsnoop) bytes, C tool $(stat -c %s execsnoop-c) bytes (+ shared libbpf/libelf/libz)"
echo "$table"
echo "$sizes"
if [ "$WRITE" = 1 ]; then
  mkdir -p "$root/Benchmarks/results"
  cp rounds.tsv "$root/Benchmarks/results/startup-rounds$SUFFIX.tsv"
  title="## Start-up breakdown (issue 19)"
  [ "$PROGRAMS" = 0 ] || title="## Start-up breakdown, $PROGRAMS programs (issue 19)"
  section=$(cat <<EOF
$title

Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -r), $(nproc) CPUs, with:

\`\`\`sh
$COMMAND
\`\`\`

$PROBE: the generated loader
against the C libbpf skeleton tool of the same object, rounds alternating.
Milliseconds since the harness read CLOCK_MONOTONIC before fork+exec, when
each step ended (median, min–max over $ROUNDS rounds, $SETTLE s apart), and each step's own
median. Raw rounds: [results/startup-rounds$SUFFIX.tsv](results/startup-rounds$SUFFIX.tsv).
Sizes: $sizes.

$table
EOF
)
  python3 - "$root/Benchmarks/RESULTS.md" "$section" "$title" <<'PY'
import re, sys
path, section, title = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
start = text.find(title + "\n")
if start >= 0:
    nxt = text.find("\n## ", start + 1)
    text = text[:start] + section.rstrip() + "\n" + (text[nxt:] if nxt >= 0 else "")
else:
    text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
open(path, "w").write(text)
PY
  echo "wrote Benchmarks/RESULTS.md and Benchmarks/results/startup-rounds$SUFFIX.tsv"
fi
