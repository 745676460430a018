#!/usr/bin/env bash
# One line per output the compiler makes from every example, corpus probe and
# test probe (object, C and Swift skeletons, disassembly, or the compile
# error): a 16-hex-digit SHA-256 and what it is. Two compilers whose lists are
# equal (diff) make the same bytes: the check for a change of structure that
# must not change behaviour.
#   Scripts/object-digests.sh [INFRARED] > digests.txt   (run from the repo's top)
set -euo pipefail
BIN=$(readlink -f "${1:-.build/release/infrared}")
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
digest() { sha256sum < "$1" | cut -c1-16; }
for rb in Examples/*.rb Benchmarks/corpus/*.rb $(find Tests -name '*.rb' | sort); do
  if "$BIN" build "$rb" -o "$w/o" 2> "$w/err"; then
    echo "$(digest "$w/o") obj $rb"
    "$BIN" gen skel "$rb" -o "$w/c.h" && echo "$(digest "$w/c.h") skel-c $rb"
    "$BIN" gen skel "$rb" --lang swift -o "$w/s.swift" && echo "$(digest "$w/s.swift") skel-swift $rb"
    (cd "$w" && "$BIN" disasm o > d) && echo "$(digest "$w/d") disasm $rb"   # a fixed path: disasm prints it
  else
    echo "$(digest "$w/err") error $rb"
  fi
done
