#!/usr/bin/env bash
# Benchmarks/run.sh — Infrared side by side with clang + libbpf and bpftrace.
#
# Every probe of Benchmarks/corpus is written three ways: NAME.rb (Infrared),
# NAME.bpf.c (clang-14 + libbpf, CO-RE, vmlinux.h generated here from
# /sys/kernel/btf/vmlinux) and NAME.bt (bpftrace; absent where bpftrace has no
# such program type). One run measures, and prints as ONE markdown table:
#
#   build ms    median wall time of `infrared build` (the release CLI), of
#               `clang-14 -O2 -g -target bpf -c`, of `bpftool gen skeleton` on
#               clang's object (separately), and of `bpftrace --emit-elf` (its
#               whole front end + LLVM codegen, without loading), each
#               from spawn to exit (Benchmarks/timecmd.c);
#   insns       instruction slots emitted: bytes of the executable sections / 8
#               (ld_imm64 counts as 2 slots, as the kernel counts it);
#   verified    verified_insns of bpf_prog_info after loading (summed over the
#               object's programs; bpftrace's read from its fds while it runs);
#   ns/event    run_time_ns / run_cnt with kernel.bpf_stats_enabled=1 over the
#               probe's fixed workload (Benchmarks/workload.c), each object in
#               turn in the same run; "events" is run_cnt of Infrared's run;
#   bytes       object sizes (clang's also after `llvm-strip -g`; bpftrace's
#               --emit-elf ELF has no BTF).
# and geometric means / maxima of the Infrared/clang ratios.
#
# Objects are loaded by Benchmarks/loader.c (plain libbpf: open, load,
# bpf_program__attach, or BPF_PROG_TEST_RUN for socket/xdp programs), which
# keeps everything in bpf_links of its own process: nothing is pinned, and
# whatever way the run ends the kernel detaches it. Ctrl-C/SIGTERM stop the
# children, restore kernel.bpf_stats_enabled and remove the work directory.
#
# Usage (as root):
#   Benchmarks/run.sh                    # full run (~3-5 min on 2 cores), writes Benchmarks/RESULTS.md
#   Benchmarks/run.sh --quick            # 1 build run, workloads / 20 (~1 min)
#   Benchmarks/run.sh --only count_pid,hist --no-write
# Options:
#   --quick            RUNS=1, ROUNDS=1 and workloads scaled down 20x
#   --rounds N         ns/event: median of N rounds per object, IR and clang alternating (default 5)
#   --runs N           build timings: median of N runs (default 10)
#   --scale K          divide every workload size by K
#   --cpus K           run each workload K times at once, one copy pinned to each
#                      of CPUs 0..K-1 (WORKLOAD_CPUS, Benchmarks/workload.c): an
#                      aggregation's events race for the same entries
#   --only A,B,...     only these probes
#   --no-bpftrace      skip bpftrace
#   --no-runtime       build, instruction counts and sizes only (no loading)
#   --no-write         print the table but do not write Benchmarks/RESULTS.md
#   --output FILE      write the results there instead
#   --build            `make build` first (the static CLI with the Makefile's flags)
# Environment: INFRARED (default .build/release/infrared), CLANG (clang-14),
# BPFTRACE (bpftrace), BPFTOOL (bpftool).
#
# Loader start-up time and ring buffer throughput are not measured here: they
# belong to the loader benchmark, Benchmarks/loader-bench.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CORPUS=Benchmarks/corpus
INFRARED_ENV=${INFRARED:-}
INFRARED=${INFRARED:-.build/release/infrared}
CLANG=${CLANG:-clang-14}
BPFTRACE=${BPFTRACE:-bpftrace}
BPFTOOL=${BPFTOOL:-bpftool}
OBJDUMP=${OBJDUMP:-llvm-objdump-14}
STRIP=${STRIP:-llvm-strip-14}
# Fixed: the uprobe and usdt probes name the workload by this path.
WORK=/tmp/infrared-bench

