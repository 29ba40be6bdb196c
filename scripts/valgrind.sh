#!/usr/bin/env bash
# valgrind.sh: a short train, eval and predict under valgrind's memcheck, on a small IDX data set
# made here (nothing is downloaded), and the sparse products' test program when given (the
# backend takes them only in AVX-512 builds, which valgrind cannot run). Clean means: no memory
# error and no definite or indirect leak in any run; exit status 0 then, 1 otherwise.
#
#   scripts/valgrind.sh build/mnist [build/tests/test_sparse]        (make valgrind)
set -u
bin=${1:-build/mnist}
sparse_test=${2:-}
PYTHON=${PYTHON:-/usr/bin/python3}
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/mnist-valgrind.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$PYTHON" - "$work" <<'PY' || exit 1
import os, random, struct, sys
d = sys.argv[1]
rng = random.Random(1)
def idx(name, magic, dims, body):
    with open(os.path.join(d, name), "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", x) for x in dims) + bytes(body))
for prefix, n in (("train", 256), ("t10k", 64)):
    # a fifth of the pixels inked, as in MNIST's digits
    idx(prefix + "-images-idx3-ubyte", 2051, [n, 28, 28],
        [rng.randrange(1, 256) if rng.random() < 0.2 else 0 for _ in range(n * 784)])
    idx(prefix + "-labels-idx1-ubyte", 2049, [n], [rng.randrange(10) for _ in range(n)])
# a digit-like picture: a white stroke on black, as a binary PGM
px = bytearray(56 * 56)
for y in range(10, 46):
    for x in range(26, 31):
        px[y * 56 + x] = 255
with open(os.path.join(d, "one.pgm"), "wb") as f:
    f.write(b"P5 56 56 255\n" + bytes(px))
PY

vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-origins=yes)
status=0
run() { # label, args...
    local label=$1; shift
    echo "== valgrind: mnist $*"
    "${vg[@]}" "$bin" "$@" >"$work/out" 2>&1
    local rc=$?
    tail -n 5 "$work/out"
    if [ "$rc" -ne 0 ]; then
        echo "valgrind.sh: $label: exit status $rc$([ "$rc" -eq 99 ] && echo ": valgrind found an error")"
        status=1
    fi
}
data=(--data "$work" --no-verify)
run train train "${data[@]}" --layers 784,32,10 --epochs 2 --batch 32 --threads 2 --save "$work/m.safetensors"
run eval eval "${data[@]}" --model "$work/m.safetensors" --threads 2
for prep in mnist lab fashion outline; do
    run "predict ($prep)" predict --model "$work/m.safetensors" --preprocess "$prep" "$work/one.pgm"
done
run "predict --number" predict --model "$work/m.safetensors" --number "$work/one.pgm"
if [ -n "$sparse_test" ]; then
    echo "== valgrind: $sparse_test"
    "${vg[@]}" "$sparse_test" >"$work/out" 2>&1
    rc=$?
    echo "$(grep -c '^PASS' "$work/out") passed, $(grep -c '^FAIL' "$work/out") failed"
    [ "$rc" -ne 0 ] && { echo "valgrind.sh: $sparse_test: exit status $rc"; status=1; }
fi
[ "$status" -eq 0 ] && echo "valgrind.sh: clean (train, eval, predict${sparse_test:+, the sparse products})"
exit "$status"
