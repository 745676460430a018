#!/usr/bin/env bash
# Benchmarks/userspace-scaling.sh — user-space scaling (issue 19): what the
# tools cost on the user side when the kernel side hands them a lot.
#
#   1. A hash map of ENTRIES (default 1,000,000) entries printed at exit.
#      One probe (`m[ctx.offset] += 1` on syscalls/sys_enter_lseek for one
#      pid, key u64 → u64, max_entries 1,048,576); a workload calls
#      lseek(fd, i, SEEK_SET) for i in 0..<ENTRIES, so the map holds exactly
#      ENTRIES keys, each counted once. Then SIGINT, and the tool prints the
#      map. Measured for each tool, in turn in each round:
#        - exit ms: from SIGINT to the process's exit (wait4);
#        - RSS before SIGINT (VmRSS) and peak RSS (ru_maxrss, from wait4 in
#          a small wrapper, `peak`: a child of the harness itself would
#          carry the harness's peak across exec);
#        - entries printed: the output parsed, every key 0..<ENTRIES exactly
#          once with value 1 (a tool that prints fewer or other is marked);
#      for the generated loader (`infrared gen loader`, text and
#      `--format json`), `infrared run` (text), bpftrace 0.17
#      (`@m[args->offset] = count()`, BPFTRACE_MAP_KEYS_MAX=1048576: its
#      default is 4096) and a C libbpf tool on `bpftool gen skeleton` of the
#      same object (bpf_map_get_next_key + bpf_map_lookup_elem + printf: what
#      the same printing costs in C). And one Prometheus scrape of the
#      loader's `--metrics` (curl: time and bytes; samples counted the same
#      way), then its exit.
#   2. Ring buffer sustained rate. A producer calls getpid(2) at a fixed
#      rate (RATES, default 10k 100k 300k 1M a second) for SECONDS_PER_RATE (3 s),
#      paced by CLOCK_MONOTONIC every 64 calls; the probe reserves a 32-byte
#      record (pid, cpu, ts, comm) in a 4 MiB ring buffer for each call
#      of that pid and counts failed reserves (Infrared's compiled fault
#      counter, `__infrared_faults`). The consumer prints each record as a
#      JSON line to a file: the generated loader (`--format json`; lost
#      records from its `{"faults":[…]}` line at exit) and a C libbpf tool on
#      the skeleton of the same object (ring_buffer__poll, printf of the
#      same JSON, fflush after each poll; lost records read from the same
#      fault counter at exit). Measured: records delivered, lost (delivered
#      + lost must equal the producer's calls: checked), the rate the
#      producer reached, and the consumer's CPU (utime + stime from
#      /proc/PID/stat, from the start of production to the last record
#      written, per second of production, in % of one CPU, and per record
#      delivered, in ns; /proc counts 10 ms ticks).
# Every measure is the median of RUNS rounds (default 3) with its spread
# (min–max) over the rounds: the machine's noise. Prints markdown tables
# and writes (or replaces) the section "## User-space scaling (issue 19)" of
# Benchmarks/RESULTS.md. Needs root, clang-14, bpftool, bpftrace, curl,
# python3.
#
# Usage (as root):
#   INFRARED=path/to/infrared INFRARED_RUNNER=path/to/infrared-runner Benchmarks/userspace-scaling.sh
#   Benchmarks/userspace-scaling.sh --quick --no-write   # 100,000 entries, 1 round, 1 s a rate
# Options:
#   --quick        ENTRIES=100000, RUNS=1, SECONDS=1
#   --runs N       rounds (default 3)
#   --entries N    map entries (default 1000000; at most 1048576)
#   --no-write     print the tables but do not write Benchmarks/RESULTS.md
# Environment: INFRARED (default .build/release/infrared), INFRARED_RUNNER
# (default .build-runner/release/infrared-runner), CLANG (clang-14),
# RATES ("10000 100000 300000 1000000"), SECONDS_PER_RATE (3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd); cd "$ROOT"
COMMAND="${INFRARED:+INFRARED=$INFRARED }${INFRARED_RUNNER:+INFRARED_RUNNER=$INFRARED_RUNNER }${RATES:+RATES=\"$RATES\" }${SECONDS_PER_RATE:+SECONDS_PER_RATE=$SECONDS_PER_RATE }Benchmarks/userspace-scaling.sh $*"
INFRARED=$(realpath -m "${INFRARED:-.build/release/infrared}")
RUNNER=$(realpath -m "${INFRARED_RUNNER:-.build-runner/release/infrared-runner}")
CLANG=${CLANG:-clang-14}
RUNS=3 ENTRIES=1000000 WRITE=1
RATES=${RATES:-"10000 100000 300000 1000000"}
SECS=${SECONDS_PER_RATE:-3}
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) RUNS=1; ENTRIES=100000; SECS=1 ;;
    --runs) RUNS=$2; shift ;;
    --entries) ENTRIES=$2; shift ;;
    --no-write) WRITE=0 ;;
    *) echo "userspace-scaling.sh: unknown option $1" >&2; exit 1 ;;
  esac
  shift
