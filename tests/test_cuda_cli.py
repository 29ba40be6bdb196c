"""test_cuda_cli.py: --device cuda at the command line, on small synthetic IDX data.

Everywhere: a device that is not cpu or cuda, and --tf32 without --device cuda, are usage errors
(exit 2). Without a GPU (or a build without CUDA), train, eval and predict with --device cuda say so
in one line and exit 1 at once, before any data is read, and print nothing else. With a GPU: a
model trained on the GPU evaluates the same on both devices, and so does one trained on the CPU, and
each optimizer's steps run as CUDA graphs (a kernel first launched in a capture fails it where the
driver predates CUDA 12.3: the emulator's), and on the CUDA emulator a launch refused in the middle of
train, eval or predict is said after '--device cuda: ' as the device check's error is; without one a
SKIP line says those comparisons did not run."""
import json
import os
import pty
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_numpy import write_idx  # noqa: E402
from testlib import MNIST, check, read_pty, status  # noqa: E402



def run(*args, env=None):
    t0 = time.monotonic()
    p = subprocess.run([MNIST, *args], capture_output=True, text=True, timeout=300, env=env)
    return p, time.monotonic() - t0


def main():
    with tempfile.TemporaryDirectory(prefix="mnist-test-cuda-cli-") as tmp:  # removed at the end (it was left)
        checks(tmp)


