#!/usr/bin/env bash
# loader-bench.sh — the single-binary loader (`infrared gen loader`) against
# the same probe as a C libbpf tool (`bpftool gen skeleton` + clang) and
# against bpftrace:
#   1. time from exec to attached: the tool is started, then /bin/true is
#      exec'd every millisecond until the tool prints the first of those
#      execs; the same measure for all three (median of RUNS runs);
#   2. ring buffer records consumed per second: the tool is stopped
#      (SIGSTOP), a getpid() loop fills a 64 MiB ring buffer with RECORDS
#      records (one a call; 40 bytes each in the ring, so up to 1.67 M), the
#      tool is continued and the time it takes to print them all (to a file)
#      is measured: the consumer's own rate, loader vs the C tool, in turn in
#      the same run (median of max(3, RUNS/2) runs each). Both print the same
#      lines (`pid=… cpu=… ts=… comm=load`, or the same JSON object a line
#      with --format json), checked line by line against one pattern, to
#      the same kind of file, stdout fully buffered (glibc's default for a
#      file; the C tool flushes after each poll as our loader does; giving
#      it a 256 KiB buffer like ours made no difference: printf dominates);
#   3. sizes of the tools;
#   4. (FOOTPRINT=0 to leave out) Benchmarks/footprint.sh on the runner's
#      build: what each library adds to the runner, the peak RSS of the
#      profile loader's README run (5 s, flame graph, a compile beside it)
#      and of every example's loader (--duration 2).
# Prints markdown tables. Needs root, clang-14, bpftool, bpftrace, python3.
#
#   Benchmarks/loader-bench.sh                 # uses .build/release/infrared (make build) or .build/debug
#   INFRARED=path/to/infrared INFRARED_RUNNER=path/to/runner RUNS=10 RECORDS=1000000 Benchmarks/loader-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

INFRARED=${INFRARED:-}
if [ -z "$INFRARED" ]; then
  for c in .build/release/infrared .build/debug/infrared .build-loader/debug/infrared; do
    [ -x "$c" ] && { INFRARED=$root/$c; break; }
  done
fi
[ -x "${INFRARED:-}" ] || { echo "no infrared binary: run make build (or set INFRARED)" >&2; exit 1; }
INFRARED=$(realpath -m "$INFRARED")   # the script works in a temporary directory
RUNNER=$(realpath -m "${INFRARED_RUNNER:-$root/.build-runner/release/infrared-runner}")
[ -x "$RUNNER" ] || { echo "no static runner at $RUNNER: run make runner (or set INFRARED_RUNNER)" >&2; exit 1; }
CLANG=${CLANG:-clang-14}
RUNS=${RUNS:-7}
RECORDS=${RECORDS:-1500000}

work=$(mktemp -d /tmp/loader-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

# --- probes -----------------------------------------------------------------
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

cat > getpids.rb <<'RUBY'
license "GPL"
param :target_pid, :u32, default: 0
struct :Rec do
  u32  :pid
  u32  :cpu
  u64  :ts
  char :comm, 16
end
map :events, :ringbuf, max_entries: 64 * 1024 * 1024
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

# --- C tools from the same objects (bpftool gen skeleton + clang) ------------
ctool() {  # name, record struct C, printf format+args
  local name=$1 fields=$2 print=$3 setup=${4:-}
  "$INFRARED" build "$name.rb" -o "$name.bpf.o"
  bpftool gen skeleton "$name.bpf.o" name "$name" > "$name.skel.h"
  cat > "$name.c" <<C
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "$name.skel.h"
struct rec { $fields };
static volatile sig_atomic_t stop;
static void on_signal(int s) { stop = 1; }
static int handle(void *ctx, void *data, size_t size) {
    const struct rec *e = data;
    $print
    return 0;
}
int main(int argc, char **argv) {
    signal(SIGINT, on_signal); signal(SIGTERM, on_signal);
    struct $name *skel = ${name}__open();
    if (!skel) return 1;
    $setup
    if (${name}__load(skel) || ${name}__attach(skel)) { ${name}__destroy(skel); return 1; }
    fprintf(stderr, "attached\n");
    struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), handle, argc > 2 ? (void *)1 : NULL, NULL);
    while (!stop) { ring_buffer__poll(rb, 100); fflush(stdout); }
    ring_buffer__free(rb);
    ${name}__destroy(skel);
    return 0;
}
C
  "$CLANG" -O2 -I. "$name.c" -o "$name-c" -lbpf -lelf -lz
}
ctool execsnoop "unsigned int pid, ppid; char comm[16]; char filename[64];" \
  'printf("pid=%u ppid=%u comm=%s filename=%s\n", e->pid, e->ppid, e->comm, e->filename);'
# getpids-c PID [json]: text lines, or JSON lines as our --format json prints them.
ctool getpids "unsigned int pid, cpu; unsigned long long ts; char comm[16];" \
  'if (ctx) printf("{\"pid\":%u,\"cpu\":%u,\"ts\":%llu,\"comm\":\"%s\"}\n", e->pid, e->cpu, e->ts, e->comm);
    else printf("pid=%u cpu=%u ts=%llu comm=%s\n", e->pid, e->cpu, e->ts, e->comm);' \
  'if (argc > 1) skel->rodata->target_pid = atoi(argv[1]);'

start_ns=$(date +%s%N)
"$INFRARED" gen loader execsnoop.rb -o execsnoop --runner "$RUNNER"
genloader_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
"$INFRARED" gen loader getpids.rb -o getpids --runner "$RUNNER"