done
[ -x "$INFRARED" ] || { echo "userspace-scaling.sh: no $INFRARED (make build, or set INFRARED)" >&2; exit 1; }
[ -x "$RUNNER" ] || { echo "userspace-scaling.sh: no $RUNNER (make runner, or set INFRARED_RUNNER)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "userspace-scaling.sh: run as root (it loads BPF programs)" >&2; exit 1; }
[ "$ENTRIES" -le 1048576 ] || { echo "userspace-scaling.sh: --entries is at most 1048576 (the map's max_entries)" >&2; exit 1; }
for t in "$CLANG" bpftool bpftrace curl python3; do
  command -v "$t" > /dev/null || { echo "userspace-scaling.sh: needs $t" >&2; exit 1; }
done

work=$(mktemp -d /tmp/infrared-userspace-scaling.XXXXXX)
bench_pid=""
cleanup() {
  # The harness kills the tools and workloads it started when it gets SIGTERM.
  if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then kill -TERM "$bench_pid"; wait "$bench_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$work"

# --- probes -------------------------------------------------------------------
cat > m.rb <<'RUBY'
license "GPL"
param :target_pid, :u32, default: 0
map :m, :hash, key: :u64, value: :u64, max_entries: 1048576
tracepoint "syscalls/sys_enter_lseek" do |ctx|
  m[ctx.offset] += 1 if pid == target_pid
  0
end
RUBY
cat > rb.rb <<'RUBY'
license "GPL"
param :target_pid, :u32, default: 0
struct :Rec do
  u32  :pid
  u32  :cpu
  u64  :ts
  char :comm, 16
end
map :events, :ringbuf, max_entries: 4 * 1024 * 1024
tracepoint "syscalls/sys_enter_getpid" do |ctx|
  if pid == target_pid
    e = events.reserve(Rec)
    e.pid = pid
    e.cpu = cpu
    e.ts = ktime_ns
    e.comm = comm
    events.submit(e)
  end
  0
end
RUBY
for p in m rb; do
  "$INFRARED" build "$p.rb" -o "$p.bpf.o"
  "$INFRARED" gen loader "$p.rb" -o "$p-ir" --runner "$RUNNER" > /dev/null
  bpftool gen skeleton "$p.bpf.o" name "$p" > "$p.skel.h"
done

# --- C tools on the skeletons of the same objects -----------------------------
cat > common.h <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
static volatile sig_atomic_t stop;
static void on_signal(int s) { stop = 1; }
/* The sum of Infrared's fault counters (per-CPU u64s, one slot a site). */
static unsigned long long faults(struct bpf_object *obj) {
    struct bpf_map *map = bpf_object__find_map_by_name(obj, "__infrared_faults");
    if (!map) return 0;
    int cpus = libbpf_num_possible_cpus();
    unsigned long long sum = 0, *v = calloc(cpus, sizeof *v);
    for (unsigned int k = 0; k < bpf_map__max_entries(map); k++)
        if (bpf_map_lookup_elem(bpf_map__fd(map), &k, v) == 0)
            for (int c = 0; c < cpus; c++) sum += v[c];
    free(v);
    return sum;
}
C
cat > m-c.c <<'C'
#include "common.h"
#include "m.skel.h"
/* m-c PID: counts PID's lseek offsets; at SIGINT prints the map as the loader does. */
int main(int argc, char **argv) {
    signal(SIGINT, on_signal); signal(SIGTERM, on_signal);
    struct m *skel = m__open();
    if (!skel) return 1;
    skel->rodata->target_pid = atoi(argv[1]);
    if (m__load(skel) || m__attach(skel)) { m__destroy(skel); return 1; }
    fprintf(stderr, "m-c: attached\n");
    while (!stop) pause();
    int fd = bpf_map__fd(skel->maps.m);
    unsigned long long key, next, value;
    void *prev = NULL;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, &value) == 0) printf("m[%llu]: %llu\n", next, value);
        key = next; prev = &key;
    }
    m__destroy(skel);
    return 0;
}
C
cat > rb-c.c <<'C'
#include "common.h"
#include "rb.skel.h"
struct rec { unsigned int pid, cpu; unsigned long long ts; char comm[16]; };
static int handle(void *ctx, void *data, size_t size) {
    const struct rec *e = data;
    printf("{\"pid\":%u,\"cpu\":%u,\"ts\":%llu,\"comm\":\"%s\"}\n", e->pid, e->cpu, e->ts, e->comm);
    return 0;
}
/* rb-c PID: prints PID's records as JSON lines; at SIGINT the lost count on stderr. */
int main(int argc, char **argv) {
    signal(SIGINT, on_signal); signal(SIGTERM, on_signal);
    struct rb *skel = rb__open();
    if (!skel) return 1;
    skel->rodata->target_pid = atoi(argv[1]);
    if (rb__load(skel) || rb__attach(skel)) { rb__destroy(skel); return 1; }
    fprintf(stderr, "rb-c: attached\n");
    struct ring_buffer *ring = ring_buffer__new(bpf_map__fd(skel->maps.events), handle, NULL, NULL);
    while (!stop) { ring_buffer__poll(ring, 100); fflush(stdout); }
    ring_buffer__consume(ring); fflush(stdout);
    fprintf(stderr, "rb-c: lost %llu\n", faults(skel->obj));
    ring_buffer__free(ring);
    rb__destroy(skel);
    return 0;
}
C
for p in m rb; do "$CLANG" -O2 -I. "$p-c.c" -o "$p-c" -lbpf -lelf -lz; done

