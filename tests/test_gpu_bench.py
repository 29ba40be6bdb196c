"""test_gpu_bench.py: bench/gpu.py, the one device call a lent GPU gets, run here against a stand-in
mnist that prints made-up epoch records (no GPU, no CUDA: these are not results), so that the
script's own parts cannot fail that call: every row is trained with its flags and environment (and
none inherited), the table has each row's numbers, a failed row says so and fails the run, and the
verdict lines pick the fastest way for each precision and hold it to the targets and to the lab's
accuracies."""
import glob
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import ROOT, check, status  # noqa: E402

LAB = [0.7515, 0.8279, 0.8569, 0.8707, 0.8812]

# The stand-in: ms per epoch by the way of computing, epochs 0..4 at ms + 9, ms, ms + 2, ms - 1,
# ms + 1 (the median of epochs 1.. is ms + 0.5; of all five it would be ms + 1). FAKE_FAIL names a
# way that prints its epochs and exits 3, FAKE_OFF one whose accuracies are 0.01 below the lab's,
# FAKE_FAST one that takes 1 ms, FAKE_HANG one that writes its pid to FAKE_PID and sleeps. It logs each
# call's arguments and way.
STAND_IN = r'''#!/usr/bin/env python3
import json, os, sys
gemm = os.environ.get("MNIST_CUDA_GEMM")
way = (gemm + " " if gemm in ("own", "own3") else "") + ("tf32" if "--tf32" in sys.argv else "fp32")
way += " nograph" if "--no-graph" in sys.argv else ""
way += " unfused" if os.environ.get("MNIST_CUDA_UNFUSED") == "1" else ""
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "way": way, "tf32_override": os.environ.get("NVIDIA_TF32_OVERRIDE")})
            + "\n")
if os.environ.get("FAKE_HANG") == way:  # says its pid, then hangs as a stuck GPU program would
    with open(os.environ["FAKE_PID"], "w") as f:
        f.write(str(os.getpid()))
    import time
    time.sleep(120)
ms = {"fp32": 35, "tf32": 25, "fp32 nograph": 60, "fp32 unfused": 37, "own fp32": 18, "own tf32": 13,
      "own3 fp32": 22}[way]
ms = 1 if os.environ.get("FAKE_FAST") == way else ms
off = 0.01 if os.environ.get("FAKE_OFF") == way else 0.0
for i, t in enumerate(LAB):
    print(json.dumps({"epoch": i, "seconds": (ms + [9, 0, 2, -1, 1][i]) / 1e3, "eval_seconds": 0.0042,
                      "train_accuracy": 0.7, "test_accuracy": t - off}))
sys.exit(3 if os.environ.get("FAKE_FAIL") == way else 0)
'''.replace("LAB", repr(LAB))


def bench(tmp, jax=False, flags=(), **env):
    """Run bench/gpu.py (with flags) on the stand-in; its exit status, the table it wrote, the calls it
    made, the files it left in $OUT."""
    build = os.path.join(tmp, "build")
    os.makedirs(os.path.join(build, "tests"), exist_ok=True)
    with open(os.path.join(build, "mnist"), "w") as f:
        f.write(STAND_IN)
    os.chmod(os.path.join(build, "mnist"), 0o755)
    out, log = tempfile.mkdtemp(dir=tmp), os.path.join(tmp, "calls-%d.log" % len(os.listdir(tmp)))
    e = dict(os.environ, MNIST_BUILD=build, OUT=out, FAKE_LOG=log, MNIST_DATA=tmp, **env)
    e["MNIST_CUDA_GEMM"] = "own"  # set outside: gpu.py must not pass on a way that it did not choose
    e["NVIDIA_TF32_OVERRIDE"] = "1"  # nor cuBLAS's switch that makes every FP32 product TF32
    e.pop("MNIST_CUDA_UNFUSED", None)
    flags = ["--no-checks"] + ([] if jax else ["--no-jax"]) + list(flags)  # jax: the JAX rows run, with whatever
                                                                          # JAX is found
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gpu.py")] + flags, env=e, capture_output=True,
                       text=True, timeout=120)
    md = os.path.join(out, "bench-gpu.md")
    table = open(md).read() if os.path.exists(md) else ""
    calls = [json.loads(line) for line in open(log)] if os.path.exists(log) else []
    return p.returncode, table, calls, sorted(os.listdir(out))