def checks(tmp):
    f = lambda name: os.path.join(tmp, name)  # noqa: E731
    rng = np.random.RandomState(5)
    x = (rng.randint(0, 256, size=(400, 28, 28)) * (rng.rand(400, 28, 28) < 0.3)).astype(np.uint8)
    y = rng.randint(0, 10, size=400).astype(np.uint8)
    write_idx(f("train-images-idx3-ubyte"), x[:300], 2051)
    write_idx(f("train-labels-idx1-ubyte"), y[:300], 2049)
    write_idx(f("t10k-images-idx3-ubyte"), x[300:], 2051)
    write_idx(f("t10k-labels-idx1-ubyte"), y[300:], 2049)
    small = ["--data", tmp, "--no-verify", "--layers", "784,48,10", "--batch", "20", "--epochs", "2",
             "--no-progress", "--json"]

    for cmd in (["train", "--device", "tpu"], ["eval", "--device", "tpu", "--model", f("none")],
                ["predict", "--device", "tpu", "--model", f("none"), f("none.png")]):
        p, _ = run(*cmd)
        check(p.returncode == 2 and "tpu" in p.stderr, f"mnist {cmd[0]} --device tpu is a usage error (exit {p.returncode})")
    p, _ = run("train", "--tf32", *small)
    check(p.returncode == 2 and "--tf32" in p.stderr, f"--tf32 without --device cuda is a usage error: {p.stderr.strip()}")

    # Is there a GPU? eval says so at once, before it reads the model; with one it gets as far as the
    # model, which is not there. (Not train: with a GPU it would fetch the data folder named, from a
    # network that a GPU machine may not reach.)
    p, sec = run("eval", "--device", "cuda", "--model", f("none"), "--data", f("nowhere"))
    gpu = not (p.returncode == 1 and "--device cuda" in p.stderr)
    if not gpu:
        check(p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and "--device cuda" in p.stderr,
              f"without a GPU, eval --device cuda exits 1 with one line, before reading the model: {p.stderr.strip()}")
        p, sec = run("train", "--device", "cuda", "--data", f("nowhere"), "--epochs", "1")
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 1 and len(lines) == 1 and "--device cuda" in p.stderr and p.stdout == "" and
              not os.path.exists(f("nowhere")) and sec < 5,
              f"without a GPU, train --device cuda exits 1 at once ({sec:.2f} s) with one line and no fetch: {lines}")
        p, sec = run("predict", "--device", "cuda", "--model", f("none"), f("none.png"))
        check(p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and "--device cuda" in p.stderr,
              f"without a GPU, predict --device cuda exits 1 with one line: {p.stderr.strip()}")
        print(f"SKIP test_cuda_cli: no GPU here ({p.stderr.strip()}): the GPU runs were not compared with the CPU's")
        return

    check(p.returncode == 1 and f("none") in p.stderr,  # no time limit: a GPU's context takes its seconds
          f"with a GPU, eval --device cuda goes on to the model ({sec:.2f} s): {p.stderr.strip()}")
    # with a GPU: models trained on either device evaluate the same on both
    for dev in ("cuda", "cpu"):
        p, _ = run("train", "--device", dev, *small, "--save", f(dev + ".safetensors"))
        if not check(p.returncode == 0, f"train --device {dev} runs: {p.stderr.strip()[-300:]}"):
            continue
        res = {}
        for on in ("cpu", "cuda"):
            q, _ = run("eval", "--device", on, "--model", f(dev + ".safetensors"), "--data", tmp, "--no-verify",
                       "--json")
            res[on] = json.loads(q.stdout) if q.returncode == 0 else None
        ok = res["cpu"] and res["cuda"]
        check(ok and abs(res["cpu"]["accuracy"] - res["cuda"]["accuracy"]) <= 0.01 and
              abs(res["cpu"]["loss"] - res["cuda"]["loss"]) <= 1e-4 * abs(res["cpu"]["loss"]),
              f"a model trained on {dev} evaluates the same on the CPU and the GPU: "
              f"{res['cpu'] and res['cpu']['accuracy']} and {res['cuda'] and res['cuda']['accuracy']}")
    predict_both(f)
    # on a terminal, the progress of an epoch whose steps the GPU is given at once: said at once when all are done,
    # with no rate nor time left (it said "916006831 img/s ... 0s left")
    master, slave = pty.openpty()
    p = subprocess.Popen([MNIST, "train", "--device", "cuda", *[a for a in small if a not in ("--no-progress",
                          "--json")]], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = read_pty(master)
    p.wait(timeout=300)
    bars = [b for b in re.split(rb"[\r\n]", out) if b" of 2)" in b]
    check(p.returncode == 0 and bars and all(b"img/s" not in b and b"left" not in b for b in bars),
          f"train --device cuda on a terminal: {len(bars)} progress updates, none with a rate or time left "
          f"(status {p.returncode}; last {bars[-1:]})")
    # each optimizer's steps as graphs, its kernels loaded before the capture: no note that they ran one by one
    for opt in ("sgd", "momentum", "adam"):
        p, _ = run("train", "--device", "cuda", *small, "--optimizer", opt, "--lr", "0.01")
        check(p.returncode == 0 and "graphs unavailable" not in p.stderr,
              f"train --device cuda --optimizer {opt} runs its steps as graphs: {p.stderr.strip()[-300:]}")
    gpu_errors(f, small)


def predict_both(f):
    """predict --device cuda prepares every image (on threads of their own) before its one pass: over the samples,
    with standard input and a file it cannot read among them, each image's input and digit are the CPU's, in the
    same order (the probabilities within 1e-5)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    samples = sorted(os.path.join(root, "samples", n) for n in os.listdir(os.path.join(root, "samples")))
    files = samples[:4] + ["-", f("missing.png")] + samples[4:]
    out = {}
    for dev in ("cpu", "cuda"):
        with open(samples[0], "rb") as stdin:
            p = subprocess.run([MNIST, "predict", "--device", dev, "--model", f("cpu.safetensors"), "--json", "--show",
                                *files], stdin=stdin, capture_output=True, text=True, timeout=300)
        out[dev] = [json.loads(line) for line in p.stdout.splitlines()] if p.returncode == 1 else []
    cpu, gpu = out["cpu"], out["cuda"]
    same = len(cpu) == len(gpu) == len(files) and all(
        a["file"] == b["file"] and a.get("input") == b.get("input") and a.get("digit") == b.get("digit") and
        a.get("error") == b.get("error") and
        max(abs(u - v) for u, v in zip(a.get("probabilities", [0]), b.get("probabilities", [0]))) <= 1e-5
        for a, b in zip(cpu, gpu))
    check(same and sum("error" in r for r in gpu) == 1,
          f"predict --device cuda of {len(files)} images (standard input and a missing file among them): each the "
          f"CPU's input and digit, in order ({len(gpu)} lines, {len(cpu)} on the CPU)")


def gpu_errors(f, small):
    """A GPU's error in the middle of a run is said after '--device cuda: ', as the device check's is: on
    the emulator, a kernel's launch refused (MNIST_EMU_FAIL_LAUNCH), in train, eval and predict. A GPU
    ignores the variable: its run goes through, and a SKIP line says so."""
    model = f("cpu.safetensors")
    with open(f("seven.pgm"), "wb") as img:  # a bar, read as a digit
        img.write(b"P5\n28 28\n255\n" + bytes(255 if 6 <= r <= 22 and 12 <= c <= 15 else 0
                                                for r in range(28) for c in range(28)))
    runs = (("train", "last_backward_kernel", ["train", "--device", "cuda", *small]),
            ("eval", "eval_rows_kernel", ["eval", "--device", "cuda", "--model", model, "--data", f(""),
                                          "--no-verify"]),
            ("predict", "log_softmax_kernel", ["predict", "--device", "cuda", "--model", model, f("seven.pgm")]))
    for cmd, kernel, args in runs:
        p, _ = run(*args, env=dict(os.environ, MNIST_EMU_FAIL_LAUNCH=kernel))
        if p.returncode == 0 and cmd == "train":
            print("SKIP test_cuda_cli: a GPU, not the CUDA emulator: no launch could be refused, and the lines "
                  "of a GPU's error in the middle of a run were not seen")
            return
        said = [line for line in p.stderr.splitlines() if line.startswith(f"mnist {cmd}: ")]
        check(p.returncode == 1 and len(said) == 1 and said[0].startswith(f"mnist {cmd}: --device cuda: CUDA error "
                                                                         "while launching ")
              and "too many resources requested for launch" in said[0],
              f"mnist {cmd} --device cuda: a launch refused in the middle of the run says --device cuda, as the "
              f"device check does (exit {p.returncode}): {said}")


def watch_network():
    """A listener named as every command's HTTP and HTTPS proxy, counting the connections made to it:
    a command that reaches for the network (a fetch of a data folder that is not there) is seen,
    and fails at once rather than after a mirror's time limit."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    seen = []

    def serve():
        while True:
            c, _ = s.accept()
            seen.append(1)
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    for v in ("no_proxy", "NO_PROXY"):
        os.environ.pop(v, None)
    for v in ("http_proxy", "https_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        os.environ[v] = "http://127.0.0.1:%d" % s.getsockname()[1]
    return seen


if __name__ == "__main__":
    seen = watch_network()
    main()
    check(not seen, f"no command reached for the network ({len(seen)} connections)")
    sys.exit(status())