# --- workloads ----------------------------------------------------------------
cat > seek.c <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
/* seek N: waits for a line on stdin, then lseek(fd, i, SEEK_SET) for i in 0..<N. */
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    int fd = open("/dev/null", O_RDONLY);
    char line[16];
    if (fd < 0 || !fgets(line, sizeof line, stdin)) return 1;
    for (long i = 0; i < n; i++) lseek(fd, i, SEEK_SET);
    return 0;
}
C
cat > pace.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
/* pace RATE SECONDS: waits for a line on stdin, then calls getpid(2) RATE
 * times a second for SECONDS (caught up to RATE x elapsed every 64 calls,
 * sleeping 100 us when ahead); prints "CALLS ELAPSED_S". */
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    double rate = atof(argv[1]), secs = atof(argv[2]);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1;
    long done = 0, total = (long)(rate * secs);
    double t0 = now(), el = 0;
    while (done < total) {
        el = now() - t0;
        long due = (long)(rate * el);
        if (due > total) due = total;
        if (done >= due) { struct timespec s = {0, 100000}; nanosleep(&s, NULL); continue; }
        for (int i = 0; i < 64 && done < due; i++, done++) syscall(SYS_getpid);
    }
    printf("%ld %.6f\n", done, now() - t0);
    return 0;
}
C
cat > peak.c <<'C'
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
/* peak FILE CMD ARGS...: runs CMD, passes SIGINT/SIGTERM on to it, and writes
 * its peak RSS (KB, wait4's ru_maxrss) to FILE; exits with CMD's status. CMD is
 * forked from this small process, not from the harness: Linux carries a
 * process's peak RSS across exec, so a child of the (large) harness would
 * report the harness's. */
