#!/usr/bin/env bash
# test_e2e.sh: the page of `mnist serve` in a real browser (tests/e2e/e2e.mjs): Debian's Chromium,
# headless, driven by npm's playwright-core (pinned in tests/e2e/package.json). Installs Chromium
# (apt-get, as root) and playwright-core (npm) when missing; where it cannot, prints one SKIP line
# saying why (tests/run.sh lists skips). Screenshots go to $MNIST_BUILD/e2e/.
set -u
cd "$(dirname "$0")/.."
build=${MNIST_BUILD:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac # MNIST_BUILD relative to the repository, or absolute
mnist=${MNIST_BIN:-$build/mnist}
out=$build/e2e
chromium=${CHROMIUM:-/usr/bin/chromium}
skip() { echo "SKIP e2e: $*"; exit 0; }
quiet_apt() { DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$@" >/dev/null 2>&1; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    [ "$(id -u)" = 0 ] && { apt-get update -qq >/dev/null 2>&1; quiet_apt nodejs npm; }
    command -v node >/dev/null && command -v npm >/dev/null || skip "node and npm are missing (apt-get install nodejs npm)"
fi
if [ ! -x "$chromium" ]; then
    [ "$(id -u)" = 0 ] && { apt-get update -qq >/dev/null 2>&1; quiet_apt chromium; }
    [ -x "$chromium" ] || skip "$chromium is missing and could not be installed (apt-get install chromium, as root)"
fi
if [ ! -f tests/e2e/node_modules/playwright-core/package.json ]; then
    (cd tests/e2e && timeout 300 npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) ||
        skip "npm could not install playwright-core (cd tests/e2e && npm ci)"
fi

mkdir -p "$out" || exit 1
# A small network that reads handwriting well, trained in about 2 s.
if ! "$mnist" train --layers 784,256,10 --epochs 3 --lr 0.1 --save "$out/model.safetensors" >"$out/train.log" 2>&1; then
    cat "$out/train.log"
    echo "FAIL e2e: training the model for the page"
    exit 1
fi
echo "model: $(tail -2 "$out/train.log" | head -1)"
# The photo to upload: MNIST test digit 1 (a 2), as a drawing app would save it.
label=$(${PYTHON:-/usr/bin/python3} scripts/digit_png.py "$out/upload.png" --index 1) || { echo "FAIL e2e: making the photo"; exit 1; }
CHROMIUM=$chromium exec timeout 120 node tests/e2e/e2e.mjs "$mnist" "$out/model.safetensors" "$out/upload.png" "$label" "$out"
