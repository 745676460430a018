#!/usr/bin/env bash
# Build time and instruction count only: `infrared build` vs `clang-14 -O2 -g
# -target bpf` (and bpftrace's --emit-elf) on Benchmarks/corpus, without
# loading anything. Kept for its old name; everything is in run.sh:
#   RUNS=20 Benchmarks/build-vs-clang.sh [--only a,b]
exec "$(dirname "$0")/run.sh" --no-runtime --no-write --runs "${RUNS:-10}" "$@"
