#!/usr/bin/env bash
# run.sh: runs every test program (build/tests/test_*) and script (tests/test_*.py, *.sh),
# counts their PASS and FAIL lines, and ends with "N passed, M failed".
# A program that exits non-zero without printing a FAIL (a crash) counts as one failure. A test that
# cannot run here says so with a line "SKIP name: why"; skips are listed before the last line.
# MNIST_BUILD names the build folder (build, or build/san for `make test SANITIZE=1`); the
# scripts run the command $MNIST_BIN, by default the one in that folder. MNIST_EMU and
# MNIST_EMU_RACES: see below.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
build=${MNIST_BUILD:-build}
export MNIST_BIN=${MNIST_BIN:-$PWD/$build/mnist}
passed=0 failed=0 skipped=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

took=() # "seconds name" of each test, the slowest listed at the end (CI's run must stay under 30 minutes)
run_one() { # name, command...
    local name=$1; shift
    echo "== $name"
    local t0=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    cat "$log"
    took+=("$((SECONDS - t0)) $name")
    local p f s
    p=$(grep -c '^PASS ' "$log")
    f=$(grep -c '^FAIL ' "$log")
    s=$(grep -c '^SKIP ' "$log")
    [ "$s" -gt 0 ] && skipped+=("$name")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name exited with status $rc"
        f=1
    fi
    if [ "$s" -gt 0 ] && [ "${no_skip:-0}" = 1 ]; then
        echo "FAIL $name skipped checks on the CUDA emulator, where everything must run"
        f=$((f + 1))
    fi
    if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
        echo "FAIL $name ran no check"
        f=1
    fi
    passed=$((passed + p)) failed=$((failed + f))
}

for t in "$build"/tests/test_*; do
    [ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
# The CUDA backend's own source on the CUDA emulator (tests/emu), where MNIST_EMU names its build
# (build/emu, build/san/emu): its test programs, with the kernels' expf and logf as a GPU's may be
# (MNIST_EMU_MATH=cuda: within CUDA's bounds, not glibc's), so that the tolerances and the lab's
# accuracies are held against them; the kernels again with glibc's and the blocks and threads run
# in reverse order; and the command-line checks with the emulator's mnist (with cuBLAS, then with
# our own products, MNIST_CUDA_GEMM=own). There every check runs: a SKIP (say, its cuBLAS not
# found) is a failure. MNIST_EMU_SMALL (make test SANITIZE=1, where the emulator is 3 to 4 times
# slower): its test programs without the lab's shapes (MNIST_KERNEL_SMALL), which the plain run has.
emu=${MNIST_EMU:-}
small=${MNIST_EMU_SMALL:+MNIST_KERNEL_SMALL=1}
if [ -z "$emu" ]; then
    skipped+=("the CUDA emulator's runs (MNIST_EMU not set)")
else
    no_skip=1
    for t in "$emu"/tests/test_*; do
        [ -x "$t" ] && run_one "emu: $(basename "$t")" env $small MNIST_EMU_MATH=cuda "$t"
    done
    run_one "emu: test_cuda_kernels, reverse order" env $small MNIST_EMU_ORDER=reverse "$emu/tests/test_cuda_kernels"
    run_one "emu: test_cuda_cli.py" env MNIST_BIN="$PWD/$emu/mnist" "$PYTHON" tests/test_cuda_cli.py
    run_one "emu: test_cuda_cli.py, own products" env MNIST_CUDA_GEMM=own MNIST_BIN="$PWD/$emu/mnist" "$PYTHON" \
        tests/test_cuda_cli.py
    no_skip=0
fi
# The kernels' checks again on the emulator built with ThreadSanitizer (MNIST_EMU_RACES names it,
# build/races: make emu-races), each GPU thread a fiber ordered only by its block's barriers, so a
# race within a block is reported (exit 66), whichever order the threads ran in; the odd shapes
# only (MNIST_KERNEL_SMALL), one thread's work being slow there; OpenBLAS on one thread.
races=${MNIST_EMU_RACES:-}
if [ -z "$races" ]; then
    skipped+=("the kernels under ThreadSanitizer (MNIST_EMU_RACES not set)")
else
    no_skip=1
    for t in "$races"/tests/test_*; do
        [ -x "$t" ] && run_one "races: $(basename "$t")" env MNIST_KERNEL_SMALL=1 OPENBLAS_NUM_THREADS=1 "$t"
    done
    no_skip=0
fi
for t in tests/test_*.py; do
    [ -e "$t" ] && run_one "$(basename "$t")" "$PYTHON" "$t"
done
for t in tests/test_*.sh; do
    [ -e "$t" ] && run_one "$(basename "$t")" bash "$t"
done
echo "the slowest tests, in seconds (all: $SECONDS):"
printf '%s\n' "${took[@]}" | sort -rn | head -8 | sed 's/^/  /'
[ ${#skipped[@]} -gt 0 ] && echo "skipped (see their SKIP lines): ${skipped[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
