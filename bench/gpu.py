"""gpu.py: `make bench-gpu`: the CUDA backend on this machine's GPU, in one run of a few minutes.

  1. the lab's recipe, 5 epochs, `mnist train --device cuda`, in FP32 and with --tf32
  2. the lab's JAX code with each epoch in one jit (bench/jax_lab.py), in FP32
     (JAX_DEFAULT_MATMUL_PRECISION=highest) and in its default TF32, when JAX is installed (on the GPU
     only: a JAX whose GPU plugin did not start is stopped before it trains, its rows saying so)
  3. the lab's recipe in FP32 again with --no-graph, with MNIST_CUDA_UNFUSED=1 (the last layer as
     products, not fused), and in FP32 and TF32 with MNIST_CUDA_GEMM=own (our own products, k_mm, the
     element-wise work in their epilogues), and in FP32 with MNIST_CUDA_GEMM=own3 (the same, each
     product as three TF32 products on the tensor cores, to FP32's accuracy: 3xTF32)
  4. the kernel checks: tests/test_cuda_kernels, each kernel against its CPU twin on fresh random
     inputs (relative error per kernel; NaN never passes), with each kernel's time at the lab's shapes
  5. the backend checks: tests/test_cuda, the seam against the CPU backend, one epoch on MNIST;
     tests/test_cuda_cli.py, models trained on either device evaluated on both

in that order, the issue's numbers first (a step that takes its whole time limit costs only the
steps after it); then one table: ms per epoch, evaluation ms, accuracies, and how many times faster
than JAX. Every step has a time limit, and the whole run a budget (--budget, 540 s), so that it fits
one call of a lent GPU machine. Three files go to $OUT when it is set (the device tool brings back
at most 8, and of a run it stops only what is written by then), else to build/bench-gpu/:
bench-gpu.log, what the script says, line by line as it goes; steps.log, each step's output as the
step ends (past 512 KiB, its first and last 256 KiB); and bench-gpu.md, the table, written again
after each row.

A GPU machine that cannot build (no -dev packages, no network) runs a bundle made here:
    make gpu-bundle                                   (here: build/gpu/bundle.tar.xz, ~30 MB)
    python3 bench/gpu.py --bundle build/gpu/bundle.tar.xz      (there)
See bench/notes/gpu.md.

A training row has --row-limit seconds (default 60; one takes a few seconds); once a row of ours
has run out of it, the rows of ours after it are skipped, not waited for: the checks, which say why,
get the time instead. NVIDIA_TF32_OVERRIDE is taken out of every step's environment (it would turn
the FP32 rows into TF32 ones, or the TF32 rows into FP32 ones); the log says when it was set.

usage: bench/gpu.py [--bundle FILE] [--epochs N] [--budget S] [--row-limit S] [--no-checks] [--no-jax]
       bench/gpu.py --make-bundle FILE
"""
import argparse
import atexit
import ctypes
import glob
import json
import os
import re
import shutil
import signal
import site
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("MNIST_BUILD", "build"))
PROGRAMS = ["mnist", "tests/test_cuda", "tests/test_cuda_kernels"]
DATA_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
# the most of one step's output that steps.log keeps: the device tool brings back no file over 16 MiB,
# and the run has at most 18 steps (9 MiB)
STEP_LOG_MAX = 512 << 10
# libraries the GPU machine has, or must supply itself: the C library, the compiler's, the driver, CUDA's
SYSTEM = ("linux-vdso", "ld-linux", "libc.so", "libm.so", "libpthread", "libdl.so", "librt.so", "libresolv",
          "libgcc_s", "libstdc++", "libcuda.so", "libcublas", "libcudart", "libnvidia")
# libraries the programs open (dlopen) where they need them, so that ldd does not name them; libcurl and
# libmicrohttpd are left out: the GPU run fetches nothing and serves nothing
DLOPENED = ("libopenblas.so.0",)


def data_dir():
    d = os.environ.get("MNIST_DATA")
    return d or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mnist")