static pid_t child;
static void pass(int s) { kill(child, s); }
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    if ((child = fork()) == 0) { execvp(argv[2], argv + 2); perror(argv[2]); _exit(127); }
    signal(SIGINT, pass); signal(SIGTERM, pass);
    int status; struct rusage ru;
    while (wait4(child, &status, 0, &ru) < 0) {}
    FILE *f = fopen(argv[1], "w");
    if (!f) return 2;
    fprintf(f, "%ld\n", ru.ru_maxrss);
    fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
C
"$CLANG" -O2 seek.c -o seek
"$CLANG" -O2 peak.c -o peak
"$CLANG" -O2 pace.c -o pace

# --- the measurements -----------------------------------------------------------
cat > bench.py <<'PY'
import json, os, re, signal, statistics, subprocess, sys, time

RUNS, ENTRIES, SECS = int(os.environ["RUNS"]), int(os.environ["ENTRIES"]), float(os.environ["SECS"])
RATES = [int(r) for r in os.environ["RATES"].split()]
INFRARED = os.environ["INFRARED"]
TICK = os.sysconf("SC_CLK_TCK")
children = []

def stop_children(*_):
    for p in children:
        if p.poll() is None: p.kill()
    sys.exit(130)
signal.signal(signal.SIGTERM, stop_children)
signal.signal(signal.SIGINT, stop_children)

def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw); children.append(p); return p

def wait_line(p, word, timeout=60):
    """Reads p's stderr until a line containing word (p's start-up message)."""
    lines = []
    for line in p.stderr:
        lines.append(line)
        if word in line: return
    raise SystemExit(f"{p.args[0]}: no '{word}' line: {''.join(lines)}")

def vmrss_kb(wrapper):
    """VmRSS of the tool `./peak` runs."""
    pid = open(f"/proc/{wrapper}/task/{wrapper}/children").read().split()[0]
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])
    return 0

def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])   # utime, stime (fields 14 and 15)

def stop_and_wait(p):
    """SIGINT, then (seconds to exit, exit status)."""
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    p.wait()
    return time.monotonic() - t0, p.returncode

TEXT = re.compile(rb"@?m\[([0-9]+)\]: ([0-9]+)\n")
def entries_text(path):
    """Map entries printed as `m[K]: V` lines (bpftrace: `@m[K]: V`): the count
    if the keys are exactly 0..<ENTRIES, each with value 1, else a description."""
    keys, other = set(), 0
    with open(path, "rb") as f:
        for line in f:
            m = TEXT.fullmatch(line)
            if m and m.group(2) == b"1": keys.add(int(m.group(1)))
            elif m: other += 1
    return check(keys, other)

def entries_json(path):
    keys, other = set(), 0
    for line in open(path):
        obj = json.loads(line)
        if obj.get("map") == "m":
            for e in obj["entries"]:
                if e["value"] == 1: keys.add(e["key"])
                else: other += 1
    return check(keys, other)

METRIC = re.compile(rb'[a-z_]*_m\{key="([0-9]+)"\} ([0-9]+)\n')
def entries_metrics(path):
    keys, other = set(), 0
    with open(path, "rb") as f:
        for line in f:
            m = METRIC.fullmatch(line)
            if m and m.group(2) == b"1": keys.add(int(m.group(1)))
            elif m: other += 1
    return check(keys, other)

def check(keys, other):
    if len(keys) == ENTRIES and min(keys) == 0 and max(keys) == ENTRIES - 1 and other == 0:
        return len(keys), ""
    return len(keys), f"{len(keys):,} keys with value 1, {other} others, expected exactly 0..<{ENTRIES:,}"

