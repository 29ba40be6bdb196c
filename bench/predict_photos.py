#!/usr/bin/env python3
"""predict_photos.py: how well `mnist predict` reads photos of digits, per kind of image.

    bench/predict_photos.py [--model FILE]... [--count N] [--seed S] [--max-side P] [--keep DIR]

Builds a photo set from MNIST test digits with scripts/make_photo_set.py (N digits, default 300,
in each of the eight kinds, plus the 28x28 digits themselves as PNGs), then for each model prints
its MNIST test accuracy (`mnist eval`), its accuracy on the very digits the photos were made from,
and per kind the accuracy of `predict` with the MNIST-style preprocessing (the default), that as a
share of the model's test accuracy (the number that must stay at 97% or more) and of its accuracy
on the same digits as MNIST has them, and the accuracy with the lab's load_image. Without --model it trains a 784-256-10 model (Adam, 2 epochs) and
adds build/lab.safetensors when `make run` has left one. `make bench-photos` runs it.
"""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.environ.get("MNIST_BIN") or os.path.join(ROOT, "build", "mnist")
KINDS = ["gray", "colour", "rgba", "jpeg", "board", "notebook", "desk", "tight"]


def run(*args):
    p = subprocess.run([*args], capture_output=True, text=True)
    if p.returncode not in (0, 1):
        sys.exit(f"predict_photos: {' '.join(args[:3])}... failed:\n{p.stderr}")
    return p


def accuracy(model, rows, root, prep):
    """Accuracy per kind of `predict --preprocess prep`, and the seconds per image."""
    files = [os.path.join(root, r[1]) for r in rows]
    t = time.time()
    p = run(MNIST, "predict", "--model", model, "--preprocess", prep, "--json", *files)
    secs = (time.time() - t) / len(files)
    got = {}
    for line in p.stdout.splitlines():
        r = json.loads(line)
        got[r["file"]] = r.get("digit", -1)
    right, total = collections.Counter(), collections.Counter()
    for r, f in zip(rows, files):
        total[r[0]] += 1
        right[r[0]] += got.get(f) == int(r[2])
    return {k: right[k] / total[k] for k in total}, secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", default=[], help="model file (repeatable)")
    ap.add_argument("--count", type=int, default=300, help="MNIST test digits per kind (default 300)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-side", type=int, default=900)
    ap.add_argument("--keep", help="build the set in DIR and keep it")
    o = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mnist-bench-photos-")
    models = list(o.model)
    if not models:
        small = os.path.join(tmp, "adam-784-256-10.safetensors")
        print("training a 784-256-10 model (Adam, lr 0.001, 2 epochs)...", flush=True)
        run(MNIST, "train", "--layers", "784,256,10", "--optimizer", "adam", "--lr", "0.001", "--epochs", "2",
            "--no-train-eval", "--save", small)
        models.append(small)
        lab = os.path.join(ROOT, "build", "lab.safetensors")
        if os.path.exists(lab):
            models.append(lab)
    root = o.keep or os.path.join(tmp, "photos")
    t = time.time()
    run(sys.executable, os.path.join(ROOT, "scripts", "make_photo_set.py"), root, "--count", str(o.count),
        "--seed", str(o.seed), "--max-side", str(o.max_side), "--kinds", ",".join(KINDS + ["raw"]))
    rows = [line.split("\t") for line in open(os.path.join(root, "index.tsv")).read().splitlines()[1:]]
    print(f"photo set: {o.count} MNIST test digits x {len(KINDS)} kinds, seed {o.seed}, frames up to "
          f"{o.max_side} px (made in {time.time() - t:.0f} s)\n")
    for model in models:
        ev = json.loads(run(MNIST, "eval", "--model", model, "--json").stdout)
        acc = ev["accuracy"]
        mn, secs = accuracy(model, rows, root, "mnist")
        lab, _ = accuracy(model, rows, root, "lab")
        print(f"model {os.path.basename(model)}: MNIST test accuracy {acc:.4f}; on these {o.count} digits as "
              f"they are in MNIST {lab['raw']:.4f}")
        print(f"  {'kind':8s} {'--preprocess mnist':>18s} {'of test accuracy':>17s} {'of these digits':>16s} "
              f"{'--preprocess lab':>17s}")
        photo = [mn[k] for k in KINDS]
        for k in KINDS:
            print(f"  {k:8s} {mn[k]:18.4f} {mn[k] / acc:17.1%} {mn[k] / lab['raw']:16.1%} {lab[k]:17.4f}")
        avg, avg_lab = sum(photo) / len(photo), sum(lab[k] for k in KINDS) / len(KINDS)
        print(f"  {'all':8s} {avg:18.4f} {avg / acc:17.1%} {avg / lab['raw']:16.1%} {avg_lab:17.4f}")
        print(f"  the 28x28 digits themselves through --preprocess mnist: {mn['raw']:.4f}; "
              f"{secs * 1000:.1f} ms an image (decode, preprocess, predict; one process for all)\n")
    if not o.keep:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
