#!/usr/bin/env bash
# Regenerates the kernel BTF fixtures in BTF/ from Debian's cloud kernel
# packages: downloads each image (Scripts/fetch-kernel-images.sh), extracts
# its .BTF with `infrared btf extract`, compresses it with xz, and records
# the package versions and checksums in BTF/VERSIONS.
#
#   Scripts/update-btf.sh            # latest 6.1 and 6.12 cloud kernels
#   Scripts/update-btf.sh PKG[=VER]…  # exactly these image packages
#
# Needs: apt (Debian bookworm sources, incl. bookworm-security for 6.12),
# dpkg-deb, xz, and a built `infrared` (swift build), or INFRARED=path.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "update-btf: error: $*" >&2; exit 1; }
infrared=${INFRARED:-}
if [ -z "$infrared" ]; then
  for p in .build-btf/debug/infrared .build/debug/infrared .build/release/infrared; do
    [ -x "$p" ] && { infrared=$p; break; }
  done
fi
[ -n "$infrared" ] && [ -x "$infrared" ] || die "no infrared binary: run swift build, or set INFRARED"

packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  # The meta-packages name the current ABI's image package.
  for meta in linux-image-cloud-amd64 linux-image-6.12-cloud-amd64; do
    dep=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
    [ -n "$dep" ] || die "$meta: not found in the apt sources (6.12 needs bookworm-security or bookworm-backports)"
    packages+=("$dep")
  done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo "# Kernel BTF fixtures: RELEASE PACKAGE VERSION SHA256-OF-RAW-BTF"
  echo "# Written by Scripts/update-btf.sh; BTF/RELEASE.btf.xz is the image's .BTF, xz -9e."
} > "$tmp/VERSIONS"
Scripts/fetch-kernel-images.sh "${packages[@]}" | while read -r package version vmlinuz; do
  release=${vmlinuz##*/vmlinuz-}
  "$infrared" btf extract "$vmlinuz" -o "$tmp/$release.btf"
  xz -9e -T1 -c "$tmp/$release.btf" > "$tmp/$release.btf.xz"
  sum=$(sha256sum "$tmp/$release.btf" | cut -d' ' -f1)
  echo "$release $package $version $sum" >> "$tmp/VERSIONS"
  echo "update-btf: $release ($package $version): $(stat -c %s "$tmp/$release.btf.xz") bytes compressed"
done
rm -f BTF/*.btf.xz
mv "$tmp"/*.btf.xz BTF/
mv "$tmp/VERSIONS" BTF/VERSIONS
