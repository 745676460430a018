#!/usr/bin/env bash
# What Examples/ruby_profile.rb costs the Ruby it profiles, and itself: a
# Ruby script's throughput (calls of a CPU-bound method a second) alone and
# while the profiler samples it at 99 Hz, over several rounds taken in turn;
# the profiler's own CPU time and peak RSS (/usr/bin/time -v) per round;
# and the BPF program's own run time (kernel.bpf_stats_enabled: run_time_ns
# over run_cnt, read with bpftool while it runs), which is what the target
# pays on its CPU: the throughput columns of a noisy machine spread wider
# than the effect. Prints a markdown table and the medians.
#
#   Benchmarks/ruby-profile-overhead.sh            # ROUNDS=5 SECONDS_PER_ROUND=5 FREQUENCY=99
#
# The profiler is the static tool `infrared gen loader` makes with the
# runner ($INFRARED_RUNNER, else .build-runner/release/infrared-runner:
# `make runner`); $INFRARED is the CLI (else .build/debug/infrared).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
seconds=${SECONDS_PER_ROUND:-5}
frequency=${FREQUENCY:-99}
die() { echo "ruby-profile-overhead: error: $*" >&2; exit 1; }
[ -x /usr/bin/ruby ] || die "/usr/bin/ruby is missing (apt-get install ruby)"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
command -v bpftool >/dev/null || die "bpftool is missing (Scripts/setup.sh)"
stats_before=$(sysctl -n kernel.bpf_stats_enabled)
infrared=${INFRARED:-.build/debug/infrared}
runner=${INFRARED_RUNNER:-.build-runner/release/infrared-runner}
[ -x "$infrared" ] || die "no infrared CLI at $infrared (swift build, or set INFRARED)"
[ -x "$runner" ] || die "no static runner at $runner (make runner, or set INFRARED_RUNNER)"

work=$(mktemp -d)
trap 'rm -rf "$work"; sysctl -qw kernel.bpf_stats_enabled="$stats_before"' EXIT
sysctl -qw kernel.bpf_stats_enabled=1
"$infrared" gen loader Examples/ruby_profile.rb -o "$work/ruby_profile" --runner "$runner" >/dev/null

# The workload: calls of a method that counts to 100 000, for ARGV.last
# seconds; prints the calls a second.
cat > "$work/bench.rb" <<'EOF'
def work
  i = 0
  while i < 100_000
    i += 1
  end
end
t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
deadline = t0 + ARGV.last.to_f
calls = 0
while (now = Process.clock_gettime(Process::CLOCK_MONOTONIC)) < deadline
  work
  calls += 1
end
puts format("%.1f", calls / (now - t0))
EOF

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "| round | alone (calls/s) | profiled (calls/s) | overhead | profiler CPU (s) | profiler peak RSS (KB) | samples | BPF runs | BPF ns/run | BPF CPU share of the target's |"
echo "|---|---|---|---|---|---|---|---|---|---|"
: > "$work/alone"; : > "$work/profiled"; : > "$work/cpu"; : > "$work/rss"; : > "$work/perrun"
for r in $(seq "$rounds"); do
  alone=$(ruby --disable-gems "$work/bench.rb" "$seconds")
  # Profiled: the profiler attaches first (it waits for the process), then
  # the script's measured seconds all run under it.
  ruby --disable-gems -e 'sleep 1.5; load ARGV[0]' "$work/bench.rb" "$seconds" > "$work/out" &
  rpid=$!
  /usr/bin/time -v "$work/ruby_profile" --pid "$rpid" --frequency "$frequency" --duration $((seconds + 2)) --quiet \
    > "$work/folded" 2> "$work/time" &
  ppid=$!
  # Near the end of the measured seconds: the newest perf_event program's stats.
  sleep $((seconds + 1))
  bpftool -j prog show 2>/dev/null | python3 -c '
import json, sys
ps = [p for p in json.load(sys.stdin) if p.get("type") == "perf_event"]
p = max(ps, key=lambda p: p["id"]) if ps else {}
print(p.get("run_cnt", 0), p.get("run_time_ns", 0))' > "$work/bpfstats"
  wait "$rpid"
  wait "$ppid" || die "the profiler failed: $(tail -5 "$work/time")"
  profiled=$(cat "$work/out")
  cpu=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.2f", u + s }' "$work/time")
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time")
  samples=$(awk '{ n += $NF } END { print n + 0 }' "$work/folded")
  overhead=$(awk -v a="$alone" -v p="$profiled" 'BEGIN { printf "%.1f %%", (a - p) / a * 100 }')
  read -r runs runns < "$work/bpfstats"
  perrun=$(awk -v n="$runs" -v t="$runns" 'BEGIN { printf "%.0f", n ? t / n : 0 }')
  # The runs in the target (its samples) are where its CPU pays: its share of the measured seconds.
  share=$(awk -v t="$runns" -v s="$seconds" 'BEGIN { printf "%.4f %%", t / (s * 1e9) * 100 }')
  echo "| $r | $alone | $profiled | $overhead | $cpu | $rss | $samples | $runs | $perrun | $share |"
  echo "$perrun" >> "$work/perrun"
  echo "$alone" >> "$work/alone"; echo "$profiled" >> "$work/profiled"; echo "$cpu" >> "$work/cpu"; echo "$rss" >> "$work/rss"
done
a=$(median < "$work/alone"); p=$(median < "$work/profiled")
echo
echo "median over $rounds rounds of ${seconds} s at $frequency Hz: alone $a calls/s, profiled $p calls/s" \
  "($(awk -v a="$a" -v p="$p" 'BEGIN { printf "%.1f %%", (a - p) / a * 100 }') slower);" \
  "profiler $(median < "$work/cpu") s CPU, $(median < "$work/rss") KB peak RSS; the BPF program $(median < "$work/perrun") ns a run"
