#!/usr/bin/env bash
# Builds the Debian packages fotoauthd and libpam-fotostudio from this checkout.
#
#   bash packaging/build-deb.sh [OUTDIR]     (default OUTDIR: build-deb/ at the top)
#
# Copies the checkout's files (tracked and new ones, with working-tree edits; no build folders)
# into a temporary folder, adds packaging/debian as debian/, and runs
# `dpkg-buildpackage -b -us -uc` there, so that nothing is built or left in the checkout. The
# .deb, .changes and .buildinfo files end up in OUTDIR. Needs the build dependencies of
# packaging/debian/control and dpkg-dev, debhelper and fakeroot (scripts/deps.sh,
# FOTOSTUDIO_PACKAGING_PACKAGES); not root. docs/packaging.md describes the packages.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outdir=$(realpath -m "${1:-$top/build-deb}")

work=$(mktemp -d "${TMPDIR:-/tmp}/fotostudio-deb.XXXXXXXX")
trap 'rm -rf "$work"' EXIT
source_dir=$work/fotostudio-auth

copy_checkout() {
    mkdir "$source_dir"
    if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # Files deleted in the working tree are still in the index: --ignore-failed-read skips
        # them.
        git -C "$top" ls-files -z --cached --others --exclude-standard |
            tar -C "$top" --null --ignore-failed-read -T - -cf - 2>/dev/null |
            tar -C "$source_dir" -xf -
    else
        tar -C "$top" --exclude=./.git --exclude=./build --exclude='./build-*' -cf - . |
            tar -C "$source_dir" -xf -
    fi
    rm -rf "$source_dir/debian"
    cp -a "$top/packaging/debian" "$source_dir/debian"
}

copy_checkout
(cd "$source_dir" && dpkg-buildpackage -b -us -uc)

mkdir -p "$outdir"
find "$work" -maxdepth 1 -type f \( -name '*.deb' -o -name '*.changes' -o -name '*.buildinfo' \) \
    -exec cp -t "$outdir" {} +
echo "==> Packages in $outdir:"
ls -1 "$outdir"