def row(table, label):
    """The cells of the table's row for label, or None."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == label:
            return cells
    return None


def checks(tmp):
    rc, table, calls, files = bench(tmp)
    check(files == ["bench-gpu.log", "bench-gpu.md", "steps.log"],
          f"gpu.py leaves three files in $OUT, of the 8 that the device tool brings back: {files}")
    ways = sorted(c["way"] for c in calls)
    check(rc == 0 and ways == sorted(["fp32", "tf32", "fp32 nograph", "fp32 unfused", "own fp32", "own tf32",
                                      "own3 fp32"]),
          f"gpu.py trains each way once, with its flags and environment and none it inherited (exit {rc}; {ways})")
    check(len(calls) == 7 and all(c["argv"][:6] == ["train", "--device", "cuda", "--epochs", "5", "--json"]
                                  for c in calls),
          "every row is `mnist train --device cuda --epochs 5 --json`")
    check(calls and all(c["tf32_override"] is None for c in calls),
          f"no row gets NVIDIA_TF32_OVERRIDE, which would make FP32's products TF32: "
          f"{[c['tf32_override'] for c in calls]}")
    own = row(table, "C FP32, own products")
    check(own is not None and own[1:4] == ["18.5", "27.0", "4.2"] and own[6] == " ".join(f"{t:.4f}" for t in LAB),
          f"a row has the median ms of epochs 1.., epoch 0's ms, the evaluation ms and the accuracies: {own}")
    check('FP32: fastest "C FP32, own products", 18.5 ms per epoch: target 20 ms met; test accuracies within 0.0006'
          in table, "the FP32 verdict: the fastest way, the target met, the accuracies within the lab's")
    check('TF32: fastest "C TF32, own products", 13.5 ms per epoch: target 12 ms not met' in table,
          "the TF32 verdict: a miss of the target says so")
    check("evaluation: fastest" in table and "4.2 ms: target 5 ms met" in table, "the evaluation verdict")

    rc, table, _, _ = bench(tmp, FAKE_FAIL="own tf32", FAKE_OFF="own fp32", FAKE_FAST="fp32 nograph")
    failed = row(table, "C TF32, own products")
    check(rc == 1 and failed is not None and failed[1] == "failed (exit 3)",
          f"a row that fails says so, though it printed epochs, and the run fails (exit {rc}; {failed})")
    check('FP32: fastest "C FP32, own products", 18.5 ms per epoch: target 20 ms met; test accuracies NOT '
          'within' in table and 'TF32: fastest "C TF32", 25.5 ms' in table,
          "accuracies off the lab's are called out; neither a failed way nor --no-graph (which measures the graph, "
          "not a way to train) is the fastest")


def row_limit_checks(tmp):
    """A row of ours that runs out its time (--row-limit) is stopped, and the rows of ours after it are
    skipped, not waited for: on a lent GPU the checks after them, which say why, get the time. (The
    first row hangs: no row here has to finish within the 3 s.)"""
    pidf = os.path.join(tmp, "row-limit.pid")
    t0 = time.monotonic()
    rc, table, calls, _ = bench(tmp, flags=["--row-limit", "3"], FAKE_HANG="fp32", FAKE_PID=pidf)
    sec = time.monotonic() - t0
    ways = [c["way"] for c in calls]
    check(ways == ["fp32"] and sec < 60,
          f"the rows after one that ran out its 3 s are not started ({ways}, {sec:.0f} s)")
    hung, after = row(table, "C FP32"), [row(table, label) for label in ("C TF32", "C TF32, own products")]
    check(rc == 1 and hung and hung[1] == "failed (timed out)"
          and all(r and r[1] == 'skipped, "C FP32" ran out its 3 s' for r in after),
          f"the table says which row ran out its time and which were skipped for it, and the run fails (exit {rc}; "
          f"{hung}; {after})")
    pid = int(open(pidf).read()) if os.path.exists(pidf) and open(pidf).read() else 0
    check(pid and not alive(pid), f"the row that ran out its time was ended (pid {pid})")


def order_checks(tmp):
    """The issue's rows first (C FP32 and TF32, then JAX's), then the other ways, then the checks: a
    step that takes its whole time limit costs the steps after it, so those are the ones to spare.
    Here with stand-in checks that pass, and a stand-in JAX whose script fails at once."""
    build = os.path.join(tmp, "build")
    for t in ("test_cuda", "test_cuda_kernels"):
        with open(os.path.join(build, "tests", t), "w") as f:
            f.write("#!/bin/sh\necho PASS stand-in\n")
        os.chmod(os.path.join(build, "tests", t), 0o755)
    jax = os.path.join(tmp, "fakejax", "jax")
    os.makedirs(jax)
    open(os.path.join(jax, "__init__.py"), "w").close()
    out = tempfile.mkdtemp(dir=tmp)
    e = dict(os.environ, MNIST_BUILD=build, OUT=out, FAKE_LOG=os.path.join(tmp, "order.log"), MNIST_DATA=tmp,
             PYTHONPATH=os.path.dirname(jax), CUDA_HOME=tmp, PATH="/usr/bin:/bin")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gpu.py")], env=e, capture_output=True, timeout=300)
    steps = [line.split(":")[0][3:] for line in open(os.path.join(out, "bench-gpu.log")) if line.startswith("-- ")]
    want = ["train-fp32", "train-tf32", "jax-fp32", "jax-tf32", "train-fp32-nograph", "train-fp32-unfused",
            "train-fp32-own", "train-fp32-own3", "train-tf32-own", "kernels", "backend", "cli", "compute-sanitizer"]
    check(steps == want, f"the steps run in the order of what the issue asks for first: {steps}")
    table = open(os.path.join(out, "bench-gpu.md")).read()
    labels = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| C ")
              or line.startswith("| JAX ")]
    check(labels[-2:] == ["JAX FP32", "JAX TF32"] and len(labels) == 9, f"the table has C's rows, then JAX's: {labels}")
    for t in ("test_cuda", "test_cuda_kernels"):
        os.remove(os.path.join(build, "tests", t))


def bundle_checks(tmp):
    """The device call runs a bundle (--bundle FILE, a tar.xz of bin/, lib/ and data/): the rows run
    its programs; and a Python without lzma (no tarfile for .xz) unpacks it with the machine's tar."""
    stage, bundle = os.path.join(tmp, "stage"), os.path.join(tmp, "bundle.tar.xz")
    for d in ("bin", "lib", "data"):
        os.makedirs(os.path.join(stage, d))
    with open(os.path.join(stage, "bin", "mnist"), "w") as f:
        f.write(STAND_IN)
    os.chmod(os.path.join(stage, "bin", "mnist"), 0o755)
    with tarfile.open(bundle, "w:xz") as t:
        t.add(stage, arcname=".")
    nolzma = os.path.join(tmp, "nolzma")
    os.makedirs(nolzma)
    with open(os.path.join(nolzma, "sitecustomize.py"), "w") as f:
        f.write("import sys\nsys.modules['lzma'] = None  # as a Python built without it\n")
    for how, extra in (("", {}), (" by a Python without lzma", {"PYTHONPATH": nolzma})):
        out, log = tempfile.mkdtemp(dir=tmp), os.path.join(tmp, "bundle-calls-%d.log" % len(os.listdir(tmp)))
        e = dict(os.environ, MNIST_BUILD=os.path.join(tmp, "nowhere"), OUT=out, FAKE_LOG=log, TMPDIR=tmp,
                 **extra)  # TMPDIR: gpu.py unpacks the bundle in a folder of its own there
        p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gpu.py"), "--bundle", bundle, "--no-checks",
                            "--no-jax"], env=e, capture_output=True, text=True, timeout=120)
        calls = [json.loads(line) for line in open(log)] if os.path.exists(log) else []
        said = open(os.path.join(out, "bench-gpu.log")).read() if os.path.exists(os.path.join(out, "bench-gpu.log")) \
            else ""
        check(p.returncode == 0 and len(calls) == 7 and (not extra or "unpacking it with tar" in said),
              f"a bundle unpacked{how} runs its mnist for every row (exit {p.returncode}, {len(calls)} rows): "
              f"{(p.stdout + p.stderr).strip()[-300:]}")
        left = glob.glob(os.path.join(tmp, "mnist-gpu-*"))
        check(not left, f"the bundle's folder is removed at the end{how} ({left})")


