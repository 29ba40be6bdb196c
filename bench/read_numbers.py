#!/usr/bin/env python3
"""read_numbers.py: how well `mnist predict --number` reads numbers written with MNIST's digits.

    bench/read_numbers.py [--model FILE]... [--count N] [--seed S] [--keep DIR] [--kinds K,...]

Builds N numbers (default 200) in each of six kinds from MNIST test digits, each of 2 to 4
digits drawn with RandomState(S) (default 0), side by side: each digit made into pen strokes as
scripts/make_photo_set.py makes one (slanted and turned a little), its height 0.8 to 1.2 times the
number's, its baseline moved up or down by up to 0.12 of it, the gap before it 0.05 to 0.8 of it:

    drawn   the strokes dark on white, no noise (a drawing)
    gray    on paper lit unevenly (make_photo_set's lighting: a gradient, a vignette, sometimes a
            soft shadow), grayscale PNG with camera noise, as make_photo_set's gray kind
    colour  a blue, black or red pen on tinted paper, colour JPEG, as its jpeg kind
    board   light chalk on a dark board, lit unevenly, noisy, as its board kind
    notebook a pen on ruled or squared paper, on 40% of pages a margin line down it, often close
            to the digits or through them (make_photo_set's notebook kind, the number's height
            taken for the digit's)
    touching drawn as `drawn` is, but each digit's frame begins -0.15 to 0 of the height before
            the last one's ends, and is moved left further until its ink (over one half) touches
            the last digit's: each number one part of ink, digits that must be split

Then `predict --number` reads each, and it prints per kind: the share of numbers read exactly, the
share with the right count of digits, the share of digits read right (of numbers read with the
right count, position by position; a number read with another count gets its digits' longest
common run in order), and beside them the single-digit accuracies on the same digits: each digit's
own strokes alone on the same kind of paper through `predict` (no --number), and the MNIST digit
itself (its 28x28 bytes with --preprocess lab, exactly MNIST's input). Each --model gets its table
(default: build/lab.safetensors). `make bench-numbers` runs it. Needs numpy and Pillow.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from make_photo_set import blur, on_paper, read_idx, strokes  # noqa: E402
from digit_png import data_dir  # noqa: E402

MNIST = os.environ.get("MNIST_BIN") or os.path.join(ROOT, "build", "mnist")
KINDS = ("drawn", "gray", "colour", "board", "notebook", "touching")  # in this order: each kind has its seed


def touches(a, ax, ay, b, bx, by):
    """Whether ink a placed at (ax, ay) and ink b at (bx, by) touch: pixels over one half, 8-neighbours."""
    x0, y0 = max(ax, bx - 1), max(ay, by - 1)
    x1, y1 = min(ax + a.shape[1], bx + b.shape[1] + 1), min(ay + a.shape[0], by + b.shape[0] + 1)
    if x1 <= x0 or y1 <= y0:
        return False
    on = np.pad(b > 0.5, 1)  # b's ink grown by one pixel, as 8-neighbours reach
    grown = on[:-2, :-2] | on[:-2, 1:-1] | on[:-2, 2:] | on[1:-1, :-2] | on[1:-1, 1:-1] | on[1:-1, 2:] | \
        on[2:, :-2] | on[2:, 1:-1] | on[2:, 2:]
    grown = np.pad(grown, 1)  # (b.h + 2, b.w + 2), placed at (bx - 1, by - 1)
    return bool((a[y0 - ay:y1 - ay, x0 - ax:x1 - ax] > 0.5).any() and
                ((a[y0 - ay:y1 - ay, x0 - ax:x1 - ax] > 0.5) &
                 grown[y0 - by + 1:y1 - by + 1, x0 - bx + 1:x1 - bx + 1]).any())


def number_ink(digits, rng, touch=False):
    """The digits' strokes side by side: ink (h, w) in [0, 1], and each digit's own ink (same frame size). touch:
    each digit's frame begins -0.15 to 0 of the height before the last one's ends, moved left until their inks touch."""
    height = int(rng.uniform(40, 160))
    inks = []
    for d in digits:
        ink = strokes(d, max(12, int(height * rng.uniform(0.8, 1.2))), rng)
        sigma = rng.uniform(0.0, 1.0) * max(1.0, ink.shape[0] / 150)
        inks.append(blur(np.pad(ink, int(math.ceil(3 * sigma)) + 1), sigma))
    margin = int(rng.uniform(0.3, 1.0) * height) + 8
    x, places = margin, []
    for i, ink in enumerate(inks):
        if i:
            x += int(rng.uniform(-0.15, 0.0) * height) if touch else int(rng.uniform(0.05, 0.8) * height)
        base = int(rng.uniform(-0.12, 0.12) * height)  # the bottom's place against the line
        y = margin + height - ink.shape[0] + base
        while touch and i and x > places[-1][0] and not touches(inks[i - 1], *places[-1], ink, x, y):
            x -= 1
        places.append((x, y))
        x += ink.shape[1]
    w = x + margin
    h = max(p[1] + ink.shape[0] for p, ink in zip(places, inks)) + margin
    top = min(0, min(p[1] for p in places))
    canvas = np.zeros((h - top, w), np.float32)
    alone = []
    for (px, py), ink in zip(places, inks):
        py -= top
        canvas[py:py + ink.shape[0], px:px + ink.shape[1]] = np.maximum(
            canvas[py:py + ink.shape[0], px:px + ink.shape[1]], ink)
        a = np.zeros((ink.shape[0] + 2 * margin, ink.shape[1] + 2 * margin), np.float32)
        a[margin:margin + ink.shape[0], margin:margin + ink.shape[1]] = ink
        alone.append(a)
    return canvas, alone


def render(kind, ink, rng):
    """The ink on paper of `kind`: (PIL image, extension, save options)."""
    if kind in ("drawn", "touching"):
        return Image.fromarray(np.round((1 - ink) * 255).astype(np.uint8), "L"), "png", {}
    return on_paper("jpeg" if kind == "colour" else kind, ink, rng)


def predict(model, files, *flags):
    """predict --json over files: file -> its JSON line."""
    out = {}
    for i in range(0, len(files), 500):
        p = subprocess.run([MNIST, "predict", "--model", model, "--json", *flags, *files[i:i + 500]],
                           capture_output=True, text=True)
        if p.returncode not in (0, 1):
            sys.exit(f"read_numbers: predict failed:\n{p.stderr}")
        for line in p.stdout.splitlines():
            r = json.loads(line)
            out[r["file"]] = r
    return out


def common(a, b):
    """The length of the longest common subsequence of strings a and b."""
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a)):
        for j in range(len(b)):
            t[i + 1][j + 1] = t[i][j] + 1 if a[i] == b[j] else max(t[i][j + 1], t[i + 1][j])
    return t[-1][-1]


def report(model, rows):
    """The table of one model over the numbers made (rows: kind, number file, truth, alone files, raw files)."""
    print(f"\nmodel {os.path.relpath(model, ROOT)}")
    print(f"{'kind':8} {'numbers exact':>14} {'count right':>12} {'digits right':>13} "
          f"{'alone: digits':>14} {'MNIST (lab)':>12}")
    raw = predict(model, sorted({f for r in rows for f in r[4]}), "--preprocess", "lab")
    totals = np.zeros(7)
    for kind in KINDS:
        kr = [r for r in rows if r[0] == kind]
        if kind == "touching" and totals[-1]:  # "all" is the five kinds' (as before touching was made)
            e, c, r, d, a, m, n = totals
            print(f"{'all':8} {e / n:14.3f} {c / n:12.3f} {r / d:13.3f} {a / d:14.3f} {m / d:12.3f}")
            totals[:] = 0
        if not kr:
            continue
        got = predict(model, [r[1] for r in kr], "--number")
        single = predict(model, [f for r in kr for f in r[3]])
        exact = count = right = digits = alone = mnist = 0
        for _, name, truth, singles, raws in kr:
            read = got[name].get("number", "")
            exact += read == truth
            count += len(read) == len(truth)
            right += sum(a == b for a, b in zip(read, truth)) if len(read) == len(truth) else common(read, truth)
            digits += len(truth)
            alone += sum(single[f].get("digit", -1) == int(t) for f, t in zip(singles, truth))
            mnist += sum(raw[f].get("digit", -1) == int(t) for f, t in zip(raws, truth))
        totals += (exact, count, right, digits, alone, mnist, len(kr))
        print(f"{kind:8} {exact / len(kr):14.3f} {count / len(kr):12.3f} {right / digits:13.3f} "
              f"{alone / digits:14.3f} {mnist / digits:12.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="a model to read with (again for more)")
    ap.add_argument("--count", type=int, default=200, help="numbers in each kind (default 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", help="write the images here and keep them (default: a temporary folder)")
    ap.add_argument("--kinds", default=",".join(KINDS), help="the kinds to make, comma-separated (default: all)")
    o = ap.parse_args()
    kinds = o.kinds.split(",")
    if not kinds or any(k not in KINDS for k in kinds):
        ap.error(f"--kinds: one or more of {','.join(KINDS)}")
    models = o.model or [os.path.join(ROOT, "build", "lab.safetensors")]
    folder = data_dir(None)
    images = read_idx(folder, "t10k-images-idx3-ubyte")
    labels = read_idx(folder, "t10k-labels-idx1-ubyte")
    out = o.keep or tempfile.mkdtemp(prefix="numbers-")
    rng = np.random.RandomState(o.seed)
    numbers = [rng.choice(len(labels), size=rng.randint(2, 5), replace=False) for _ in range(o.count)]
    rows = []  # kind, number file, truth, [single files], [raw files]
    os.makedirs(os.path.join(out, "raw"), exist_ok=True)
    for kind in kinds:
        os.makedirs(os.path.join(out, kind, "alone"), exist_ok=True)
        krng = np.random.RandomState([o.seed, 1 + KINDS.index(kind)])
        for n, idx in enumerate(numbers):
            truth = "".join(str(labels[i]) for i in idx)
            ink, alone = number_ink([images[i] for i in idx], krng, kind == "touching")
            im, ext, opts = render(kind, ink, krng)
            name = os.path.join(out, kind, f"{n:05d}-{truth}.{ext}")
            im.save(name, **opts)
            singles = []
            for k, a in enumerate(alone):
                im, ext, opts = render(kind, a, krng)
                singles.append(os.path.join(out, kind, "alone", f"{n:05d}-{k}-{truth[k]}.{ext}"))
                im.save(singles[-1], **opts)
            raws = []
            for i in idx:
                raws.append(os.path.join(out, "raw", f"{i:05d}-{labels[i]}.png"))
                if not os.path.exists(raws[-1]):
                    Image.fromarray(images[i], "L").save(raws[-1])
            rows.append((kind, name, truth, singles, raws))
    print(f"{o.count} numbers of 2 to 4 MNIST test digits ({sum(len(x) for x in numbers)} digits) in each kind, "
          f"seed {o.seed}")
    for model in models:
        report(model, rows)
    if not o.keep:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