RUNS=10 ROUNDS=5 SCALE=1 CPUS=1 ONLY="" DO_BT=1 DO_RUN=1 WRITE=1 BUILD=0
OUTPUT=Benchmarks/RESULTS.md
COMMAND="${INFRARED_ENV:+INFRARED=$INFRARED_ENV }Benchmarks/run.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) RUNS=1; ROUNDS=1; SCALE=20 ;;
    --rounds) ROUNDS=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --scale) SCALE=$2; shift ;;
    --cpus) CPUS=$2; shift ;;
    --only) ONLY=",$2," ; shift ;;
    --no-bpftrace) DO_BT=0 ;;
    --no-runtime) DO_RUN=0 ;;
    --no-write) WRITE=0 ;;
    --output) OUTPUT=$2; shift ;;
    --build) BUILD=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (loads BPF programs)" >&2; exit 1; }
if [ "$CPUS" -gt 1 ]; then
  [ "$CPUS" -le "$(nproc)" ] || { echo "run.sh: --cpus $CPUS: this machine has $(nproc) CPUs" >&2; exit 2; }
  export WORKLOAD_CPUS=$CPUS
fi

# The corpus: name | workload (WORKLOAD ARG N, or testrun N, or - for load only) | bpftrace args.
# Sizes are for a full run; --quick/--scale divide them.
PROBES=(
  "count_pid|getpid 1000000|"
  "count_implicit|getpid 1000000|"
  "filter_param|getpid 1000000|0 39"
  "core_chain|exec 2000|"
  "ringbuf|exec 2000|"
  "strings|open 300000|"
  "hist|getpid 1000000|"
  "hist_implicit|getpid 1000000|"
  "ol_count_comm|getpid 1000000|"
  "ol_read_sum|read 300000|"
  "ol_read_lhist|read 300000|"
  "hist_us|getpid 1000000|"
  "loop_times|getpid 1000000|"
  "loop_times12|getpid 1000000|"
  "loop_while|getpid 1000000|"
  "tpfields|pingpong 100000|"
  "uprobe|call 300000|"
  "usdt|usdt 300000|"
  "sockarith|testrun 1000000|"
  "arith|testrun 1000000|"
  "loop|testrun 1000000|"
  "devfilter|-|"
  "printk|-|"
  "syscount_err|badfd 500000|"
  "nanosleep_lat|nanosleep 20000|"
  "runqlat_btf|pingpong 100000|"
  "tcp_states|tcp 20000|"
  "tcpconnect|tcp 20000|"
  "runqlen|-|"
  "opensnoop_rb|open 300000|0"
  "exit_codes|exec 2000|"
  "signals|kill 300000|"
  "switch_comm|pingpong 100000|"
  "comm_filter|getpid 1000000|"
  "open_prefix|open 300000|"
  "percpu_total|getpid 1000000|"
  "rawtp_switch|pingpong 100000|"
  "exec_depth|exec 2000|"
  "xdp_proto|testrun 1000000|"
  "tc_port|testrun 1000000|"
  "sock_udp|testrun 1000000|"
  "read_stats|read 300000|"
  "syscall_class|getpid 1000000|"
  "uret_hist|call 300000|"
  "printf_exec|exec 2000|"
  "lru_first|getpid 1000000|"
)

# --- cleanup, whatever way we leave ---------------------------------------
CHILD="" BT_PID="" STATS_SAVED=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$CHILD" ]; then kill -TERM "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
  if [ -n "$BT_PID" ]; then
    kill -INT "$BT_PID" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$BT_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$BT_PID" 2>/dev/null || true; wait "$BT_PID" 2>/dev/null || true
  fi
  if [ -n "$STATS_SAVED" ]; then sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED" || true; fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Runs "$@" in the background and waits, so a signal reaches the trap at once.
run_child() { "$@" & CHILD=$!; local rc=0; wait "$CHILD" || rc=$?; CHILD=""; return $rc; }