def fill(argv, ready, metrics=None, env=None, parse=entries_text):
    """Starts the tool for a fresh seek workload, fills the map, (scrapes), stops it."""
    seek = spawn(["./seek", str(ENTRIES)], stdin=subprocess.PIPE, text=True)
    out = open("out.txt", "w")
    p = spawn(["./peak", "peak.txt"] + [a.replace("PID", str(seek.pid)) for a in argv], stdout=out, stderr=subprocess.PIPE, text=True, env=env)
    if ready == "bpftrace":
        # bpftrace prints "Attaching 1 probe..." to stdout before it attaches;
        # the entry check below fails if it attached late.
        while "Attaching" not in open("out.txt").read():
            if p.poll() is not None: raise SystemExit(f"bpftrace failed: {p.stderr.read()}")
            time.sleep(0.01)
        time.sleep(1)
    else:
        wait_line(p, "attached")
    seek.communicate("go\n")
    if seek.returncode != 0: raise SystemExit("seek failed")
    time.sleep(0.2)
    r = {"rss": vmrss_kb(p.pid)}
    if metrics:
        t0 = time.monotonic()
        c = subprocess.run(["curl", "-sS", "-o", "metrics.txt", f"http://{metrics}/metrics"], capture_output=True, text=True)
        r["scrape"] = time.monotonic() - t0
        if c.returncode != 0: raise SystemExit(f"curl: {c.stderr}")
        r["bytes"] = os.path.getsize("metrics.txt")
        r["entries"], r["note"] = entries_metrics("metrics.txt")
        r["rss_after"] = vmrss_kb(p.pid)
    r["exit"], status = stop_and_wait(p)
    r["peak"] = int(open("peak.txt").read())
    out.close()
    if status != 0: raise SystemExit(f"{argv[0]} exited with {status}: {p.stderr.read()}")
    if not metrics:
        r["out_bytes"] = os.path.getsize("out.txt")
        r["entries"], r["note"] = parse("out.txt")
    return r

def cell(xs, fmt="{:,.0f}"):
    xs = sorted(xs)
    med = statistics.median(xs)
    return fmt.format(med) if len(xs) == 1 else f"{fmt.format(med)} ({fmt.format(xs[0])}–{fmt.format(xs[-1])})"

# --- 1. the map of ENTRIES entries ---------------------------------------------
bt_env = dict(os.environ, BPFTRACE_MAP_KEYS_MAX="1048576")
tools = [
    ("generated loader, text", ["./m-ir", "--target-pid", "PID"], "attached", None, entries_text),
    ("generated loader, `--format json`", ["./m-ir", "--format", "json", "--target-pid", "PID"], "attached", None, entries_json),
    ("`infrared run`, text", [INFRARED, "run", "m.rb", "--target-pid", "PID"], "attached", None, entries_text),
    ("bpftrace", ["bpftrace", "-e", "tracepoint:syscalls:sys_enter_lseek /pid == PID/ { @m[args->offset] = count(); }"], "bpftrace", bt_env, entries_text),
    ("C libbpf tool (get_next_key + lookup + printf)", ["./m-c", "PID"], "attached", None, entries_text),
]
results = {name: [] for name, *_ in tools}
scrapes = []
for rnd in range(RUNS):   # in turn, so drift hits every tool
    for name, argv, ready, env, parse in tools:
        results[name].append(fill(argv, ready, env=env, parse=parse))
        print(f"round {rnd + 1}: {name}: {results[name][-1]}", file=sys.stderr)
    scrapes.append(fill(["./m-ir", "--metrics", "127.0.0.1:19119", "--target-pid", "PID"], "attached", metrics="127.0.0.1:19119"))
    print(f"round {rnd + 1}: metrics: {scrapes[-1]}", file=sys.stderr)

def entries_cell(rs):
    notes = sorted({r["note"] for r in rs if r["note"]})
    return f"{min(r['entries'] for r in rs):,}" + (f" (**{'; '.join(notes)}**)" if notes else "")

print(f"| tool: {ENTRIES:,}-entry hash map printed at exit | SIGINT → exit, ms | RSS before SIGINT, MB | peak RSS, MB | output, MB | entries printed (min over rounds) |")
print("|---|--:|--:|--:|--:|--:|")
for name, *_ in tools:
    rs = results[name]
    print(f"| {name} | {cell([r['exit'] * 1e3 for r in rs])} | {cell([r['rss'] / 1024 for r in rs], '{:,.1f}')} | "
          f"{cell([r['peak'] / 1024 for r in rs], '{:,.1f}')} | {cell([r['out_bytes'] / 1e6 for r in rs], '{:,.1f}')} | {entries_cell(rs)} |")
