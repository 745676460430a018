#!/usr/bin/env bash
# Scripts/fuzz.sh — fuzz the readers behind `infrared disasm`, `btf dump`
# (raw and c), `btf extract` and `gen skel OBJ` with libFuzzer and
# AddressSanitizer (issue 8).
#
#   Scripts/fuzz.sh [SECONDS_PER_READER] [READER...]      (make fuzz FUZZ_SECONDS=300)
#
# READERs are FuzzReader's raw values (Sources/InfraredFuzz/Readers.swift):
# disasm btf-raw btf-c btf-extract gen-skel (default: all), plus btf-big, which
# is btf-raw on the big seeds (the running kernel's BTF and the BTF/ fixtures,
# decompressed) with a large -max_len.
#
# Everything lives under FUZZ_SCRATCH (default .build-asan): the instrumented
# build (`swift build -c release -Xswiftc -sanitize=fuzzer,address`; the
# executable target exists only with INFRARED_LIBFUZZER set, see Package.swift),
# seeds/<reader> (generated once: objects from `infrared build Examples/*.rb`
# and `clang-14 -O2 -g -target bpf` of Benchmarks/corpus/*.bpf.c, their .BTF,
# `btf min` outputs, small synthetic kernel images in each compression and as
# a bzImage), corpus/<reader> (what libFuzzer keeps), crashes/<reader>/
# (crash-*, leak-*, timeout-*, oom-* inputs) and logs/<reader>.log.
#
# A finding is fixed in the reader and its input kept in
# Tests/Regressions/<reader>/NAME.bin (NAME.expected: the error text), which
# RegressionTests feeds to the reader in every `make test`.
#
# Environment: FUZZ_SCRATCH, INFRARED (an `infrared` to build seed objects;
# default: the debug build's, built if missing), CLANG (clang-14), FUZZ_FLAGS
# (more libFuzzer flags), FUZZ_BUILD=0 to skip the build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_READER=${1:-60}
shift || true
READERS=("$@")
[ ${#READERS[@]} -gt 0 ] || READERS=(disasm btf-raw btf-c btf-extract gen-skel)
SCRATCH=${FUZZ_SCRATCH:-.build-asan}
CLANG=${CLANG:-clang-14}
say() { echo "fuzz.sh: $*" >&2; }

if [ "${FUZZ_BUILD:-1}" = 1 ]; then
  say "building the fuzzer (release, -sanitize=fuzzer,address) in $SCRATCH"
  INFRARED_LIBFUZZER=1 swift build -c release --scratch-path "$SCRATCH" --product infrared-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
fi
FUZZER="$SCRATCH/release/infrared-fuzz"
WORK="$ROOT/$SCRATCH/fuzz"
SEEDS="$WORK/seeds"

make_seeds() {
  local tmp="$WORK/seed-work"
  rm -rf "$tmp" "$SEEDS"; mkdir -p "$tmp" "$SEEDS"/{disasm,btf-raw,btf-c,btf-extract,gen-skel,btf-big}
  local infrared=${INFRARED:-}
  if [ -z "$infrared" ]; then
    infrared="$(swift build --show-bin-path)/infrared"
    [ -x "$infrared" ] || swift build --product infrared
  fi
  say "seeds: objects from $infrared and $CLANG"
  for rb in Examples/*.rb Benchmarks/corpus/*.rb; do
    "$infrared" build "$rb" -o "$tmp/$(basename "$rb" .rb).rb.o" 2>/dev/null || say "  (skipped $rb: it does not build here)"
  done
  "$CLANG" --version >/dev/null 2>&1 && bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$tmp/vmlinux.h" && {
    for c in Benchmarks/corpus/*.bpf.c; do
      "$CLANG" -O2 -g -target bpf -D__TARGET_ARCH_x86 -I "$tmp" -I Benchmarks/corpus -I "/usr/include/$(uname -m)-linux-gnu" \
        -c "$c" -o "$tmp/$(basename "$c" .bpf.c).clang.o" 2>/dev/null || say "  (skipped $c)"
    done
  }
  for o in "$tmp"/*.o; do
    cp "$o" "$SEEDS/disasm/"; cp "$o" "$SEEDS/gen-skel/"
    local b; b=$(basename "$o" .o)
    llvm-objcopy-14 --dump-section ".BTF=$tmp/$b.btf" "$o" /dev/null 2>/dev/null && cp "$tmp/$b.btf" "$SEEDS/btf-raw/$b.btf"
    "$infrared" btf min "$o" --btf /sys/kernel/btf/vmlinux -o "$SEEDS/btf-raw/$b.min.btf" 2>/dev/null || true
  done
  cp "$SEEDS/btf-raw/"* "$SEEDS/btf-c/"
  # A few whole objects too: `btf dump` takes an ELF with .BTF.
  ls "$tmp"/*.o | head -4 | xargs -I{} cp {} "$SEEDS/btf-raw/"
  # Small kernel images: an ELF with .BTF (an object is one), compressed each
  # way `btf extract` reads, bare, after junk (the magic scan) and as a bzImage.
  local elf; elf=$(ls "$tmp"/*.rb.o | head -1)
  gzip -9nc "$elf" > "$tmp/v.gz"; zstd -q19c "$elf" > "$tmp/v.zst"; lz4 -l -9 -q -c "$elf" > "$tmp/v.lz4"
  xz -c --check=crc32 "$elf" > "$tmp/v.xz"
  cp "$elf" "$SEEDS/btf-extract/vmlinux.elf"
  for z in gz zst lz4 xz; do
    cp "$tmp/v.$z" "$SEEDS/btf-extract/vmlinux.$z"
    { head -c 100 /dev/zero; printf 'junk\x1f\x8b'; cat "$tmp/v.$z"; printf '\x10\x20\x30\x40'; } > "$SEEDS/btf-extract/scan.$z"
    python3 - "$tmp/v.$z" "$SEEDS/btf-extract/bzimage.$z" <<'EOF'
import struct, sys
payload = open(sys.argv[1], "rb").read()
setup = bytearray(2 * 512)                        # setup_sects 1: protected mode at (1 + 1) * 512
setup[0x1f1] = 1
setup[0x202:0x206] = b"HdrS"
struct.pack_into("<H", setup, 0x206, 0x20f)       # boot protocol 2.15
struct.pack_into("<II", setup, 0x248, 16, len(payload))
open(sys.argv[2], "wb").write(bytes(setup) + b"\0" * 16 + payload + struct.pack("<I", 0))
EOF
  done
  cp /sys/kernel/btf/vmlinux "$SEEDS/btf-big/vmlinux.btf" 2>/dev/null || true
  for f in BTF/*.btf.xz; do xz -dc "$f" > "$SEEDS/btf-big/$(basename "$f" .xz)"; done
  rm -rf "$tmp"
  for r in "$SEEDS"/*; do say "  $(basename "$r"): $(ls "$r" | wc -l) seeds"; done
}
[ -d "$SEEDS/disasm" ] && [ -n "$(ls -A "$SEEDS/disasm")" ] || make_seeds
[ -x "$FUZZER" ] || { say "no $FUZZER"; exit 1; }

status=0
for reader in "${READERS[@]}"; do
  seeds=$reader reader_env=$reader flags=(-max_len=65536 -timeout=20 -rss_limit_mb=4096)
  if [ "$reader" = btf-big ]; then reader_env=btf-raw; flags=(-max_len=16777216 -timeout=120 -rss_limit_mb=8192 -len_control=0); fi
  mkdir -p "$WORK/corpus/$reader" "$WORK/crashes/$reader" "$WORK/logs"
  say "$reader: ${SECONDS_PER_READER}s (log: $WORK/logs/$reader.log)"
  # -fork=1 with -ignore_*: keep going after a finding, saving each input under crashes/.
  # The Swift runtime's backtracer off: ASan and libFuzzer print the stack, and an
  # orphaned swift-backtrace would outlive each crashed child.
  SWIFT_BACKTRACE=enable=no INFRARED_FUZZ_READER=$reader_env ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
    "$FUZZER" "$WORK/corpus/$reader" "$SEEDS/$seeds" "${flags[@]}" -max_total_time="$SECONDS_PER_READER" \
      -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -print_final_stats=1 \
      -artifact_prefix="$WORK/crashes/$reader/" ${FUZZ_FLAGS:-} > "$WORK/logs/$reader.log" 2>&1 || true
  grep -E "^#[0-9]+: cov" "$WORK/logs/$reader.log" | tail -1 >&2 || true
  found=$(ls "$WORK/crashes/$reader" | wc -l)
  say "$reader: $found finding(s) in $WORK/crashes/$reader"
  [ "$found" = 0 ] || status=1
done
exit $status