exec 9>/tmp/infrared-bench.lock
flock -n 9 || { echo "run.sh: another run holds /tmp/infrared-bench.lock" >&2; exit 1; }
rm -rf "$WORK"; mkdir -p "$WORK"

if [ "$BUILD" = 1 ]; then make build; fi
[ -x "$INFRARED" ] || { echo "run.sh: no $INFRARED (swift build -c release, or INFRARED=...)" >&2; exit 1; }
MULTIARCH="/usr/include/$(uname -m)-linux-gnu"
now() { date +%s%N; }
say() { echo "$*" >&2; }

say "building the workload and the loader; generating vmlinux.h"
gcc -O2 -Wall -o "$WORK/workload" Benchmarks/workload.c
gcc -O2 -Wall -o "$WORK/bench-loader" Benchmarks/loader.c -lbpf
gcc -O2 -Wall -o "$WORK/timecmd" Benchmarks/timecmd.c
t0=$(now); "$BPFTOOL" btf dump file /sys/kernel/btf/vmlinux format c > "$WORK/vmlinux.h"; t1=$(now)
VMLINUX_MS=$(( (t1 - t0) / 1000000 ))
CFLAGS=(-O2 -g -target bpf -D__TARGET_ARCH_x86 -I "$WORK" -I "$CORPUS" -I "$MULTIARCH")

# median wall time in ms of RUNS runs of "$@" (Benchmarks/timecmd.c: spawn to exit)
median_ms() { "$WORK/timecmd" "$RUNS" "$@"; }
# instruction slots of the executable sections
slots() {
  local total=0 size
  for size in $("$OBJDUMP" -h "$1" | awk '$NF == "TEXT" && NF >= 4 {print $3}'); do total=$(( total + 16#$size / 8 )); done
  echo "$total"
}
bytes() { stat -c %s "$1"; }
# quiet bpftrace: it warns about RLIMIT_MEMLOCK where it cannot raise it
bt() { "$BPFTRACE" "$@" 2> >(grep -v RLIMIT_MEMLOCK >&2); }

declare -A R   # R[name.key] = value
NAMES=()
for entry in "${PROBES[@]}"; do
  IFS='|' read -r name workload btargs <<<"$entry"
  [ -z "$ONLY" ] || [[ "$ONLY" == *",$name,"* ]] || continue
  NAMES+=("$name")
  R[$name.workload]=$workload R[$name.btargs]=$btargs
  read -r mode n <<<"$workload"
  case "$mode" in
    testrun) R[$name.wl]="test run ×$(( n / SCALE ))" ;;
    -) R[$name.wl]="(load only)" ;;
    *) R[$name.wl]="$mode ×$(( n / SCALE ))" ;;
  esac
