#!/usr/bin/env bash
# The loader soak: a generated tool streams ring-buffer records of a
# workload making getpid() calls as fast as one core allows, for SECONDS
# (default 60), printing JSON to a file, while its RSS is sampled once a
# second. Checks, and prints:
#   - counts exact: records printed + records the tool reports lost = the
#     getpid calls the workload made (it stops the tool before it exits);
#   - RSS flat: the peak of the last 10 s is at most the peak of the first
#     10 s + 1 MiB (no growth with the number of records).
#   INFRARED=path/to/infrared INFRARED_RUNNER=path/to/runner bash Benchmarks/soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
infrared=${INFRARED:-$(swift build -c release --show-bin-path)/infrared}
work=$(mktemp -d); trap 'rm -rf "$work"; [ -n "${tool_pid:-}" ] && kill "$tool_pid" 2>/dev/null || true' EXIT
gcc -O2 -o "$work/soakwork" -x c - <<'C'
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
static volatile sig_atomic_t stop;
static void on_alarm(int s) { (void)s; stop = 1; }
int main(int argc, char **argv) {
    signal(SIGALRM, on_alarm);
    alarm(atoi(argv[1]));
    unsigned long long n = 0;
    while (!stop) { syscall(SYS_getpid); n++; }
    printf("%llu\n", n);
    return 0;
}
C
cat >"$work/soak.rb" <<'RB'
struct :Ev do
  u32 :pid
  u64 :t
end

map :events, :ringbuf, max_entries: 1 << 20

tracepoint "syscalls/sys_enter_getpid" do |ctx|
  if comm == "soakwork"
    e = events.reserve(Ev)
    if e
      e.pid = pid
      e.t = ktime_ns
      events.submit(e)
    end
  end
  0
end
RB
"$infrared" gen loader "$work/soak.rb" -o "$work/soak" ${INFRARED_RUNNER:+--runner "$INFRARED_RUNNER"}
"$work/soak" --format json >"$work/out.json" 2>"$work/err" & tool_pid=$!
for i in $(seq 1 300); do grep -q attached "$work/err" && break; sleep 0.1; done
grep -q attached "$work/err" || { cat "$work/err"; echo "soak: the tool did not attach"; exit 1; }
"$work/soakwork" "$seconds" >"$work/made" & work_pid=$!
rss=()
while kill -0 "$work_pid" 2>/dev/null; do
  rss+=("$(awk '/^VmRSS/ { print $2 }' /proc/$tool_pid/status)")
  sleep 1
done
wait "$work_pid"
sleep 1
kill -INT "$tool_pid"; wait "$tool_pid"; status=$?; tool_pid=
made=$(cat "$work/made")
printed=$(grep -c '"pid"' "$work/out.json" || true)
lost=$(sed -n 's/.*"kind":"lost_records","count":\([0-9]*\).*/\1/p' "$work/out.json"); lost=${lost:-0}
n=${#rss[@]}
first=$(printf '%s\n' "${rss[@]:0:10}" | sort -n | tail -1)
last=$(printf '%s\n' "${rss[@]:$((n > 10 ? n - 10 : 0))}" | sort -n | tail -1)
rate=$(awk -v m="$made" -v s="$seconds" 'BEGIN { printf "%.0f", m / s }')
echo "| seconds | getpid calls (events/s) | printed | lost | printed+lost = made | RSS first 10 s peak | RSS last 10 s peak | tool exit |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $seconds | $made ($rate/s) | $printed | $lost | $([ $((printed + lost)) = "$made" ] && echo yes || echo NO) | ${first} kB | ${last} kB | $status |"
[ "$status" = 0 ] || { echo "soak: the tool exited $status"; cat "$work/err"; exit 1; }
[ $((printed + lost)) = "$made" ] || { echo "soak: printed + lost != made"; exit 1; }
[ "$last" -le $((first + 1024)) ] || { echo "soak: RSS grew: ${rss[*]}"; exit 1; }