def make_bundle(path):
    """The programs, the shared libraries they load beyond the system's, and MNIST, in one tar.xz."""
    stage = tempfile.mkdtemp(prefix="mnist-bundle-")
    try:
        for d in ("bin", "lib", "data"):
            os.makedirs(os.path.join(stage, d))
        libs = set()

        def needs(src):
            for line in subprocess.run(["ldd", src], capture_output=True, text=True, check=True).stdout.splitlines():
                parts = line.split("=>")
                lib = parts[1].split("(")[0].strip() if len(parts) == 2 else ""
                if lib.startswith("/") and not any(s in os.path.basename(lib) for s in SYSTEM):
                    libs.add(lib)
        for p in PROGRAMS:
            src = os.path.join(BUILD, p)
            if not os.path.exists(src):
                sys.exit(f"gpu.py: {src} is missing: run `make check` with nvcc first")
            shutil.copy2(src, os.path.join(stage, "bin"))
            needs(src)
        # and those the programs open themselves (dlopen, src/blas.c), as the loader finds them here
        cache = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
        for name in DLOPENED:
            found = re.search(r"^\s*" + re.escape(name) + r" \(libc6,x86-64[^)]*\) => (\S+)$", cache, re.M)
            if not found:
                sys.exit(f"gpu.py: {name} is not installed here (the programs open it): apt-get install libopenblas0")
            libs.add(found.group(1))
            needs(found.group(1))
        for lib in sorted(libs):
            shutil.copy2(os.path.realpath(lib), os.path.join(stage, "lib", os.path.basename(lib)))
        src = data_dir()
        for f in DATA_FILES:
            for name in (f + ".gz", f):
                if os.path.exists(os.path.join(src, name)):
                    shutil.copy2(os.path.join(src, name), os.path.join(stage, "data"))
                    break
            else:
                sys.exit(f"gpu.py: {f} is not in {src}: run `make data` first")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with tarfile.open(path, "w:xz", preset=6) as t:
            t.add(stage, arcname=".")
        print(f"{path}: {os.path.getsize(path) / 2**20:.1f} MiB: {', '.join(PROGRAMS)}; {len(libs)} libraries; MNIST")
        print("run it on a GPU machine with: python3 bench/gpu.py --bundle " + os.path.relpath(path, ROOT))
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def imports(py, module):
    """Whether Python py imports module, within a minute (an import that hangs is not one to wait for:
    the run has its budget)."""
    try:
        return subprocess.run([py, "-c", "import " + module], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def numpy_python():
    """A Python that has numpy (tests/test_cuda_cli.py needs it): this one, else the system's."""
    for py in (sys.executable, "/usr/bin/python3", shutil.which("python3") or ""):
        if py and imports(py, "numpy"):
            return py
    return sys.executable


def find_tool(name):
    """name on the PATH, else in CUDA's folder ($CUDA_HOME/bin, /usr/local/cuda/bin) or the driver's
    (/usr/local/nvidia/bin): a command's PATH on a GPU machine may lack them."""
    cuda = os.path.join(os.environ.get("CUDA_HOME") or "/usr/local/cuda", "bin")
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join([cuda, "/usr/local/nvidia/bin"]))


def driver_dirs():
    """Folders holding the driver's libcuda.so.1 where the loader would not look by itself: the
    container toolkit's /usr/local/nvidia/lib64 (found through LD_LIBRARY_PATH where the machine sets
    it; this adds it where a command's environment lost it). Without libcuda every CUDA row fails
    with 'no NVIDIA driver was found'."""
    try:
        ctypes.CDLL("libcuda.so.1")
        return []
    except OSError:
        return [d for d in ("/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib64/nvidia")
                if os.path.exists(os.path.join(d, "libcuda.so.1"))]


def cublas_dirs():
    """Folders that may hold libcublas.so.N where the build-time one does not: CUDA's, pip's (in this
    Python's site-packages, and in the environments under /opt, two levels down at most: a recursive
    walk of /opt, a machine's whole Python stack, took its time out of the run's budget)."""
    found = []
    sites = []
    try:
        sites = site.getsitepackages() + [site.getusersitepackages()]
    except AttributeError:  # a virtualenv's old site.py
        pass
    sites += ["/usr/local/lib/python3*/*-packages", "/usr/lib/python3*/*-packages",
              "/opt/*/lib/python3*/site-packages", "/opt/*/*/lib/python3*/site-packages"]
    # pip's wheels: nvidia/cublas/lib up to CUDA 12, nvidia/cu13/lib from CUDA 13
    pats = ["/usr/local/cuda*/lib64/libcublas.so.*", "/usr/local/cuda*/targets/*/lib/libcublas.so.*",
            "/usr/lib/x86_64-linux-gnu/libcublas.so.*"] + [os.path.join(d, "nvidia", "*", "lib", "libcublas.so.*")
                                                          for d in sites]
    for pat in pats:
        for p in sorted(glob.glob(pat)):
            if os.path.dirname(p) not in found:
                found.append(os.path.dirname(p))
    return found


