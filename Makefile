# Infrared: the commands a developer and CI run.
#   make setup   install system packages, mount bpffs/tracefs/debugfs (root)
#   make build   release build of the `infrared` command
#   make test    debug build, then every test (kernel tests need root)
#   make tables  regenerate Sources/BPF/Generated from the system headers
#   make demo    the live demo: the seed device filter attached to a fresh cgroup for a few seconds
SWIFT ?= swift
# Extra flags for every swift command, e.g. SWIFT_FLAGS="--scratch-path .build-mine".
SWIFT_FLAGS ?=
PYTHON ?= python3

.PHONY: setup build test tables demo

setup:
	bash Scripts/setup.sh

build:
	$(SWIFT) build -c release $(SWIFT_FLAGS)

# Tests run serially: the kernel tests share cgroups and the bpf() namespace.
test:
	$(SWIFT) build $(SWIFT_FLAGS)
	$(SWIFT) test $(SWIFT_FLAGS)

tables:
	$(PYTHON) Scripts/gen-tables.py

demo: build
	INFRARED=.build/release/infrared bash Scripts/demo.sh
