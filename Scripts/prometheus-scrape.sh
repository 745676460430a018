#!/bin/bash
# A real Prometheus scrapes a generated tool: builds execsnoop (without its
# text-printing hook) and runqlat, runs them with --metrics on 127.0.0.1,
# starts Debian's `prometheus` (Scripts/setup.sh installs it) with a 1 s
# scrape interval on both, makes N execs as user 65534 (execsnoop counts
# only that uid: --target-uid), waits for scrapes after the workload, and
# checks through the HTTP query API (/api/v1/query) that the records
# counter is exactly N, that its rate is positive, and that
# histogram_quantile over runqlat's hist gives a finite number. A third
# tool, built as `uidsum` from `t3.rb` (so its metrics carry the tool's
# name), keeps an explicit hist and an implicit hist of the uid of each
# exec by uid 65534: their `_sum` is exactly N × 65534, `_count` N, and
# rate(_sum) / rate(_count) is 65534; it also counts those execs by uid in
# an implicit map whose `metric_labels` block names the uid: its series is
# `uidsum_execs{user="nobody"}`, exactly N. As root.
#
#   Scripts/prometheus-scrape.sh [INFRARED] [RUNNER]
set -euo pipefail
INFRARED=${1:-.build/debug/infrared}
RUNNER=${2:-.build-runner/release/infrared-runner}
N=40
command -v prometheus >/dev/null || { echo "prometheus-scrape: no prometheus (apt-get install prometheus)" >&2; exit 1; }
dir=$(mktemp -d /tmp/prometheus-scrape.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
sed '/^on_event :events do/,/^end/d' Examples/execsnoop.rb > "$dir/execsnoop.rb"
"$INFRARED" gen loader "$dir/execsnoop.rb" -o "$dir/execsnoop" --runner "$RUNNER" >/dev/null
"$INFRARED" gen loader Examples/runqlat.rb -o "$dir/runqlat" --runner "$RUNNER" >/dev/null
"$dir/execsnoop" --target-uid 65534 --format json --metrics 127.0.0.1:19101 >"$dir/records" 2>"$dir/execsnoop.err" & pids+=($!)
"$dir/runqlat" --metrics 127.0.0.1:19102 >/dev/null 2>"$dir/runqlat.err" & pids+=($!)
cat >"$dir/t3.rb" <<'RB'
license "GPL"
map :uids, :hist
tracepoint "sched/sched_process_exec" do |ctx|
  if uid == 65534
    uids.add(uid)
    @by_comm[comm].hist(uid)
    @execs[uid] += 1
  end
  0
end
metric_labels :@execs do |u| { user: u == 65534 ? "nobody" : u.to_s } end
RB
"$INFRARED" gen loader "$dir/t3.rb" -o "$dir/uidsum" --runner "$RUNNER" >/dev/null
"$dir/uidsum" --metrics 127.0.0.1:19103 >/dev/null 2>"$dir/uidsum.err" & pids+=($!)
cat >"$dir/prometheus.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: infrared
    static_configs: [{targets: ["127.0.0.1:19101", "127.0.0.1:19102", "127.0.0.1:19103"]}]
YML
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address=127.0.0.1:19090 >"$dir/prometheus.log" 2>&1 & pids+=($!)
query() { curl -sf --get http://127.0.0.1:19090/api/v1/query --data-urlencode "query=$1" |
          python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")'; }
for _ in $(seq 60); do [ "$(query 'count(up{job="infrared"} == 1)' 2>/dev/null)" = 3 ] && break; sleep 0.5; done
[ "$(query 'count(up{job="infrared"} == 1)')" = 3 ] || { echo "prometheus-scrape: targets not up"; cat "$dir"/*.err; exit 1; }
for _ in $(seq $N); do setpriv --reuid 65534 --regid 65534 --clear-groups /bin/true; done
sleep 3   # two scrapes at 1 s after the workload
fail=0
check() { if [ "$2" ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
got=$(query 'execsnoop_records_total{map="events"}')
check "execsnoop_records_total = $got, want $N" "$([ "$got" = "$N" ] && echo y)"
lines=$(wc -l <"$dir/records")
check "JSON lines on stdout = $lines, want $N" "$([ "$lines" = "$N" ] && echo y)"
rate=$(query 'rate(execsnoop_records_total{map="events"}[1m])')
check "rate(execsnoop_records_total[1m]) = $rate > 0" "$(python3 -c "print('y' if '$rate' != 'none' and float('$rate') > 0 else '')")"
q=$(query 'histogram_quantile(0.5, sum by (le) (runqlat_usecs_bucket))')
check "histogram_quantile(0.5, runqlat) = $q, finite and >= 0" "$(python3 -c "import math; print('y' if '$q' not in ('none','NaN') and math.isfinite(float('$q')) and float('$q') >= 0 else '')")"
want=$((N * 65534))
got=$(query 'uidsum_uids_sum')
check "uidsum_uids_sum = $got, want $want (N execs by uid 65534)" "$([ "$got" = "$want" ] && echo y)"
got=$(query 'uidsum_uids_count')
check "uidsum_uids_count = $got, want $N" "$([ "$got" = "$N" ] && echo y)"
got=$(query 'uidsum_by_comm_sum{key="true"}')
check "uidsum_by_comm_sum{key=\"true\"} = $got, want $want" "$([ "$got" = "$want" ] && echo y)"
got=$(query 'uidsum_execs{user="nobody"}')
check "uidsum_execs{user=\"nobody\"} = $got, want $N (metric_labels)" "$([ "$got" = "$N" ] && echo y)"
got=$(query 'count(uidsum_execs{key!=""})')
check "no raw key label on a labelled map: $got" "$([ "$got" = none ] && echo y)"
mean=$(query 'rate(uidsum_uids_sum[1m]) / rate(uidsum_uids_count[1m])')
check "rate(uidsum_uids_sum) / rate(uidsum_uids_count) = $mean, want 65534" "$(python3 -c "print('y' if '$mean' not in ('none', 'NaN') and abs(float('$mean') - 65534) < 1e-6 else '')")"
got=$(query 'count({__name__=~"t3_.*"})')
check "no t3_* series (the tool's name, not the file's): $got" "$([ "$got" = none ] && echo y)"
exit $fail