print()
print(f"| generated loader `--metrics`: one scrape of /metrics with the {ENTRIES:,}-entry map | scrape (curl), ms | bytes | samples of `m` | VmRSS before → after the scrape, MB | peak RSS, MB | then SIGINT → exit, ms |")
print("|---|--:|--:|--:|--:|--:|--:|")
print(f"| `./m-ir --metrics 127.0.0.1:19119` | {cell([r['scrape'] * 1e3 for r in scrapes])} | {cell([r['bytes'] for r in scrapes])} | "
      f"{entries_cell(scrapes)} | {cell([r['rss'] / 1024 for r in scrapes], '{:,.1f}')} → {cell([r['rss_after'] / 1024 for r in scrapes], '{:,.1f}')} | "
      f"{cell([r['peak'] / 1024 for r in scrapes], '{:,.1f}')} | {cell([r['exit'] * 1e3 for r in scrapes])} |")
print()
sys.stdout.flush()

# --- 2. the ring buffer at fixed rates ------------------------------------------
RECORD = re.compile(rb'\{"pid":([0-9]+),"cpu":[0-9]+,"ts":[0-9]+,"comm":"pace"\}\n')
def ring(argv, rate, lost_of):
    prod = spawn(["./pace", str(rate), str(SECS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    out = open("ring.txt", "w")
    p = spawn([a.replace("PID", str(prod.pid)) for a in argv], stdout=out, stderr=subprocess.PIPE, text=True)
    wait_line(p, "attached")
    c0 = cpu_ticks(p.pid)
    prod.stdin.write("go\n"); prod.stdin.flush()
    t0 = time.monotonic()
    calls, elapsed = prod.communicate()[0].split()
    calls, elapsed = int(calls), float(elapsed)
    last_size, last_change, c1 = -1, time.monotonic(), c0
    while time.monotonic() - last_change < 0.3:   # drained: the file stops growing
        size = os.path.getsize("ring.txt")
        if size != last_size: last_size, last_change, c1 = size, time.monotonic(), cpu_ticks(p.pid)
        time.sleep(0.002)
    _, status = stop_and_wait(p)
    out.close()
    err = p.stderr.read()
    if status != 0: raise SystemExit(f"{argv[0]} exited with {status}: {err}")
    delivered, lost, other = 0, 0, 0
    with open("ring.txt", "rb") as f:
        for line in f:
            m = RECORD.fullmatch(line)
            if m and int(m.group(1)) == prod.pid: delivered += 1
            elif line.startswith(b'{"faults":'):
                lost += sum(x["count"] for x in json.loads(line)["faults"] if x["map"] == "events")
            else: other += 1
    lost += lost_of(err)
    return {"calls": calls, "rate": calls / elapsed, "delivered": delivered, "lost": lost, "other": other,
            "cpu": (c1 - c0) / TICK / elapsed * 100, "ns": (c1 - c0) / TICK / max(delivered, 1) * 1e9}

ring_tools = [
    ("generated loader, `--format json`", ["./rb-ir", "--format", "json", "--target-pid", "PID"], lambda err: 0),
    ("C libbpf tool, the same JSON", ["./rb-c", "PID"], lambda err: sum(int(x) for x in re.findall(r"rb-c: lost ([0-9]+)", err))),
]
ring_results = {(rate, name): [] for rate in RATES for name, *_ in ring_tools}
for rnd in range(RUNS):
    for rate in RATES:
        for name, argv, lost_of in ring_tools:
            ring_results[(rate, name)].append(ring(argv, rate, lost_of))
            print(f"round {rnd + 1}: {rate}/s {name}: {ring_results[(rate, name)][-1]}", file=sys.stderr)

print(f"| producer rate, getpid/s ({SECS:g} s) | reached, /s | consumer | delivered | lost | delivered + lost = calls | consumer CPU, % of one CPU | consumer CPU, ns/record |")
print("|--:|--:|---|--:|--:|---|--:|--:|")
for rate in RATES:
    for name, *_ in ring_tools:
        rs = ring_results[(rate, name)]
        ok = all(r["delivered"] + r["lost"] == r["calls"] and r["other"] == 0 for r in rs)
        bad = "; ".join(f"{r['delivered']:,} + {r['lost']:,} vs {r['calls']:,}, {r['other']} other lines" for r in rs
                        if r["delivered"] + r["lost"] != r["calls"] or r["other"])
        print(f"| {rate:,} | {cell([r['rate'] for r in rs])} | {name} | {cell([r['delivered'] for r in rs])} | "
              f"{cell([r['lost'] for r in rs])} | {'yes' if ok else '**no**: ' + bad} | {cell([r['cpu'] for r in rs], '{:.0f}')} | {cell([r['ns'] for r in rs])} |")
PY

RUNS=$RUNS ENTRIES=$ENTRIES SECS=$SECS RATES=$RATES INFRARED=$INFRARED python3 bench.py > tables.md &
bench_pid=$!
wait "$bench_pid"
bench_pid=""
tables=$(cat tables.md)
echo "$tables"

if [ "$WRITE" = 1 ]; then
  kernel=$(uname -r); cpus=$(nproc); when=$(date -u '+%Y-%m-%d %H:%M UTC')
  bt=$(bpftrace --version 2>/dev/null | head -1)
  n=$(python3 -c "print(f'{$ENTRIES:,}')")
  section=$(cat <<EOF
## User-space scaling (issue 19)

Run $when on $kernel, $cpus CPUs, with:

\`\`\`sh
$COMMAND
\`\`\`

What the tools cost on the user side when the kernel side hands them a lot (the script's header says how each
number is taken). Each cell is the median of $RUNS rounds, the tools in turn within a round, with the spread over the
rounds (min–max) in parentheses: that spread is the machine's noise (2 CPUs shared with other work).

**A hash map of $n entries printed at exit.** One probe (\`m[ctx.offset] += 1\` on
\`syscalls/sys_enter_lseek\` for one pid; u64 → u64; max_entries 1,048,576), filled by lseek(fd, i, SEEK_SET) for
i in 0..<$n; then SIGINT. The same object for the generated loader, \`infrared run\` and the C tool
(\`bpftool gen skeleton\`: get_next_key + lookup + printf, stdout to a file); $bt with
\`BPFTRACE_MAP_KEYS_MAX=1048576\` (its default, 4096, would drop the rest). Entries printed: the output parsed,
every key 0..<$n exactly once with value 1.

$(echo "$tables" | sed -n '/^| tool:/,/^$/p')

$(echo "$tables" | sed -n '/^| generated loader `--metrics`/,/^$/p')

**Ring buffer at a fixed rate.** A producer calls getpid(2) at the rate for ${SECS} s; the probe reserves a
32-byte record in a 4 MiB ring buffer for each call and Infrared's compiled code counts failed reserves; the
consumer prints each record as a JSON line to a file. Lost: the loader's \`{"faults":[…]}\` line, and for the
C tool the same counter read at exit; delivered + lost is checked against the producer's calls. CPU: utime + stime
of the consumer from the start of production to its last record, per second of production and per record
delivered. At the highest rates the producer may not reach the rate (it shares 2 CPUs with the consumer and
the probe runs in its syscalls): "reached" says what it did.

$(echo "$tables" | sed -n '/^| producer rate/,$p')
EOF
)
  SECTION="$section" python3 - "$ROOT/Benchmarks/RESULTS.md" <<'PY'
import os, re, sys
path, section = sys.argv[1], os.environ["SECTION"].rstrip() + "\n"
text = open(path).read()
head = "## User-space scaling (issue 19)"
parts = re.split(r"(?m)^(?=## )", text)
out, done = [], False
for p in parts:
    if p.startswith(head + "\n"):
        out.append(section + "\n"); done = True
    else:
        out.append(p)
if not done:   # after the other issue-19 sections, else at the end
    at = max((i for i, p in enumerate(out) if p.startswith("## ") and "(issue 19)" in p.split("\n", 1)[0]), default=len(out) - 1)
    out[at] = out[at].rstrip() + "\n\n"
    out.insert(at + 1, section + ("\n" if at + 1 < len(out) else ""))
open(path, "w").write("".join(out))
PY
  echo "wrote the section \"## User-space scaling (issue 19)\" of Benchmarks/RESULTS.md" >&2
fi