def jax_checks():
    """A JAX run on the CPU (JAX falls back to it when its GPU plugin cannot start) is no row to take
    the ratio against: its row says where it ran, and the C rows get no ratio."""
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import gpu  # noqa: E402
    epochs = [{"epoch": i, "seconds": 0.03, "eval_seconds": 0.004, "train_accuracy": 0.7, "test_accuracy": t}
              for i, t in enumerate(LAB)]
    c = ("C FP32", gpu.summarize(epochs), 0)
    tables = {}
    for dev in ("cuda:0", "TFRT_CPU_0"):
        j = gpu.jax_row("JAX FP32", 0, [{"device": dev, "epochs": epochs}])
        tables[dev] = "\n".join(gpu.make_table("GPU", 5, [c, j], [], []))
    check(row(tables["cuda:0"], "C FP32")[7] == "1.00x faster" and row(tables["TFRT_CPU_0"], "C FP32")[7] == ""
          and row(tables["TFRT_CPU_0"], "JAX FP32")[1] == "ran on TFRT_CPU_0, not on the GPU",
          f"a JAX run on the CPU says so, and no ratio is taken against it: {row(tables['TFRT_CPU_0'], 'JAX FP32')}")


# A stand-in JAX whose device is the CPU, as JAX's is when its GPU plugin cannot start: enough of it for
# bench/jax_lab.py to get as far as loading the data, which would fail (there are none), or to stop
# before, as --gpu-only does.
FAKE_JAX = {
    "__init__.py": "__version__ = '0-stand-in'\n"
                   "class _Device:\n    platform = 'cpu'\n    def __str__(self):\n        return 'TFRT_CPU_0'\n"
                   "def devices():\n    return [_Device()]\n"
                   "def grad(f):\n    return f\njit = grad\nlax = None\n",
    "numpy.py": "",
    "scipy/__init__.py": "",
    "scipy/special.py": "logsumexp = None\n",
}


