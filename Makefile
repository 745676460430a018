# Infrared: the commands a developer and CI run.
#   make setup   install system packages, mount bpffs/tracefs/debugfs (root)
#   make build   release build of the `infrared` command (static), with the static loader runner beside it
#   make runner  the static loader runner `infrared gen loader` builds tools on (.build-runner/release/infrared-runner)
#   make test    debug build, then every test (kernel tests need root), then the static release CLI's smoke check
#                and the kernel matrix (make vmtest)
#   make tables  regenerate Sources/BPF/Generated from the system headers, and the prelude's bytecode (mrbc)
#   make vmtest  the kernel matrix: the static tools in Debian's 6.1 and 6.12 kernels under QEMU (Scripts/vmtest.sh)
#   make demo    the live demo: the seed device filter attached to a fresh cgroup for a few seconds
#   make fuzz    libFuzzer + AddressSanitizer on the readers (disasm, btf dump/extract, gen skel), FUZZ_SECONDS each
SWIFT ?= swift
# Extra flags for every swift command, e.g. SWIFT_FLAGS="--scratch-path .build-mine".
SWIFT_FLAGS ?=
PYTHON ?= python3

# The loader runner: one static executable (Swift runtime, libbpf, libelf,
# zlib, libzstd, libmruby linked in; no Foundation, no regex library) that
# `infrared gen loader` copies and appends a probe to. Its own scratch path
# keeps its flags from invalidating the other builds; tests find it through
# INFRARED_RUNNER.
RUNNER_SCRATCH ?= .build-runner
RUNNER := $(RUNNER_SCRATCH)/release/infrared-runner
# Swift marks every public function SHF_GNU_RETAIN, so --gc-sections keeps all
# of them (and the C archive members they call: zstd's compressor, 0.4 MB);
# -internalize-at-link drops the mark (the runner is one static link: no other
# client), -function-sections gives each function a section the linker can drop.
# 11.2 MB → 9.95 MB (Benchmarks/footprint.sh). Not --icf=safe (-94 KB): gold
# folds functions of libmruby's gems and hooks lose methods (`sort_by`).
# -Osize: 10.01 → 9.89 MB once before_load/Target landed; it costs the record
# printer 7–10 % (Benchmarks/loader-bench.sh, RUNS=5: 23.6 → 21.8 M text
# records/s, 22.1 → 19.8 M JSON; the C libbpf tool: 7.5 M) and start-up nothing.
RUNNER_FLAGS := -Xswiftc -Xfrontend -Xswiftc -internalize-at-link -Xswiftc -Xfrontend -Xswiftc -function-sections -Xswiftc -Osize
# A static link's glibc notes (dlopen, getaddrinfo, getpwnam… "requires at runtime the
# shared libraries") left out of `make build`'s output; every other line passes.
QUIET_LINK := bash Scripts/quiet-static-link.sh

.PHONY: setup build test tables demo runner fuzz vmtest install deb

setup:
	bash Scripts/setup.sh

# The CLI is one static executable (-static-executable): no dynamic loader
# and no symbol binding at each start, ~1.5 ms less per `infrared build`
# (Benchmarks/run.sh). libdw, liblz4 and liblzma are linked in
# (Sources/CLinkedLibraries) since a static executable cannot dlopen them.
#
# -disable-concrete-type-metadata-mangled-name-accessors: a generic type's
# metadata is built by calling its accessor, not by demangling its name at
# first use, which looks each of its conformances up in every conformance
# record of the binary (a static one holds Foundation's): about 60 µs per
# type, 1.3 ms of a one-program `infrared build` (6.7 → 5.3 ms, medians of
# 21 runs, Benchmarks/timecmd.c). Larger builds do not change.
CLI_FLAGS := -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors
build: runner
	$(QUIET_LINK) $(SWIFT) build -c release --product infrared -Xswiftc -static-executable $(CLI_FLAGS) $(SWIFT_FLAGS)
	cp $(RUNNER) "$$($(SWIFT) build -c release $(SWIFT_FLAGS) --show-bin-path)/infrared-runner-static"