def die_with(parent):
    """What a step's process runs before its program: it is killed when this script dies. Its session
    of its own keeps it from the signals of this script's process group, so that a kill of this
    script that the signal handler does not see (SIGKILL, at the device tool's time limit) would
    leave it running on, on the GPU, under the next command on that machine."""
    def run():
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # this script died before that took hold
            os._exit(1)
    return run


class Runner:
    """Runs the steps and keeps the record. The device tool brings back at most 8 files from $OUT, and
    nothing of a run it stops but what is already written there: so every line said goes to
    bench-gpu.log at once, every step's output to the one steps.log as the step ends, and the table
    (bench-gpu.md) is written again after each row."""

    def __init__(self, out, budget):
        self.out, self.deadline, self.lines = out, time.monotonic() + budget, []
        self.proc, self.step = None, None  # the step running now, for stop()
        self.log, self.steps = os.path.join(out, "bench-gpu.log"), os.path.join(out, "steps.log")
        for f in (self.log, self.steps):
            open(f, "w").close()

    def stop(self, signum, frame):
        """SIGTERM, SIGINT or SIGHUP: the device tool's time limit (or a Ctrl-C) ends this script. Each
        step runs in a session of its own, so that its own limit can kill its children too; a kill of
        this script's process group does not reach it, and it would run on, on the GPU, under the
        next command on that machine. So end it here, and say so."""
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        self.say(f"-- stopped by signal {signum}" + (f" during {self.step}" if self.step else "")
                 + ": what was done is above and in bench-gpu.md")
        os._exit(128 + signum)

    def say(self, s):
        print(s, flush=True)
        self.lines.append(s)
        with open(self.log, "a") as f:
            f.write(s + "\n")

    def run(self, name, cmd, limit, env=None):
        """Run cmd with at most `limit` seconds (less when the budget is nearly spent); its output
        goes to OUT/steps.log under a line naming the step. Returns (exit status or None when
        stopped, output, seconds)."""
        left = self.deadline - time.monotonic() - 15
        if left < min(limit, 20):  # under 20 s left, or under a shorter limit of the step's own
            self.say(f"-- {name}: skipped, the time budget is spent")
            return None, "", 0.0
        limit = min(limit, left)
        self.say(f"-- {name}: {' '.join(cmd)} (at most {limit:.0f} s)")
        t0 = time.monotonic()
        try:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                 env=env, cwd=ROOT, start_new_session=True, preexec_fn=die_with(os.getpid()))
        except OSError as e:  # a program that is not there, or cannot run here: the step fails, not the run
            rc, text = 127, f"{cmd[0]}: {e}\n"
        else:
            self.proc, self.step = p, name
            try:
                o, e = p.communicate(timeout=limit)
                rc = p.returncode
            except subprocess.TimeoutExpired:
                # the step's whole process group: a child it started (mnist under test_cuda_cli.py,
                # ptxas under JAX) would run on, on the GPU, under the steps timed after it
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    p.kill()
                o, e = p.communicate()
                rc = None
                e += f"\n(stopped after {limit:.0f} s)\n"
            finally:
                self.proc, self.step = None, None
            text = o + e
        sec = time.monotonic() - t0
        verdict = "timed out" if rc is None else f"exit {rc}"
        kept = text
        if len(kept) > STEP_LOG_MAX:  # its first and last lines: a flood (a sanitizer's reports) must not cost the file
            half = STEP_LOG_MAX // 2
            kept = f"{kept[:half]}\n[... {len(kept) - 2 * half} characters left out ...]\n{kept[-half:]}"
        with open(self.steps, "a") as f:
            f.write(f"==== {name}: {' '.join(cmd)}: {verdict} in {sec:.1f} s\n{kept}\n")
        self.say(f"   {verdict} in {sec:.1f} s")
        if rc != 0:
            last = [l for l in text.splitlines() if l.strip()][-1:]
            if last:
                self.say("   " + last[0][:300])
        return rc, text, sec