def jax_cpu_checks(tmp):
    """JAX without its GPU plugin runs on the CPU: 5 epochs of the lab there take minutes of the lent
    GPU's budget, for a row that measures no GPU. gpu.py runs jax_lab.py with --gpu-only, which stops
    before loading the data, and the JAX rows say why."""
    fake = os.path.join(tmp, "cpujax")
    for name, text in FAKE_JAX.items():
        os.makedirs(os.path.join(fake, "jax", os.path.dirname(name)), exist_ok=True)
        with open(os.path.join(fake, "jax", name), "w") as f:
            f.write(text)
    rc, table, _, _ = bench(tmp, PYTHONPATH=fake, jax=True)
    rows = [row(table, "JAX FP32"), row(table, "JAX TF32")]
    check(all(r and r[1] == "JAX has no GPU here (its GPU plugin did not start)" for r in rows),
          f"a JAX on the CPU is stopped before it trains, and its rows say why: {rows}")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "jax_lab.py"), os.path.join(tmp, "nowhere"),
                        "--gpu-only"], env=dict(os.environ, PYTHONPATH=fake), capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 1 and "JAX's device is TFRT_CPU_0 (cpu), not a GPU" in p.stderr,
          f"jax_lab.py --gpu-only says that JAX is on the CPU, before reading the data: {p.stderr.strip()[-200:]}")


def alive(pid):
    """Whether process pid runs (a zombie, dead and not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def signal_during_step(tmp, sig):
    """Start gpu.py, send it sig while a step hangs; its exit status, what it said, its $OUT, and
    whether the step's process was still running a few seconds later (it is then killed here)."""
    build = os.path.join(tmp, "build")
    out, pidf = tempfile.mkdtemp(dir=tmp), os.path.join(tmp, "hang-%d.pid" % sig)
    e = dict(os.environ, MNIST_BUILD=build, OUT=out, FAKE_LOG=os.path.join(tmp, "hang.log"), MNIST_DATA=tmp,
             FAKE_HANG="tf32", FAKE_PID=pidf)
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "gpu.py"), "--no-checks", "--no-jax"], env=e,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(300):
        if os.path.exists(pidf) and open(pidf).read():
            break
        time.sleep(0.1)
    pid = int(open(pidf).read()) if os.path.exists(pidf) and open(pidf).read() else 0
    p.send_signal(sig)
    said = p.communicate(timeout=30)[0]
    for _ in range(50):  # SIGKILL is not instant
        if not pid or not alive(pid):
            break
        time.sleep(0.1)
    left = pid and alive(pid)
    if left:
        os.kill(pid, signal.SIGKILL)  # the test's own stand-in
    return p.returncode, said, out, pid, left


def stop_checks(tmp):
    """The device tool ends a command that outruns its limit with a signal to its process group; a step
    runs in a session of its own, which that does not reach: gpu.py must end it, or it runs on, on the
    GPU, under the next command on that machine. SIGKILL, which gpu.py cannot catch, ends it too."""
    rc, said, out, pid, left = signal_during_step(tmp, signal.SIGKILL)
    check(pid and not left, f"SIGKILL to gpu.py during a step ends the step too (pid {pid}, "
          f"{'still running' if left else 'ended'})")
    rc, said, out, pid, left = signal_during_step(tmp, signal.SIGTERM)
    check(pid and not left, f"SIGTERM to gpu.py during a step ends the step too (pid {pid}, "
          f"{'still running' if left else 'ended'})")
    log = open(os.path.join(out, "bench-gpu.log")).read()
    table = open(os.path.join(out, "bench-gpu.md")).read()
    check(rc == 128 + signal.SIGTERM and "-- stopped by signal 15 during train-tf32" in said
          and "-- stopped by signal 15 during train-tf32" in log,
          f"gpu.py says which step the signal stopped, on its output and in bench-gpu.log (exit {rc})")
    check(row(table, "C FP32") is not None and row(table, "C FP32")[1] == "35.5",
          "the rows done before the signal are in bench-gpu.md")