cat > load.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
/* Waits for a line on stdin, then calls getpid(2) argv[1] times. */
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1;
    for (long i = 0; i < n; i++) syscall(SYS_getpid);
    return 0;
}
C
"$CLANG" -O2 load.c -o load

cat > bench.py <<'PY'
import os, re, signal, subprocess, sys, time, statistics, threading

RUNS = int(os.environ["RUNS"]); RECORDS = int(os.environ["RECORDS"])

def time_to_attached(cmd):
    """Start cmd; exec /bin/true every ms; seconds until the tool prints one of them."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    seen = threading.Event()
    def reader():
        for line in p.stdout:
            if "/bin/true" in line or "true" in line.split():
                seen.set()
    t = threading.Thread(target=reader, daemon=True); t.start()
    first_hit = None
    triggers = []
    while not seen.is_set() and time.monotonic() - t0 < 30:
        triggers.append(time.monotonic())
        subprocess.run(["/bin/true"])
        time.sleep(0.001)
    done = time.monotonic()
    p.send_signal(signal.SIGINT)
    try: p.wait(timeout=10)
    except subprocess.TimeoutExpired: p.kill()
    # The first exec the tool saw is at most one trigger before the one after which we noticed.
    return (done - t0)

def median_ms(cmd):
    return statistics.median(time_to_attached(cmd) for _ in range(RUNS)) * 1000

LINE = {"text": re.compile(r"pid=[0-9]+ cpu=[0-9]+ ts=[0-9]+ comm=load\n"),
        "json": re.compile(r'\{"pid":[0-9]+,"cpu":[0-9]+,"ts":[0-9]+,"comm":"load"\}\n')}

def throughput(cmd, fmt, tail=[]):
    """Records per second a tool prints when RECORDS records wait in its ring buffer."""
    out = open("records.txt", "w")
    load = subprocess.Popen(["./load", str(RECORDS)], stdin=subprocess.PIPE, text=True)
    p = subprocess.Popen(cmd + [str(load.pid)] + tail, stdout=out, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "attached" in line: break
    p.send_signal(signal.SIGSTOP)
    load.communicate("go\n")
    p.send_signal(signal.SIGCONT)
    t0 = time.monotonic()
    last_size, last_change = -1, t0
    while time.monotonic() - last_change < 0.3:
        size = os.path.getsize("records.txt")
        if size != last_size:
            last_size, last_change = size, time.monotonic()
        time.sleep(0.001)
    elapsed = last_change - t0
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    out.close()
    lines = 0
    for l in open("records.txt"):
        if not LINE[fmt].fullmatch(l): sys.exit(f"{cmd[0]} printed an unexpected line: {l!r}")
        lines += 1
    return lines / elapsed, lines

def best_throughput(cmd, fmt="text", tail=[]):
    runs = [throughput(cmd, fmt, tail) for _ in range(max(3, RUNS // 2))]
    return statistics.median(r[0] for r in runs), min(r[1] for r in runs)

rows = []
ours = median_ms(["./execsnoop"])
c = median_ms(["./execsnoop-c"])
bt = median_ms(["bpftrace", "-B", "line", "-e", 'tracepoint:sched:sched_process_exec { printf("%d %s %s\\n", pid, comm, str(args->filename)); }'])
ro, lo = best_throughput(["./getpids", "--target-pid"])
rc, lc = best_throughput(["./getpids-c"])
jo, jlo = best_throughput(["./getpids", "--format", "json", "--target-pid"], "json")
jc, jlc = best_throughput(["./getpids-c"], "json", ["json"])
size = lambda f: os.path.getsize(f)
print("| measure | infrared loader | C libbpf skeleton tool | bpftrace |")
print("|---|---:|---:|---:|")
print(f"| exec → attached (first event seen), median of {RUNS} | {ours:.0f} ms | {c:.0f} ms | {bt:.0f} ms |")
print(f"| ring buffer records consumed/s, printed as text (drain of {RECORDS:,} waiting records, median) | {ro:,.0f} (min {lo:,} printed; {ro / rc:.0%} of C) | {rc:,.0f} (min {lc:,} printed) | – |")
print(f"| the same, printed as JSON lines | {jo:,.0f} (min {jlo:,} printed; {jo / jc:.0%} of C) | {jc:,.0f} (min {jlc:,} printed) | – |")
print(f"| executable size | {size('execsnoop') / 1e6:.1f} MB (static) | {size('execsnoop-c') / 1e3:.0f} kB (+ shared libbpf/libelf/libz) | {size('/usr/bin/bpftrace') / 1e6:.1f} MB (+ shared libs) |")
print(f"| build the tool | {os.environ['GENLOADER_MS']} ms (gen loader, incl. compile) | clang | – |")
PY
RUNS=$RUNS RECORDS=$RECORDS GENLOADER_MS=$genloader_ms python3 bench.py

# --- 4. footprint: size breakdown, peak RSS of the profile and example loaders
if [ "${FOOTPRINT:-1}" = 1 ]; then
  echo
  # RUNNER is SCRATCH/release/infrared-runner; footprint.sh relinks SCRATCH's objects.
  RUNNER_SCRATCH=$(dirname "$(dirname "$RUNNER")") INFRARED=$INFRARED PROFILE=1 EXAMPLES=1 bash "$root/Benchmarks/footprint.sh"
fi
