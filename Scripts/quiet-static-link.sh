#!/usr/bin/env bash
# quiet-static-link.sh COMMAND… — runs COMMAND (a `swift build` of a static
# executable), its stderr merged into stdout, without the linker's known
# glibc notes that every static link prints and nobody acts on:
#   …: warning: Using 'dlopen' in statically linked applications requires at
#      runtime the shared libraries from the glibc version used for linking
#   (the same for getaddrinfo, getpwnam, getpwuid_r, getgrgid_r, …: called
#   from libswiftCore, FoundationEssentials, libmruby, MetricsServer's
#   getaddrinfo and InfraredSupport's dlopen; each works in the static tools
#   or fails as an error when called)
#   …: warning: the use of `mktemp' is dangerous, better use `mkstemp' or `mkdtemp'
#   (FoundationEssentials' createTemporaryFile, linked, not called)
# Every other line passes; COMMAND's exit status is this script's.
set -uo pipefail
"$@" 2>&1 | { grep -v -E \
  -e ": warning: Using '[a-z_0-9]+' in statically linked applications requires at runtime the shared libraries from the glibc version used for linking$" \
  -e ": warning: the use of \`mktemp' is dangerous, better use \`mkstemp' or \`mkdtemp'$" || true; }
exit "${PIPESTATUS[0]}"