# A stand-in compute-sanitizer: racecheck finds a hazard, the others nothing; it logs its calls.
SANITIZER = r'''#!/bin/sh
echo "$* MNIST_CUDA_GEMM=$MNIST_CUDA_GEMM" >> "$FAKE_LOG"
if [ -n "$FAKE_REFUSE" ]; then  # a gVisor machine's answer
    echo "========= Error: Device not supported"; echo "========= Target application returned an error"; exit 9
fi
if [ "$2" = racecheck ]; then
    yes "========= Error: Race reported between Write access at 0x40 in mm_kernel and Read access" | head -n 300000
    echo "========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)"; exit 9
fi
echo "========= ERROR SUMMARY: 0 errors"
'''


def sanitize(tmp, name, **env):
    """gpu.sanitize with the stand-in compute-sanitizer in CUDA's folder ($CUDA_HOME/bin), not on the
    PATH (a GPU machine's command may not have that folder on its PATH); whether it failed the run,
    the stand-in's calls, bench-gpu.md and steps.log."""
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import gpu  # noqa: E402
    fake = os.path.join(tmp, "cuda", "bin")
    if not os.path.exists(fake):
        os.makedirs(fake)
        with open(os.path.join(fake, "compute-sanitizer"), "w") as f:
            f.write(SANITIZER)
        os.chmod(os.path.join(fake, "compute-sanitizer"), 0o755)
    log, out = os.path.join(tmp, name + ".log"), os.path.join(tmp, name)
    os.makedirs(out)
    home = os.environ.get("CUDA_HOME")
    os.environ["CUDA_HOME"] = os.path.dirname(fake)
    try:
        bins = {"tests/test_cuda_kernels": "/k", "tests/test_cuda": "/c"}
        bad = gpu.sanitize(gpu.Runner(out, 300), bins, dict(os.environ, FAKE_LOG=log, **env), out)
    finally:
        if home is None:
            del os.environ["CUDA_HOME"]
        else:
            os.environ["CUDA_HOME"] = home
    calls = open(log).read().splitlines() if os.path.exists(log) else []
    md = open(os.path.join(out, "bench-gpu.md")).read() if os.path.exists(os.path.join(out, "bench-gpu.md")) else ""
    return bad, calls, md, open(os.path.join(out, "steps.log")).read()


def sanitizer_checks(tmp):
    """gpu.py's last stage, the sanitizers, on a stand-in: it runs after the table, so nothing in it
    can cost the table."""
    bad, calls, md, steps = sanitize(tmp, "san")
    check(calls == ["--tool memcheck --error-exitcode 9 /k MNIST_CUDA_GEMM=own",
                    "--tool racecheck --error-exitcode 9 /k MNIST_CUDA_GEMM=own",
                    "--tool synccheck --error-exitcode 9 /k MNIST_CUDA_GEMM=own",
                    "--tool memcheck --error-exitcode 9 /c MNIST_CUDA_GEMM=own"],
          f"the sanitizers run over the kernels' tests with our own products: {calls}")
    check(bad and "racecheck test_cuda_kernels: exit 9" in md and "1 hazard displayed" in md
          and "memcheck test_cuda: exit 0" in md, f"a hazard fails the run and is written down: {md!r}")
    check(len(steps) < 2 << 20 and "characters left out" in steps and steps.count("RACECHECK SUMMARY") == 1,
          f"a step's 25 MB of output is cut to its first and last lines in steps.log ({len(steps)} characters), "
          "which the device tool brings back only under 16 MiB")
    bad, calls, md, _ = sanitize(tmp, "san-refused", FAKE_REFUSE="1")
    check(not bad and len(calls) == 1 and "device is not supported on this machine" in md,
          f"a machine whose runtime the sanitizer refuses (gVisor's) fails nothing, and the other checkers are not "
          f"tried ({len(calls)} run): {md!r}")


def main():
    with tempfile.TemporaryDirectory(prefix="mnist-test-gpu-bench-") as tmp:
        checks(tmp)
        row_limit_checks(tmp)
        order_checks(tmp)
        jax_checks()
        jax_cpu_checks(tmp)
        bundle_checks(tmp)
        stop_checks(tmp)
        sanitizer_checks(tmp)
    return status()


if __name__ == "__main__":
    sys.exit(main())
