#!/usr/bin/env bash
# Downloads Debian kernel image packages and unpacks their vmlinuz.
#
#   Scripts/fetch-kernel-images.sh [PACKAGE[=VERSION]]...
#
# With no arguments, fetches the packages pinned in BTF/VERSIONS (the ones
# the BTF fixtures were extracted from). Prints one line per package:
#   PACKAGE VERSION PATH-TO-VMLINUZ
# Files are cached in $INFRARED_KERNEL_CACHE (default /var/tmp/infrared-kernels),
# so a second run downloads nothing. Uses only apt (Debian's archive).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${INFRARED_KERNEL_CACHE:-/var/tmp/infrared-kernels}
mkdir -p "$cache"

die() { echo "fetch-kernel-images: error: $*" >&2; exit 1; }

specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
  [ -r BTF/VERSIONS ] || die "no BTF/VERSIONS and no packages given"
  while read -r release package version _; do
    case "$release" in ''|\#*) continue ;; esac
    specs+=("$package=$version")
  done < BTF/VERSIONS
fi

for spec in "${specs[@]}"; do
  package=${spec%%=*}
  version=${spec#*=}
  [ "$version" = "$spec" ] && version=$(apt-cache policy "$package" | awk '/Candidate:/ {print $2}')
  [ -n "$version" ] && [ "$version" != "(none)" ] || die "$package: not in the configured apt sources (run apt-get update?)"
  dir="$cache/$package-$version"
  if ! ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then
    tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
    ( cd "$tmp" && apt-get download -q "$package=$version" >/dev/null 2>&1 ) \
      || { rm -rf "$tmp"; die "$package=$version: apt-get download failed (no longer in the archive?)"; }
    mkdir -p "$tmp/x"
    dpkg-deb -x "$tmp"/*.deb "$tmp/x"
    rm -rf "$dir"
    mv "$tmp/x" "$dir"
    rm -rf "$tmp"
  fi
  echo "$package $version $(ls "$dir"/boot/vmlinuz-* | head -1)"
done