def checks_summary(text):
    p = sum(1 for l in text.splitlines() if l.startswith("PASS "))
    f = [l for l in text.splitlines() if l.startswith("FAIL ")]
    s = [l for l in text.splitlines() if l.startswith("SKIP ")]
    return p, f, s


def json_lines(text):
    out = []
    for l in text.splitlines():
        l = l.strip()
        if l.startswith("{"):
            try:
                out.append(json.loads(l))
            except ValueError:
                pass
    return out


def summarize(epochs):
    """ms per epoch (median of the epochs after the first), the first's, eval ms, last accuracies."""
    if not epochs:
        return None
    rest = [e["seconds"] for e in epochs[1:]] or [epochs[0]["seconds"]]
    ev = [e.get("eval_seconds", 0.0) for e in epochs[1:]] or [epochs[0].get("eval_seconds", 0.0)]
    last = epochs[-1]
    return {"ms": 1e3 * statistics.median(rest), "first_ms": 1e3 * epochs[0]["seconds"],
            "eval_ms": 1e3 * statistics.median(ev), "train": last.get("train_accuracy"),
            "test": last.get("test_accuracy"), "tests": [e.get("test_accuracy") for e in epochs]}


def jax_row(label, rc, records):
    """The table's row of a JAX run from its exit status and JSON records. JAX runs on the CPU when
    its GPU plugin cannot start: those times are no GPU's, and no ratio is taken against them."""
    if rc != 0 or not records:
        return label, None, rc
    dev = str(records[-1].get("device"))
    if "cuda" not in dev.lower() and "gpu" not in dev.lower():
        return label, None, f"ran on {dev}, not on the GPU"
    return label, summarize(records[-1]["epochs"]), rc


def write_table(out, table):
    with open(os.path.join(out, "bench-gpu.md"), "w") as f:
        f.write("\n".join(table) + "\n")


