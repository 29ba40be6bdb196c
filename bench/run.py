"""run.py: `make bench`. Measures, in one run on this machine, the floor (the epoch's matrix
products alone), the program's epoch, peak memory, load, evaluation and predict times, and
PyTorch's epoch when it is installed, then prints one table.

usage: bench/run.py [--epochs N] [--both-coretypes] [--no-torch]
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build")


def sh(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{p.stderr}")
    return p


def data_dir():
    d = os.environ.get("MNIST_DATA")
    return d or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mnist")


def peak_rss_mb(cmd, env):
    p = sh(["/usr/bin/time", "-v", *cmd], env)
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--both-coretypes", action="store_true",
                    help="also run with OPENBLAS_CORETYPE unset (OpenBLAS picks its kernel)")
    ap.add_argument("--no-torch", action="store_true")
    a = ap.parse_args()
    env = dict(os.environ)
    rows = []
    load0 = f"{os.getloadavg()[0]:.2f}"

    settings = [env.get("OPENBLAS_CORETYPE", "")]
    if a.both_coretypes:
        settings.append(None if settings[0] else "Haswell")
    for core in settings:
        e = dict(env)
        if core:
            e["OPENBLAS_CORETYPE"] = core
        else:
            e.pop("OPENBLAS_CORETYPE", None)
            e.pop("OPENBLAS_L2_SIZE", None)
        print(f"running bench (OPENBLAS_CORETYPE={core or 'unset'}) ...", file=sys.stderr, flush=True)
        p = sh([os.path.join(BIN, "bench"), "--epochs", str(a.epochs)], e)
        sys.stderr.write(p.stderr)
        r = json.loads(p.stdout)
        r["coretype"] = core or "unset"
        rows.append(r)

    e = env
    rss = peak_rss_mb([os.path.join(BIN, "mnist"), "train", "--epochs", "1"], e)

    predict_ms = None
    samples = sorted(os.path.join(ROOT, "samples", f) for f in os.listdir(os.path.join(ROOT, "samples"))) \
        if os.path.isdir(os.path.join(ROOT, "samples")) else []
    model = os.path.join(BIN, "bench-model.safetensors")
    if samples:
        sh([os.path.join(BIN, "mnist"), "train", "--epochs", "0", "--save", model], e)
        times = []
        for _ in range(21):
            t0 = time.perf_counter()
            sh([os.path.join(BIN, "mnist"), "predict", "--model", model, samples[0]], e)
            times.append(time.perf_counter() - t0)
        predict_ms = 1000 * statistics.median(times)

    torch = None
    if not a.no_torch and subprocess.run(["/usr/bin/python3", "-c", "import torch"],
                                         capture_output=True).returncode == 0:
        print("running PyTorch (2 epochs) ...", file=sys.stderr, flush=True)
        t = json.loads(sh(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_mnist.py"), data_dir(),
                           "--epochs", "2"], e).stdout)
        torch = {"seconds": statistics.median(x["seconds"] for x in t["epochs"]),
                 "rss": t["peak_rss_mb"], "version": t["torch"],
                 "test_accuracy": t["epochs"][0]["test_accuracy"]}

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"\nmachine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}")
    print(f"date: {time.strftime('%Y-%m-%d')}, epochs per run: {a.epochs}, a floor round after each")
    print(f"load average before and after: {load0} / {os.getloadavg()[0]:.2f}\n")
    print("| OPENBLAS_CORETYPE | threads | floor (s) | epoch (s) | epoch / floor | GFLOP/s at floor |"
          " evaluation (s) | evaluation / epoch | load + verify (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['coretype']} | {r['threads']} | {r['floor_s']:.3f} | {r['epoch_s']:.3f} | {r['ratio']:.3f} |"
              f" {r['gflop_per_s']:.0f} | {r['eval_s']:.3f} | {r['eval_fraction']:.2f} | {r['load_s']:.3f} |")
    print()
    print(f"peak resident memory of `mnist train --epochs 1`: {rss:.0f} MB")
    if predict_ms is not None:
        print(f"`mnist predict` on one image, whole process (median of 21): {predict_ms:.1f} ms")
    if torch:
        ep = rows[0]["epoch_s"]
        print(f"PyTorch {torch['version']} (same network, batches, SGD, {os.cpu_count()} threads): "
              f"{torch['seconds']:.2f} s per epoch, peak memory {torch['rss']:.0f} MB, "
              f"epoch-0 test accuracy {torch['test_accuracy']:.4f}")
        print(f"speed-up over PyTorch: {torch['seconds'] / ep:.1f}x")
    else:
        print("PyTorch: not installed (apt-get install python3-torch), not compared")


if __name__ == "__main__":
    main()
