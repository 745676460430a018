#!/usr/bin/env bash
# The release `infrared` (`make build`: one static executable) does what the
# debug build the tests use does, where static linking could differ:
#   - it has no dynamic loader, so libdw/liblzma/liblz4 come linked in
#     (CLinkedLibraries), not through dlopen: `btf from-dwarf`, an xz BTF;
#   - it parses `build`'s usual arguments itself (Build.quickParse), and
#     hands anything else to swift-argument-parser;
#   - it compiles every example to the same bytes as the debug build;
#   - `infrared run` loads, attaches and prints, and `gen loader` builds a tool.
# Exits non-zero on the first difference. Run by .ci/run after `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
REL=${REL:-.build/release/infrared}
DBG=${DBG:-.build/debug/infrared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "static-smoke: FAIL: $*" >&2; exit 1; }

llvm-readelf-14 -l "$REL" > "$work/phdrs"
grep -q "LOAD" "$work/phdrs" || fail "cannot read $REL's program headers"
if grep -q "INTERP" "$work/phdrs"; then fail "$REL is not a static executable (it has a PT_INTERP)"; fi

# The same objects from both builds.
for rb in Examples/*.rb Benchmarks/corpus/*.rb; do
  "$REL" build "$rb" -o "$work/rel.o"
  "$DBG" build "$rb" -o "$work/dbg.o"
  cmp -s "$work/rel.o" "$work/dbg.o" || fail "$rb: the release and debug builds differ"
done
# Argument forms: --output=, the default output path, --time-report; errors.
cp Examples/xdp_count.rb "$work/x.rb"
"$REL" build "$work/x.rb" --output="$work/eq.o" --btf=/sys/kernel/btf/vmlinux
"$REL" build "$work/x.rb"
cmp -s "$work/eq.o" "$work/x.bpf.o" || fail "--output= and the default output differ"
"$REL" build "$work/x.rb" -o "$work/t.o" --time-report 2> "$work/report"
grep -q " total of the stages$" "$work/report" || fail "--time-report printed no total"
grep -q " wall clock$" "$work/report" || fail "--time-report printed no wall clock"
if "$REL" build "$work/x.rb" --no-such-flag 2> "$work/err"; then fail "an unknown option was accepted"; fi
grep -q "Unknown option '--no-such-flag'" "$work/err" || fail "unknown option: $(cat "$work/err")"
if "$REL" build "$work/missing.rb" 2> "$work/err"; then fail "a missing file was accepted"; fi
grep -q "missing.rb:1:1: error: cannot read" "$work/err" || fail "missing file: $(cat "$work/err")"
"$REL" build --help > "$work/help"
grep -q "USAGE: infrared build" "$work/help" || fail "build --help"

# libdw linked in: DWARF → BTF of a gcc object, read back by bpftool.
printf 'struct point { int x; long y; };\nstruct point p;\nint main(void) { return p.x; }\n' > "$work/d.c"
gcc -g -c "$work/d.c" -o "$work/d.o"
"$REL" btf from-dwarf "$work/d.o" -o "$work/d.btf"
bpftool btf dump file "$work/d.btf" > "$work/d.txt"
grep -q "STRUCT 'point' size=16 vlen=2" "$work/d.txt" || fail "from-dwarf"
# liblzma linked in: an xz-compressed BTF fixture.
"$REL" btf dump BTF/6.1.0-56-cloud-amd64.btf.xz --format raw > "$work/xz.txt"
grep -q "STRUCT 'task_struct'" "$work/xz.txt" || fail "btf dump of an xz BTF"

# The kernel side: run an example briefly, and build a loader.
"$REL" run Examples/execsnoop.rb --duration 2 > "$work/run.txt" 2>&1 &
for _ in 1 2 3 4 5 6; do sleep 0.25; ls / > /dev/null; done   # execs while it is attached
wait $! || fail "infrared run: $(cat "$work/run.txt")"
grep -q "attached 1 program" "$work/run.txt" || fail "infrared run attached nothing: $(cat "$work/run.txt")"
grep -q " ls " "$work/run.txt" || fail "infrared run saw no exec of ls: $(cat "$work/run.txt")"
# run -e and list through the static binary: the same answers as the debug build.
"$REL" run -e 'xdp { |ctx| 1.5 }' 2> "$work/e.txt" && fail "run -e of a bad probe succeeded"
grep -q "^-e:1:1: error: Float values" "$work/e.txt" || fail "run -e error location: $(cat "$work/e.txt")"
"$REL" list 'tracepoint:sched:*' > "$work/list-rel.txt"
"$DBG" list 'tracepoint:sched:*' > "$work/list-dbg.txt"
grep -qx "tracepoint:sched:sched_process_exec" "$work/list-rel.txt" || fail "list"
cmp -s "$work/list-rel.txt" "$work/list-dbg.txt" || fail "list differs from the debug build"
"$REL" gen loader Examples/execsnoop.rb -o "$work/execsnoop"
"$work/execsnoop" --help > "$work/help"
grep -q "duration" "$work/help" || fail "the generated loader"
echo "static-smoke: the static infrared matches the debug build (examples, corpus, arguments, libdw, liblzma, run, run -e, list, gen loader)"
