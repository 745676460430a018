#!/usr/bin/env bash
# What `gen loader --embed-btf BTF` adds to a loader, per example: the minimal
# BTF of each kernel fixture (BTF/*.btf.xz) as `infrared btf min` and
# `bpftool gen min_core_btf` make it (raw bytes), and the archive a loader
# carries (both kernels' minimal BTF in one zstd frame), read back from the
# generated loader's payload.
#   INFRARED=path/to/infrared bash Benchmarks/embed-btf-sizes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
infrared=${INFRARED:-$(swift build -c release --show-bin-path)/infrared}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fixtures=(BTF/*.btf.xz)
for f in "${fixtures[@]}"; do xz -dc "$f" >"$work/$(basename "$f" .xz)"; done
header="| example |"; rule="|---|"
for f in "${fixtures[@]}"; do r=$(basename "$f" .btf.xz); header+=" $r: ours / bpftool (raw bytes) |"; rule+="---|"; done
echo "$header both, zstd in the loader | both, each file zstd -19 apart | loader size, without → with |"
echo "$rule---|---|---|"
for rb in Examples/*.rb; do
  name=$(basename "$rb" .rb)
  case "$name" in ruby_*|device_filter*|xdp_count) continue ;; esac   # no CO-RE relocations
  "$infrared" build "$rb" -o "$work/$name.o" 2>/dev/null || continue
  line="| $name |"; apart=0
  for f in "${fixtures[@]}"; do
    raw=$work/$(basename "$f" .xz)
    "$infrared" btf min "$work/$name.o" --btf "$raw" -o "$work/ours.btf"
    bpftool gen min_core_btf "$raw" "$work/theirs.btf" "$work/$name.o" >/dev/null
    line+=" $(stat -c %s "$work/ours.btf") / $(stat -c %s "$work/theirs.btf") |"
    apart=$((apart + $(zstd -19 -q -c "$work/ours.btf" | wc -c)))
  done
  "$infrared" gen loader "$rb" -o "$work/plain" 2>/dev/null
  "$infrared" gen loader "$rb" -o "$work/embed" --embed-btf BTF
  plain=$(stat -c %s "$work/plain"); embed=$(stat -c %s "$work/embed")
  line+=" $((embed - plain)) | $apart | $plain → $embed |"
  echo "$line"
done