def make_table(gpu, epochs, rows, notes, checks):
    """The table of the rows trained so far, the verdicts, the notes and the checks' counts."""
    jax_ms = {lab.split()[1]: s["ms"] for lab, s, _ in rows if s and lab.startswith("JAX")}
    table = [f"GPU: {gpu}; {time.strftime('%Y-%m-%d')}; {epochs} epochs of the lab's recipe",
             "",
             "| run | ms per epoch | epoch 0 ms | eval ms | train acc | test acc | test acc by epoch | vs JAX |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for label, s, rc in sorted(rows, key=lambda row: row[0].startswith("JAX")):  # C's rows, then JAX's
        if not s:
            why = "skipped, the time budget was spent" if rc == "skipped" else rc if isinstance(rc, str) else \
                f"failed ({'timed out' if rc is None else f'exit {rc}'})"
            table.append(f"| {label} | {why} | | | | | | |")
            continue
        j = jax_ms.get(label.split()[1].rstrip(","))
        ratio = f"{j / s['ms']:.2f}x faster" if j and label.startswith("C") else ""
        cut = f" (timed out after {len(s['tests'])} of {epochs} epochs)" if rc is None else ""
        table.append(f"| {label} | {s['ms']:.1f} | {s['first_ms']:.1f} | {s['eval_ms']:.1f} | {s['train']:.4f} | "
                     f"{s['test']:.4f} | {' '.join(f'{t:.4f}' for t in s['tests'])}{cut} | {ratio} |")
    # which way of computing is fastest in each precision, against issue 7's targets and the lab
    lab = [0.7515, 0.8279, 0.8569, 0.8707, 0.8812]
    done = {label: s for label, s, rc in rows if s and rc == 0 and label.startswith("C")}  # whole runs only
    table.append("")
    for prec, target, tol in (("FP32", 20.0, 0.0006), ("TF32", 12.0, 0.002)):
        ways = sorted((s["ms"], label) for label, s in done.items() if label.split()[1].rstrip(",") == prec
                      and "no graph" not in label)
        if not ways:
            continue
        ms, label = ways[0]
        close = all(abs(t - w) <= tol for t, w in zip(done[label]["tests"], lab))
        table.append(f"{prec}: fastest \"{label}\", {ms:.1f} ms per epoch: target {target:.0f} ms "
                     f"{'met' if ms <= target else 'not met'}; test accuracies {'within' if close else 'NOT within'} "
                     f"{tol} of the lab's")
    if done:
        ev, label = min((s["eval_ms"], label) for label, s in done.items())
        table.append(f"evaluation: fastest \"{label}\", {ev:.1f} ms: target 5 ms {'met' if ev <= 5 else 'not met'}")
    table += [""] + notes if notes else []
    table.append("")
    table.append("ms per epoch: the median of epochs 1.. (epoch 0 apart: graph capture, warm-up); eval: train + test "
                 "sets after an epoch. The lab's test accuracies: 0.7515 0.8279 0.8569 0.8707 0.8812.")
    for name, p, f, rc, s in checks:
        how = "" if rc == 0 else " (skipped, the time budget was spent)" if rc == "skipped" else \
            " (timed out)" if rc is None else f" (exit {rc})"
        table.append(f"{name} checks: {p} passed, {f} failed{how}"
                     + (f"; {len(s)} skipped" if s else ""))
    return table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", help="run the programs and data of this bundle (made by --make-bundle)")
    ap.add_argument("--make-bundle", metavar="FILE", help="make a bundle for a GPU machine that cannot build")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--budget", type=float, default=540, help="seconds for the whole run (default 540)")
    ap.add_argument("--row-limit", type=float, default=60,
                    help="seconds for each training row of ours (default 60); after one runs out, the rest are skipped")
    ap.add_argument("--no-checks", action="store_true", help="skip the kernel and backend checks")
    ap.add_argument("--no-jax", action="store_true")
    a = ap.parse_args()
    if a.make_bundle:
        return make_bundle(a.make_bundle)

    out = os.environ.get("OUT") or os.path.join(BUILD, "bench-gpu")
    os.makedirs(out, exist_ok=True)
    r = Runner(out, a.budget)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, r.stop)
    if "NVIDIA_TF32_OVERRIDE" in os.environ:  # cuBLAS's (and JAX's) TF32 switch over every program's own
        r.say(f"NVIDIA_TF32_OVERRIDE={os.environ['NVIDIA_TF32_OVERRIDE']} was set here: taken out of every step's "
              "environment")
    env = dict(os.environ)
    for v in ("MNIST_CUDA_GEMM", "MNIST_CUDA_UNFUSED", "NVIDIA_TF32_OVERRIDE"):  # each row sets the ways it
        env.pop(v, None)                                                         # measures, no other
    if a.bundle:
        where = tempfile.mkdtemp(prefix="mnist-gpu-")
        atexit.register(shutil.rmtree, where, True)  # not left behind (a stop by signal leaves it)
        try:
            with tarfile.open(a.bundle, "r:xz") as t:
                try:
                    t.extractall(where, filter="data")
                except TypeError:  # a Python before 3.11.4
                    t.extractall(where)
        except (tarfile.TarError, OSError) as e:  # say, a Python built without lzma: the machine's tar and xz
            r.say(f"bundle {a.bundle}: {e}; unpacking it with tar")
            rc, _, _ = r.run("unpack", ["tar", "-xJf", os.path.abspath(a.bundle), "-C", where], 60)
            if rc != 0:
                r.say(f"bundle {a.bundle}: cannot be unpacked here: nothing was run")
                return 1
        bins = {p: os.path.join(where, "bin", os.path.basename(p)) for p in PROGRAMS}
        libpath = [os.path.join(where, "lib")] + cublas_dirs()
        env["LD_LIBRARY_PATH"] = ":".join(libpath + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else [])
                                          + driver_dirs())
        env["MNIST_DATA"] = os.path.join(where, "data")
        r.say(f"bundle {a.bundle} in {where}; library path {env['LD_LIBRARY_PATH']}")
    else:
        bins = {p: os.path.join(BUILD, p) for p in PROGRAMS}
        env.setdefault("MNIST_DATA", data_dir())
    env["MNIST_BIN"] = bins["mnist"]
    data = env["MNIST_DATA"]

    smi = find_tool("nvidia-smi")
    gpu = "unknown GPU"
    if smi:
        rc, text, _ = r.run("nvidia-smi", [smi, "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                                           "--format=csv,noheader"], 30)
        if rc == 0 and text.strip():
            gpu = text.strip().splitlines()[0]
    r.say(f"GPU: {gpu}")
    try:  # the host's CPU: the bundle's programs need AVX2 (x86-64-v3)
        with open("/proc/cpuinfo") as f:
            info = f.read()
        model = next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name")), "?")
        r.say(f"CPU: {model}, {os.cpu_count()} threads, AVX2 {'yes' if ' avx2' in info else 'NO'}, "
              f"AVX-512 {'yes' if ' avx512f' in info else 'no'}")
    except OSError:
        pass

    # The numbers first (FP32 and TF32 as they train by default, then JAX's on this machine),
    # then the other ways, then the checks: so that a step that takes its whole time limit costs the
    # steps after it, not those. Every table written has every row done by then.
    checks, rows, notes = [], [], []
    stuck = []  # the label of a row of ours that ran out its time: the rows after it would too, likely

    def train(ways):
        for label, log, extra, e in ways:
            if stuck:
                r.say(f"-- {log}: skipped, \"{stuck[0]}\" ran out its {a.row_limit:.0f} s")
                rows.append((label, None, f"skipped, \"{stuck[0]}\" ran out its {a.row_limit:.0f} s"))
                continue
            rc, text, _ = r.run(log, [bins["mnist"], "train", "--device", "cuda", "--epochs", str(a.epochs), "--json",
                                      "--no-progress"] + extra, a.row_limit, e)
            # a row stopped at its time limit keeps the epochs it finished (mnist prints each as it ends)
            rc = "skipped" if rc is None and not text else rc  # not started: the budget was spent
            if rc is None:
                stuck.append(label)
            rows.append((label, summarize(json_lines(text)) if rc == 0 or rc is None else None, rc))
            notes.extend(f"{label}: {l.strip()}" for l in text.splitlines() if "note:" in l)  # e.g. a graph fallback
            write_table(out, make_table(gpu, a.epochs, rows, notes, checks))

    train((("C FP32", "train-fp32", [], env), ("C TF32", "train-tf32", ["--tf32"], env)))
    have_jax = not a.no_jax and imports(sys.executable, "jax")
    if not have_jax:
        r.say("-- JAX: not installed here (or --no-jax): the JAX rows are missing")
    else:
        for label, prec in (("JAX FP32", "highest"), ("JAX TF32", None)):
            # the environment this script was given, not the programs': the bundle's library path
            # (its libraries, CUDA's folder, pip's cuBLAS) put first would be searched before the
            # CUDA libraries JAX was built against
            e = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
            e.pop("NVIDIA_TF32_OVERRIDE", None)
            if prec:
                e["JAX_DEFAULT_MATMUL_PRECISION"] = prec
            else:
                e.pop("JAX_DEFAULT_MATMUL_PRECISION", None)
            rc, text, _ = r.run("jax-" + label.split()[1].lower(),
                                [sys.executable, os.path.join(ROOT, "bench", "jax_lab.py"), data, "--epochs",
                                 str(a.epochs), "--gpu-only"], 150, e)
            j = json_lines(text)
            # --gpu-only: JAX without its GPU plugin stops at once (5 epochs on the CPU would take minutes)
            rows.append(jax_row(label, rc, j) if "not a GPU" not in text else
                        (label, None, "JAX has no GPU here (its GPU plugin did not start)"))
            write_table(out, make_table(gpu, a.epochs, rows, notes, checks))
            if j:
                r.say(f"   jax {j[-1].get('jax')} on {j[-1].get('device')}, "
                      f"compiled in {j[-1].get('compile_seconds', 0):.1f} s")
    # FP32 with each step enqueued on its own (--no-graph): what the graph saves; with the last layer
    # as cuBLAS products and kernels (MNIST_CUDA_UNFUSED=1): what its two fused kernels save; and with
    # our own products for cuBLAS's (MNIST_CUDA_GEMM=own; own3, FP32 as 3xTF32): which is faster
    train((("C FP32, no graph", "train-fp32-nograph", ["--no-graph"], env),
           ("C FP32, last layer unfused", "train-fp32-unfused", [], dict(env, MNIST_CUDA_UNFUSED="1")),
           ("C FP32, own products", "train-fp32-own", [], dict(env, MNIST_CUDA_GEMM="own")),
           ("C FP32, own 3xTF32 products", "train-fp32-own3", [], dict(env, MNIST_CUDA_GEMM="own3")),
           ("C TF32, own products", "train-tf32-own", ["--tf32"], dict(env, MNIST_CUDA_GEMM="own"))))

    if not a.no_checks:
        kenv = dict(env, MNIST_KERNEL_TIMES="1")
        for name, cmd, limit, e in (("kernels", [bins["tests/test_cuda_kernels"]], 150, kenv),
                                    ("backend", [bins["tests/test_cuda"]], 240, env),
                                    ("cli", [numpy_python(), os.path.join(ROOT, "tests", "test_cuda_cli.py")], 120,
                                     env)):
            rc, text, sec = r.run(name, cmd, limit, e)
            rc = "skipped" if rc is None and not text else rc  # not started: the budget was spent
            p, f, s = checks_summary(text)
            for l in f + s:
                r.say("   " + l)
            if name == "kernels":
                for l in text.splitlines():
                    if l.startswith("TIME "):
                        r.say("   " + l)
                    elif l.startswith("GPU: ") and gpu == "unknown GPU":  # no nvidia-smi: the program's word
                        gpu = l[5:].strip()
            checks.append((name, p, len(f), rc, s))
            write_table(out, make_table(gpu, a.epochs, rows, notes, checks))

    table = make_table(gpu, a.epochs, rows, notes, checks)
    r.say("")
    for l in table:
        r.say(l)
    write_table(out, table)
    bad = any(f or rc != 0 for _, _, f, rc, _ in checks) or any(rc != 0 for lab, _, rc in rows if lab.startswith("C"))
    if not a.no_checks:
        bad |= sanitize(r, bins, env, out)
    return 1 if bad else 0


def sanitize(r, bins, env, out):
    """Last, with the time left: NVIDIA's checkers over the kernels' tests, our own products in place of
    cuBLAS's (memcheck: bad accesses; racecheck: shared-memory races; synccheck: barriers). They work
    on some machines only (a gVisor one refuses the device). The lines go to the log and to
    bench-gpu.md; a checker that reports errors (exit 9) fails the run, one that refuses the device
    does not (and the others are not tried)."""
    san = find_tool("compute-sanitizer")
    if not san:
        r.say("-- compute-sanitizer: not on the PATH here, nor in CUDA's folder")
        return False
    lines, bad = [], False
    e = dict(env, MNIST_CUDA_GEMM="own")
    for tool, prog in (("memcheck", "tests/test_cuda_kernels"), ("racecheck", "tests/test_cuda_kernels"),
                       ("synccheck", "tests/test_cuda_kernels"), ("memcheck", "tests/test_cuda")):
        rc, text, sec = r.run(f"sanitizer-{tool}-{os.path.basename(prog)}",
                              [san, "--tool", tool, "--error-exitcode", "9", bins[prog]], 120, e)
        said = [l.strip("= ").strip() for l in text.splitlines() if "SUMMARY" in l or "not supported" in l]
        verdict = "skipped (no time left)" if rc is None and not text else "timed out" if rc is None else \
            f"exit {rc}, {sec:.0f} s"
        lines.append(f"compute-sanitizer --tool {tool} {os.path.basename(prog)}: {verdict}"
                     + (f"; {'; '.join(said[-2:])}" if said else ""))
        if re.search(r"device (is )?not supported", text, re.I):
            # a machine whose runtime the checker refuses (gVisor's: "Device not supported", then error 999
            # at the first allocation, exit 9): no finding of ours, and the other tools would be refused too
            lines.append("compute-sanitizer: the device is not supported on this machine: no checker ran")
            break
        bad |= rc == 9
    for l in lines:
        r.say(l)
    with open(os.path.join(out, "bench-gpu.md"), "a") as f:
        f.write("\n".join(lines) + "\n")
    return bad


if __name__ == "__main__":
    sys.exit(main())