done
[ ${#NAMES[@]} -gt 0 ] || { echo "run.sh: no probe selected" >&2; exit 2; }

# --- build, instruction counts, sizes -------------------------------------
for name in "${NAMES[@]}"; do
  say "build: $name"
  rb=$CORPUS/$name.rb c=$CORPUS/$name.bpf.c bt=$CORPUS/$name.bt
  "$INFRARED" build "$rb" -o "$WORK/$name.ir.o"
  "$CLANG" "${CFLAGS[@]}" -c "$c" -o "$WORK/$name.clang.o"
  R[$name.ir_ms]=$(median_ms "$INFRARED" build "$rb" -o "$WORK/$name.ir.o")
  R[$name.clang_ms]=$(median_ms "$CLANG" "${CFLAGS[@]}" -c "$c" -o "$WORK/$name.clang.o")
  R[$name.skel_ms]=$(median_ms -o "$WORK/$name.skel.h" "$BPFTOOL" gen skeleton "$WORK/$name.clang.o" name "$name")
  R[$name.ir_insns]=$(slots "$WORK/$name.ir.o")
  R[$name.clang_insns]=$(slots "$WORK/$name.clang.o")
  R[$name.ir_bytes]=$(bytes "$WORK/$name.ir.o")
  R[$name.clang_bytes]=$(bytes "$WORK/$name.clang.o")
  "$STRIP" -g "$WORK/$name.clang.o" -o "$WORK/$name.clang.stripped.o"
  R[$name.clang_sbytes]=$(bytes "$WORK/$name.clang.stripped.o")
  if [ "$DO_BT" = 1 ] && [ -f "$bt" ]; then
    # shellcheck disable=SC2086
    bt --emit-elf "$WORK/$name.bt.o" "$bt" ${R[$name.btargs]} >/dev/null
    # shellcheck disable=SC2086
    R[$name.bt_ms]=$(median_ms "$BPFTRACE" --emit-elf "$WORK/$name.bt.o" "$bt" ${R[$name.btargs]})
    R[$name.bt_insns]=$(slots "$WORK/$name.bt.o")
    R[$name.bt_bytes]=$(bytes "$WORK/$name.bt.o")
  fi
done

# --- loading and run time ---------------------------------------------------
field() { jq -r ".$2" <<<"$1"; }
per_event() { awk -v n="$1" -v c="$2" 'BEGIN { if (c > 0) printf "%.1f", n / c; else print "n/a" }'; }
# the median of the numeric arguments ("n/a" when there is none)
median_of() { printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -n | awk '{a[NR]=$1} END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# sum of verified_insns, run_cnt, run_time_ns over the BPF programs a process holds
fd_stats() {
  local pid=$1 f
  for f in /proc/"$pid"/fdinfo/*; do cat "$f" 2>/dev/null; echo; done |
    awk '/^prog_id:/ {id=$2} /^run_time_ns:/ {ns=$2} /^run_cnt:/ {cnt=$2} /^verified_insns:/ {v=$2}
         /^$/ { if (id != "" && !(id in seen)) { seen[id]=1; n++; V+=v; C+=cnt; N+=ns }; id="" }
         END { printf "%d %d %d %d\n", n, V, C, N }'
}

# bpftrace: start, wait for "Attaching", run the workload, read its programs' stats
bt_run() {
  local name=$1 bt=$CORPUS/$1.bt; shift
  local out=$WORK/$name.bt.out
  # shellcheck disable=SC2086
  "$BPFTRACE" "$bt" ${R[$name.btargs]} >"$out" 2>"$out.err" &
  BT_PID=$!
  local i
  for i in $(seq 400); do
    grep -q '^Attaching' "$out" 2>/dev/null && break
    kill -0 "$BT_PID" 2>/dev/null || break
    sleep 0.05
  done
  if ! grep -q '^Attaching' "$out"; then
    say "bpftrace $name did not attach: $(grep -v RLIMIT "$out.err" | head -3)"
    kill -INT "$BT_PID" 2>/dev/null || true; wait "$BT_PID" 2>/dev/null || true; BT_PID=""; return 1
  fi
  sleep 0.2
  local before after
  before=$(fd_stats "$BT_PID")
  run_child "$@"
  after=$(fd_stats "$BT_PID")
  kill -INT "$BT_PID" 2>/dev/null || true
  wait "$BT_PID" 2>/dev/null || true
  BT_PID=""
  read -r _ v c0 n0 <<<"$before"
  read -r np _ c1 n1 <<<"$after"
  R[$name.bt_verified]=$v
  R[$name.bt_ns]=$(per_event $(( n1 - n0 )) $(( c1 - c0 )))
  [ "$np" -gt 0 ] || R[$name.bt_verified]="n/a"
}

if [ "$DO_RUN" = 1 ]; then
  STATS_SAVED=$(sysctl -n kernel.bpf_stats_enabled)
  sysctl -qw kernel.bpf_stats_enabled=1
  for name in "${NAMES[@]}"; do
    read -r mode n <<<"${R[$name.workload]}"
    args=()
    if [ "$mode" = testrun ]; then
      args=(--testrun $(( n / SCALE )))
    elif [ "$mode" != - ]; then
      args=(-- "$WORK/workload" "$mode" $(( n / SCALE )))
    fi
    # ROUNDS rounds, the order alternating (ir first, then clang first), so a
    # drift of the machine during the run weighs on both; the median is kept.
    declare -A ROUND_NS=([ir]="" [clang]="")
    rounds=$ROUNDS; [ "$mode" = - ] && rounds=1   # load only: one round gives verified_insns
    for round in $(seq "$rounds"); do
      order=(ir clang); [ $(( round % 2 )) = 0 ] && order=(clang ir)
      for tool in "${order[@]}"; do
        say "run: $name ($tool, round $round of $rounds)"
        run_child "$WORK/bench-loader" "$WORK/$name.$tool.o" "${args[@]}" > "$WORK/$name.$tool.json"
        j=$(cat "$WORK/$name.$tool.json")
        R[$name.${tool}_verified]=$(field "$j" verified_insns)
        if [ "$mode" != - ]; then
          ROUND_NS[$tool]+="$(per_event "$(field "$j" run_time_ns)" "$(field "$j" run_cnt)") "
          [ "$round" = 1 ] && R[$name.${tool}_events]=$(field "$j" run_cnt)
        fi
      done
    done
    if [ "$mode" != - ]; then
      for tool in ir clang; do R[$name.${tool}_ns]=$(median_of ${ROUND_NS[$tool]}); done
    fi
    if [ "$DO_BT" = 1 ] && [ -f "$CORPUS/$name.bt" ] && [ "$mode" != testrun ] && [ "$mode" != - ]; then
      say "run: $name (bpftrace)"
      bt_run "$name" "$WORK/workload" "$mode" $(( n / SCALE )) || R[$name.bt_ns]="fail"
    fi
  done
  sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED"
  STATS_SAVED=""
fi

# --- the table ----------------------------------------------------------------
v() { echo "${R[$1]:-n/a}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
table() {
  echo "| probe | workload | build ms Infrared | build ms clang | skel ms | build ms bpftrace | insns Infrared | insns clang | insns bpftrace | insns IR/clang | verified Infrared | verified clang | verified bpftrace | verified IR/clang | ns/event Infrared | ns/event clang | ns/event bpftrace | events | bytes Infrared | bytes clang (-g stripped) | bytes bpftrace |"
  echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
  local name
  for name in "${NAMES[@]}"; do
    R[$name.build_ratio]=$(ratio "$(v $name.ir_ms)" "$(v $name.clang_ms)")
    R[$name.insn_ratio]=$(ratio "$(v $name.ir_insns)" "$(v $name.clang_insns)")
    R[$name.ver_ratio]=$(ratio "$(v $name.ir_verified)" "$(v $name.clang_verified)")
    R[$name.ns_ratio]=$(ratio "$(v $name.ir_ns)" "$(v $name.clang_ns)")
    echo "| $name | $(v $name.wl) | $(v $name.ir_ms) | $(v $name.clang_ms) | $(v $name.skel_ms) | $(v $name.bt_ms) | $(v $name.ir_insns) | $(v $name.clang_insns) | $(v $name.bt_insns) | $(v $name.insn_ratio) | $(v $name.ir_verified) | $(v $name.clang_verified) | $(v $name.bt_verified) | $(v $name.ver_ratio) | $(v $name.ir_ns) | $(v $name.clang_ns) | $(v $name.bt_ns) | $(v $name.ir_events) | $(v $name.ir_bytes) | $(v $name.clang_bytes) ($(v $name.clang_sbytes)) | $(v $name.bt_bytes) |"
  done
  # geometric mean and maximum of each IR/clang ratio over the probes that have it
  summary() { # key
    local name out=""
    for name in "${NAMES[@]}"; do out+="$name ${R[$name.$1]:-n/a}"$'\n'; done
    awk '$2 ~ /^[0-9.]+$/ && $2 > 0 { s += log($2); n++; if ($2 > m) { m = $2; w = $1 } }
         END { if (n) printf "%.2f %.2f (%s)\n", exp(s / n), m, w; else print "n/a n/a" }' <<<"$out"
  }
  local b i ve ns
  b=$(summary build_ratio) i=$(summary insn_ratio) ve=$(summary ver_ratio) ns=$(summary ns_ratio)
  echo "| **geomean IR/clang** | | **${b%% *}** | | | | | | | **${i%% *}** | | | | **${ve%% *}** | **${ns%% *}** | | | | | | |"
  echo "| **max IR/clang** | | ${b#* } | | | | | | | ${i#* } | | | | ${ve#* } | ${ns#* } | | | | | | |"
}

TABLE=$(table)
NOTES="Build ms: median of $RUNS runs, wall time from spawn to exit (Benchmarks/timecmd.c); clang's CO-RE compiles include parsing vmlinux.h (generated once, ${VMLINUX_MS} ms; arith, loop, devfilter and printk include only <linux/bpf.h>); skel = \`bpftool gen skeleton\` on clang's object; bpftrace = \`bpftrace --emit-elf\` (parse, analyses, LLVM codegen; no load). Insns: bytes of executable sections / 8, ld_imm64 = 2 slots; clang's usdt object includes libbpf's \`bpf_usdt_arg\` subprogram. Verified: \`verified_insns\` summed over the object's programs. ns/event: \`run_time_ns / run_cnt\` with \`kernel.bpf_stats_enabled=1\`, median of $ROUNDS rounds, the same workload for each object in turn (IR first, then clang first, alternating) (tracepoints also count other processes' events; \"events\" is Infrared's run_cnt); test run = BPF_PROG_TEST_RUN on a 64-byte packet; devfilter/printk (cgroup_device) and runqlen (perf_event: the loader does not open perf events) are only loaded. Ratios IR/clang: geometric mean and maximum over the corpus (ns/event columns: the geomean/max row is under \"ns/event Infrared\"). bpftrace counts with a non-atomic lookup+update where Infrared and clang add atomically, prints ringbuf's records with printf (perf buffer), and has no socket/xdp/cgroup programs (n/a). Loader start-up and ring buffer throughput: Benchmarks/loader-bench.sh (the loader benchmark), not here."
[ "$CPUS" -gt 1 ] && NOTES+=" Workloads: $CPUS copies at once, one pinned to each of CPUs 0..$((CPUS - 1)) (--cpus $CPUS); events and ns/event are over all copies."

echo "$TABLE"
echo
echo "$NOTES"
if [ "$WRITE" = 1 ]; then
  # The file's `## ` sections (the one-liner summary, other benchmarks'
  # tables) are kept: this run rewrites only the part above them.
  KEEP=""
  [ -f "$OUTPUT" ] && KEEP=$(sed -n '/^## /,$p' "$OUTPUT")
  {
    echo "# Benchmarks: Infrared vs clang + libbpf vs bpftrace"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -r), $(nproc) CPUs, with:"
    echo
    echo '```sh'
    echo "$COMMAND"
    echo '```'
    echo
    echo "Tools: infrared \`$INFRARED\` (built $(date -u -r "$INFRARED" '+%Y-%m-%d %H:%M UTC')), $("$CLANG" --version | head -1), $("$BPFTRACE" --version), $("$BPFTOOL" version | head -1), libbpf $(pkg-config --modversion libbpf 2>/dev/null || echo '?')."
    echo
    echo "$TABLE"
    echo
    echo "$NOTES"
    if [ -n "$KEEP" ]; then echo; echo "$KEEP"; fi
  } > "$OUTPUT.tmp" && mv "$OUTPUT.tmp" "$OUTPUT"
  say "wrote $OUTPUT"
fi
