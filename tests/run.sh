#!/usr/bin/env bash
# run.sh: runs every test program (build/tests/test_*) and script (tests/test_*.py, *.sh),
# counts their PASS and FAIL lines, and ends with "N passed, M failed".
# A program that exits non-zero without printing a FAIL (a crash) counts as one failure. A test that
# cannot run here says so with a line "SKIP name: why"; skips are listed before the last line.
# MNIST_BUILD names the build folder (build, or build/san for `make test SANITIZE=1`); the
# scripts run the command $MNIST_BIN, by default the one in that folder. MNIST_EMU and
# MNIST_EMU_RACES: see below.
# The tests run in two lanes at once (the suite alone keeps about one core busy; CI's run of it must
# stay under 30 minutes): beside the others, the CUDA emulator's runs, which only compute and time
# nothing, with OpenBLAS on one thread; their output follows the others'. test_photos.py, which only
# computes too, is run by the lane that is done first with its own.
set -u
PYTHON=${PYTHON:-/usr/bin/python3}
# The tests send Ctrl-C and expect what a terminal's does, but the program keeps ignoring a signal it was
# started ignoring (as it should), and a shell without job control (a script's `make test &`, a runner's
# step) starts a background job with SIGINT ignored: there eight checks failed. So the suite runs with
# SIGINT at its default; a shell cannot reset a signal that was ignored when it started, Python can (and
# ignores SIGPIPE and SIGXFSZ itself, which exec keeps: those go back too). SIGHUP is left as it is (nohup
# make test goes on); the tests that send it reset it in that program alone (testlib.hangup_default).
if [ -z "${MNIST_TEST_SIGNALS:-}" ]; then
    export MNIST_TEST_SIGNALS=default
    exec "$PYTHON" -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):
    signal.signal(s, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$BASH" "$0" "$@"
fi
cd "$(dirname "$0")/.."
build=${MNIST_BUILD:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac # relative to the repository, or absolute
export MNIST_BIN=${MNIST_BIN:-$build/mnist}
results=$(mktemp -d)
lane=
# On exit (an interrupt too) the second lane gets SIGINT, as a terminal's Ctrl-C would give it (the
# Python tests then remove their temporary folders), up to 5 s to end, then SIGKILL. A SIGKILL to
# this script's group alone leaves that lane running: it is a group of its own.
stop_lane() {
    [ -n "$lane" ] || return
    kill -INT -- -"$lane" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 -- -"$lane" 2>/dev/null || return
        sleep 0.5
    done
    kill -KILL -- -"$lane" 2>/dev/null
}
trap 'stop_lane; rm -rf "$results"' EXIT
trap 'exit 130' INT TERM

# run_one: runs a test (its name, then its command), prints its output and "FAIL" for a crash, a
# skip where none may be (no_skip=1) or no check at all, and writes "passed failed skipped seconds
# name" to $results/$prefix.N.res ($prefix: a.000 ... in the first lane, b.000 ... in the second)
n=0
run_one() {
    local name=$1; shift
    local file
    file=$results/$prefix.$(printf %03d $n)
    n=$((n + 1))
    local t0=$SECONDS
    "$@" >"$file.out" 2>&1
    local rc=$?
    local p f s
    p=$(grep -c '^PASS ' "$file.out")
    f=$(grep -c '^FAIL ' "$file.out")
    s=$(grep -c '^SKIP ' "$file.out")
    {
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
    } >>"$file.out"
    echo "$p $f $s $((SECONDS - t0)) $name" >"$file.res"
    [ "$prefix" = a ] && { echo "== $name"; cat "$file.out"; }
}

skipped=()
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
[ -z "$emu" ] && skipped+=("the CUDA emulator's runs (MNIST_EMU not set)")
# The kernels' checks again on the emulator built with ThreadSanitizer (MNIST_EMU_RACES names it,
# build/races: make emu-races), each GPU thread a fiber ordered only by its block's barriers, so a
# race within a block is reported (exit 66), whichever order the threads ran in; the odd shapes
# only (MNIST_KERNEL_SMALL), one thread's work being slow there.
races=${MNIST_EMU_RACES:-}
[ -z "$races" ] && skipped+=("the kernels under ThreadSanitizer (MNIST_EMU_RACES not set)")

second_lane() {
    # at a lower priority: the first lane's tests that time things (serve's decodes at once, its
    # deadlines, signals) then run about as they would alone
    renice -n 10 -p "$BASHPID" >/dev/null
    export OPENBLAS_NUM_THREADS=1
    prefix=b
    no_skip=1
    if [ -n "$emu" ]; then
        for t in "$emu"/tests/test_*; do
            [ -x "$t" ] && run_one "emu: $(basename "$t")" env $small MNIST_EMU_MATH=cuda "$t"
        done
        run_one "emu: test_cuda_kernels, reverse order" env $small MNIST_EMU_ORDER=reverse "$emu/tests/test_cuda_kernels"
        run_one "emu: test_cuda_cli.py" env MNIST_BIN="$PWD/$emu/mnist" "$PYTHON" tests/test_cuda_cli.py
        run_one "emu: test_cuda_cli.py, own products" env MNIST_CUDA_GEMM=own MNIST_BIN="$PWD/$emu/mnist" "$PYTHON" \
            tests/test_cuda_cli.py
    fi
    if [ -n "$races" ]; then
        for t in "$races"/tests/test_*; do
            [ -x "$t" ] && run_one "races: $(basename "$t")" env MNIST_KERNEL_SMALL=1 "$t"
        done
    fi
    no_skip=0
    either_lane
    touch "$results/lane-b-done"
}
# the last of each lane: what either may run, run by the first to reach it (mkdir takes it). Every test that only
# computes shared so (the lanes came to 677 s and 555 s under the sanitizers, from 708 s and 416 s) put them beside
# the tests that time things for longer, and one of test_serve.py's bounds failed (11.6 s, under 8 wanted)
either_lane() {
    mkdir "$results/photos" 2>/dev/null &&
        run_one test_photos.py env OPENBLAS_NUM_THREADS=1 "$PYTHON" tests/test_photos.py
}
# its own process group (set -m), so that the trap above stops all of it
set -m
second_lane </dev/null &
lane=$!
set +m

prefix=a
for t in "$build"/tests/test_*; do
    [ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
for t in tests/test_*.py; do
    [ -e "$t" ] && [ "$t" != tests/test_photos.py ] && run_one "$(basename "$t")" "$PYTHON" "$t"
done
# MNIST_NO_E2E (make test SANITIZE=1): not the page in a browser (test_e2e.sh), whose server side test_serve.py
# covers under the sanitizers; it took 56 s of the first lane there, and CI's four steps came to 1512 s of 1800
for t in tests/test_*.sh; do
    if [ "$t" = tests/test_e2e.sh ] && [ -n "${MNIST_NO_E2E:-}" ]; then
        skipped+=("test_e2e.sh (MNIST_NO_E2E: the plain make test runs it)")
        continue
    fi
    [ -e "$t" ] && run_one "$(basename "$t")" bash "$t"
done
either_lane
wait "$lane"
lane=
for f in "$results"/b.*.out; do
    [ -e "$f" ] || continue
    if [ -e "${f%.out}.res" ]; then
        echo "== $(cut -d' ' -f5- "${f%.out}.res") (beside the others)"
    else
        echo "== (beside the others, stopped before its end)"
    fi
    cat "$f"
done

passed=0 failed=0 lane_a=0 lane_b=0
if [ ! -e "$results/lane-b-done" ]; then
    echo "FAIL the second lane of tests stopped before its end"
    failed=1
fi
for f in "$results"/*.res; do
    read -r p fl s secs name <"$f"
    passed=$((passed + p)) failed=$((failed + fl))
    [ "$s" -gt 0 ] && skipped+=("$name")
    case $f in */a.*) lane_a=$((lane_a + secs)) ;; *) lane_b=$((lane_b + secs)) ;; esac
done
echo "the slowest tests, in seconds (all: $SECONDS; the lanes $lane_a and $lane_b):"
cut -d' ' -f4- "$results"/*.res | sort -rn | head -8 | sed 's/^/  /'
[ ${#skipped[@]} -gt 0 ] && echo "skipped (see their SKIP lines): ${skipped[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