# swiftc skips code generation for a file whose IR is unchanged since its last
# object, whatever the code generation flags: when RUNNER_FLAGS change, the
# objects are removed so that every file is compiled with the new ones.
runner:
	@mkdir -p $(RUNNER_SCRATCH); if [ "$$(cat $(RUNNER_SCRATCH)/runner-flags 2>/dev/null)" != '$(RUNNER_FLAGS)' ]; then \
	  rm -f $(RUNNER_SCRATCH)/release/*.build/*.o; echo '$(RUNNER_FLAGS)' > $(RUNNER_SCRATCH)/runner-flags; fi
	$(QUIET_LINK) $(SWIFT) build -c release --product infrared-runner --scratch-path $(RUNNER_SCRATCH) -Xswiftc -static-executable -Xlinker -s $(RUNNER_FLAGS)

# Install like a tool: the static CLI in $(PREFIX)/bin, the runner where
# `infrared gen loader` looks beside it (../libexec/infrared/infrared-runner).
#   make install PREFIX=/usr/local   (DESTDIR for a staging root)
#   make deb                         .build-deb/infrared_$(VERSION)_<arch>.deb of both, installed under /usr
PREFIX ?= /usr/local
RELEASE_BIN ?= $$($(SWIFT) build -c release $(SWIFT_FLAGS) --show-bin-path)
# No release tags yet: 0~git<commit time>.<commit>, increasing with each commit.
VERSION ?= 0~git$(shell git log -1 --format=%cd --date=format:%Y%m%d%H%M%S).$(shell git rev-parse --short HEAD)

install: build
	install -D -m 755 "$(RELEASE_BIN)/infrared" "$(DESTDIR)$(PREFIX)/bin/infrared"
	install -D -m 755 "$(RUNNER)" "$(DESTDIR)$(PREFIX)/libexec/infrared/infrared-runner"

deb: build
	rm -rf .build-deb && mkdir -p .build-deb/root/DEBIAN
	$(MAKE) -o build install DESTDIR="$(abspath .build-deb/root)" PREFIX=/usr RELEASE_BIN="$(RELEASE_BIN)" RUNNER="$(abspath $(RUNNER))"
	printf '%s\n' "Package: infrared" "Version: $(VERSION)" "Architecture: $$(dpkg --print-architecture)" \
	  "Maintainer: Infrared developers <infrared@localhost>" "Section: devel" "Priority: optional" \
	  "Installed-Size: $$(du -sk .build-deb/root/usr | cut -f1)" \
	  "Description: Ruby probes compiled to BPF, static loaders and skeletons" \
	  " infrared compiles Ruby probe files to BPF ELF objects and generates static" \
	  " loaders (on the runner in /usr/libexec/infrared) and C and Swift skeletons." \
	  > .build-deb/root/DEBIAN/control
	dpkg-deb --root-owner-group --build .build-deb/root ".build-deb/infrared_$(VERSION)_$$(dpkg --print-architecture).deb"

# Tests run serially: the kernel tests share cgroups and the bpf() namespace.
# Then the release CLI (one static executable) against the debug one, and
# its loaders in the kernels of BTF/VERSIONS under QEMU (~40 s).
test: runner
	$(SWIFT) build $(SWIFT_FLAGS)
	INFRARED_RUNNER="$(abspath $(RUNNER))" $(SWIFT) test $(SWIFT_FLAGS)
	# Least privilege (setcap + setpriv as user 65534) and a real Prometheus scraping two tools.
	bash Scripts/least-privilege.sh "$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)/infrared" "$(abspath $(RUNNER))"
	bash Scripts/prometheus-scrape.sh "$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)/infrared" "$(abspath $(RUNNER))"
	$(MAKE) build
	REL="$$($(SWIFT) build -c release $(SWIFT_FLAGS) --show-bin-path)/infrared" \
	DBG="$$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)/infrared" bash Scripts/static-smoke.sh
	INFRARED="$$($(SWIFT) build -c release $(SWIFT_FLAGS) --show-bin-path)/infrared" bash Scripts/vmtest.sh

# The prelude's bytecode (mrbc) follows the tables it is generated from.
tables:
	$(PYTHON) Scripts/gen-tables.py
	INFRARED_UPDATE_PRELUDE=1 $(SWIFT) test $(SWIFT_FLAGS) --filter PreludeTests/testCompiledPreludeIsCurrent

# The static loaders built by the release CLI, run in each kernel of
# BTF/VERSIONS booted under QEMU (TCG); prints kernels x tools.
vmtest: build
	INFRARED="$$($(SWIFT) build -c release $(SWIFT_FLAGS) --show-bin-path)/infrared" bash Scripts/vmtest.sh

demo: build
	INFRARED=.build/release/infrared bash Scripts/demo.sh

# Scratch path .build-asan (FUZZ_SCRATCH); FUZZ_READERS: e.g. "disasm gen-skel" (default: all).
FUZZ_SECONDS ?= 60
FUZZ_READERS ?=
fuzz:
	bash Scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_READERS)
