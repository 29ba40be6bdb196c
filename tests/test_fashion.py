"""test_fashion.py: predict's Fashion-MNIST preprocessing (--preprocess fashion, a Fashion-MNIST model's
default) against numpy, computed independently: a product photo trimmed of what lies within 5% of
its corners' colour, its shade against that colour (a light background's darker pixels, a dark one's lighter)
from 0 to 1, its longer side resized to 28 by averaging areas, centred in 28x28.

- A garment drawn dark on white, on a shop's transparent background, and light on black: numpy's input,
  to 1e-5; dark on white and light on black the same.
- --preprocess outline (serve's page's drawings, for a Fashion-MNIST model): a shirt drawn as its outline
  gives numpy's input with what its strokes close filled with their strongest shade, to 1e-5, and so does
  one with a gap of 2 cells, once closed; an outline with a gap of 7 cells gives fashion's input.
  A dot or a dash drawn (a tap on the page's pad) is refused as one solid blob, and none of Fashion-MNIST's
  70000 items holds the square of full ink that refuses it (where its files are at hand).
- An image of one colour, or of light falling evenly across it, is refused, naming the file and the
  background.
- A model whose file says Fashion-MNIST takes it by default; --preprocess mnist still takes the digits'.
- Where Fashion-MNIST's files are at hand (Debian's dataset-fashion-mnist, or $MNIST_DATA/fashion): 200 of its
  test images made into product photos (negated, 8 times as large, on white margins) read as the model reads
  the images themselves, give or take 6 (the digits' preprocessing reads about a third of them right: a
  20x20 box and a centre of mass are not how Fashion-MNIST was made). And drawn as their outlines (holes
  filled, a pen of 9 pixels in 288), --preprocess outline reads them as their solid silhouettes, give or
  take 10, and at least 30 more than fashion's (drawn outlines are not what Fashion-MNIST holds).
"""
import collections
import gzip
import json
import os
import struct
import subprocess
import sys

import numpy as np

from testlib import MNIST, check, status, temp_dir  # noqa: E402

FASHION_DIRS = ["/usr/share/datasets/fashion-mnist", os.path.join(os.environ.get("MNIST_DATA", ""), "fashion")]


def run(*args):
    return subprocess.run([MNIST, *args], capture_output=True, text=True)


def model_file(path, dataset, rng):
    """A 784-32-10 tanh model of random weights whose metadata names dataset (the README's format)."""
    header, blobs, off = {"__metadata__": {"layers": "784,32,10", "activation": "tanh", "dataset": dataset}}, [], 0
    for i, (m, n) in enumerate(((784, 32), (32, 10))):
        for name, a in ((f"layers.{i}.kernel", rng.randn(m, n) * 0.2), (f"layers.{i}.bias", rng.randn(n) * 0.1)):
            b = a.astype("<f4").tobytes()
            header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
            blobs.append(b)
            off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def area(out, n):
    """(out, n): each output pixel's share of each input pixel, averaging areas: out pixel o spans
    [o n / out, (o + 1) n / out) of the input, each input pixel weighted by how much of it lies there."""
    r = n / out
    lo, hi = np.arange(out)[:, None] * r, (np.arange(out)[:, None] + 1) * r
    i = np.arange(n)[None, :]
    return np.clip(np.minimum(i + 1, hi) - np.maximum(i, lo), 0, None) / r


def solid(mask):
    """mask with what it closes filled (4-neighbour paths to the edge through the rest)."""
    h, w = mask.shape
    seen = np.zeros_like(mask)
    queue = collections.deque((y, c) for y in range(h) for c in range(w) if (y in (0, h - 1) or c in (0, w - 1))
                              and not mask[y, c])
    for p in queue:
        seen[p] = True
    while queue:
        y, c = queue.popleft()
        for q in ((y + 1, c), (y - 1, c), (y, c + 1), (y, c - 1)):
            if 0 <= q[0] < h and 0 <= q[1] < w and not mask[q] and not seen[q]:
                seen[q] = True
                queue.append(q)
    return ~seen


def want_input(rgb, alpha=None, outline=False):
    """numpy's reading of the recipe for an (h, w, 3) uint8 image, its alpha (h, w) or None. The background:
    the corners' median (the mean of the middle two), and where they lie on a plane (c0 + c3 = c1 + c2,
    within 5%), that plane's slopes across and down. outline: and then the strokes (the trimmed pixels of half
    the strongest shade or more) mark every 28x28 cell their area scales onto; the unmarked cells that no
    path of unmarked cells joins to the edge, and the marked ones beside them (8-neighbours), are raised to
    the strongest shade. Where those are none, the marked cells are first closed: grown by a cell each way
    (3x3), then shrunk by one (the frame's outside counted as marked), which closes a gap of up to two."""
    c = rgb.astype(np.float64)
    if alpha is not None:
        a = alpha[..., None] / 255.0
        c = a * c + (1 - a) * 255.0
    H, W = c.shape[:2]
    c0, c1, c2, c3 = corners = np.stack([c[0, 0], c[0, -1], c[-1, 0], c[-1, -1]])
    bg = np.sort(corners, 0)[1:3].mean(0)
    on_plane = (np.abs(c0 + c3 - c1 - c2) <= 0.05 * 255).all()
    across, down = ((c1 - c0 + c3 - c2) / 2, (c2 - c0 + c3 - c1) / 2) if on_plane else (np.zeros(3), np.zeros(3))
    fx = (np.arange(W) / (W - 1) - 0.5 if W > 1 else np.zeros(1))[None, :, None]
    fy = (np.arange(H) / (H - 1) - 0.5 if H > 1 else np.zeros(1))[:, None, None]
    at = bg + across * fx + down * fy
    ys, xs = np.nonzero((np.abs(c - at) > 0.05 * 255).any(-1))
    c, at = (v[ys.min():ys.max() + 1, xs.min():xs.max() + 1] for v in (c, at))
    weights = np.array([0.299, 0.587, 0.114])
    luma, l0 = c @ weights, at @ weights
    light = bg @ weights >= 127.5
    s = np.clip((l0 - luma) / np.maximum(l0, 1) if light else (luma - l0) / np.maximum(255 - l0, 1), 0, 1)
    s = s.astype(np.float32)
    h, w = s.shape
    f = 28 / max(h, w)
    ow, oh = max(1, int(np.floor(w * f + 0.5))), max(1, int(np.floor(h * f + 0.5)))
    small = (area(oh, h) @ s.astype(np.float64) @ area(ow, w).T).astype(np.float32)
    x = np.zeros((28, 28), np.float32)
    x0, y0 = (28 - ow) // 2, (28 - oh) // 2
    x[y0:y0 + oh, x0:x0 + ow] = np.clip(small, 0, 1)
    if outline:
        strong = s.max()
        cells = np.zeros((28, 28), bool)
        for y, i in zip(*np.nonzero(s >= np.float32(0.5) * strong)):
            cells[y0 + y * oh // h:y0 + (y * oh + oh - 1) // h + 1, x0 + i * ow // w:x0 + (i * ow + ow - 1) // w + 1] = True
        if not (solid(cells) & ~cells).any():
            grown = np.zeros((28, 28), bool)
            for dy, dx in np.ndindex(3, 3):
                grown |= np.pad(cells, 1)[dy:dy + 28, dx:dx + 28]
            cells = np.ones((28, 28), bool)
            for dy, dx in np.ndindex(3, 3):
                cells &= np.pad(grown, 1, constant_values=True)[dy:dy + 28, dx:dx + 28]
        inside = solid(cells)
        enclosed = np.pad(inside & ~cells, 1)
        near = np.zeros((28, 28), bool)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                near |= enclosed[dy:dy + 28, dx:dx + 28]
        raise_ = near & inside
        x[raise_] = np.maximum(x[raise_], strong)
    return x.ravel()


def read_inputs(model, files, *flags):
    p = run("predict", "--model", model, "--json", "--show", *flags, *files)
    rows = {r["file"]: r for r in map(json.loads, p.stdout.splitlines())}
    return p, rows


def input_of(rows, path):
    """The 784 inputs predict gave for path (read_inputs' rows), or an empty array."""
    return np.array(rows.get(path, {}).get("input", []), np.float32)


def largest_difference(x, want):
    """The largest difference between two inputs; infinite where x is not one."""
    return float(np.abs(x - want).max()) if x.shape == want.shape else float("inf")


def full_square(images):
    """images (N, 28, 28): the side of each one's largest square of full ink (within 1% of its strongest shade)."""
    top = images.max((1, 2), keepdims=True)
    full = (images >= 0.99 * top) & (top > 0)
    n = len(images)
    side = np.zeros((n, 29, 29), np.int32)  # the largest full square whose bottom right corner is (y, c)
    for y in range(28):
        for c in range(28):
            side[:, y + 1, c + 1] = np.where(full[:, y, c], 1 + np.minimum(np.minimum(side[:, y, c + 1],
                                             side[:, y + 1, c]), side[:, y, c]), 0)
    return side.reshape(n, -1).max(1)


def main():
    from PIL import Image, ImageDraw, ImageFilter
    tmp = temp_dir("mnist-test-fashion-")
    rng = np.random.RandomState(5)
    fashion, digits = os.path.join(tmp, "fashion.safetensors"), os.path.join(tmp, "digits.safetensors")
    model_file(fashion, "fashion", rng)
    model_file(digits, "mnist", rng)

    # a T-shirt, dark grey and shaded, on white (360x300, its sides off centre), on a transparent page, and
    # light on black
    shirt = Image.new("L", (360, 300), 255)
    d = ImageDraw.Draw(shirt)
    d.polygon([(60, 70), (130, 40), (230, 40), (300, 70), (280, 130), (250, 120), (250, 270), (110, 270),
               (110, 120), (80, 130)], fill=70)
    d.rectangle([150, 100, 210, 200], fill=120)
    g = np.asarray(shirt)
    on_white = np.stack([g, g, g], -1)
    files = {}
    # and under light falling off across the frame (a quarter darker at the far corner)
    lit = np.clip(on_white * np.linspace(1, 0.75, 360)[None, :, None] * np.linspace(1, 0.9, 300)[:, None, None], 0, 255)
    for name, rgb, alpha in (("white.png", on_white, None),
                             ("transparent.png", np.stack([g, g // 2, g], -1), np.where(g == 255, 0, 255)),
                             ("black.png", 255 - on_white, None),
                             ("lit.png", np.round(lit), None)):
        path = os.path.join(tmp, name)
        a = np.dstack([rgb, alpha]).astype(np.uint8) if alpha is not None else rgb.astype(np.uint8)
        Image.fromarray(a, "RGBA" if alpha is not None else "RGB").save(path)
        files[path] = want_input(rgb.astype(np.uint8), alpha)
    p, rows = read_inputs(fashion, list(files))
    for path, want in files.items():
        worst = largest_difference(input_of(rows, path), want)
        check(worst <= 1e-5 and want.max() > 0.5,
              f"{os.path.basename(path)}: the Fashion-MNIST input is numpy's (largest difference {worst:.2g})")
    white, black, lit = (input_of(rows, os.path.join(tmp, n)) for n in ("white.png", "black.png", "lit.png"))
    check(white.shape == (784,) and np.array_equal(white, black),
          "dark on white and light on black read the same (the background's shade is 0 either way)")
    off = largest_difference(lit, white)
    check(off < 0.05, f"under light falling off across it, the shirt reads as on even white (largest difference {off:.2g})")
    # a shirt drawn as its outline, closed and with a gap in its hem: what the closed one closes is filled
    corners = [(60, 70), (130, 40), (230, 40), (300, 70), (280, 130), (250, 120), (250, 270), (110, 270), (110, 120),
               (80, 130), (60, 70)]
    drawn = {}
    for name, lines in (("closed", [corners]), ("open", [corners[:7] + [(200, 270)]]),
                        ("gap", [corners[:7] + [(194, 270)], [(166, 270)] + corners[7:]])):
        im = Image.new("L", (360, 300), 255)
        for points in lines:
            ImageDraw.Draw(im).line(points, fill=0, width=8, joint="curve")
        drawn[name] = os.path.join(tmp, f"outline-{name}.png")
        im.save(drawn[name])
        g = np.stack([np.asarray(im)] * 3, -1)
        drawn[name + " want"], drawn[name + " filled"] = want_input(g), want_input(g, outline=True)
    for side in (14, 20):  # small: each pixel marks the cells it grows onto
        square = np.full((side, side), 255, np.uint8)
        square[2:-2, 2:-2] = 0
        square[3:-3, 3:-3] = 255
        drawn[f"square {side}"] = os.path.join(tmp, f"square-{side}.png")
        Image.fromarray(square).save(drawn[f"square {side}"])
    _, lines = read_inputs(fashion, [drawn["closed"], drawn["open"], drawn["gap"], drawn["square 14"],
                                     drawn["square 20"]], "--preprocess", "outline")
    _, strokes = read_inputs(fashion, [drawn["square 14"], drawn["square 20"]])
    for side in (14, 20):  # (grown, not shrunk: numpy's reading above does not grow)
        x, y = input_of(lines, drawn[f"square {side}"]), input_of(strokes, drawn[f"square {side}"])
        check(x.shape == y.shape == (784,) and (x > 0.5).sum() == 784 and (y > 0.5).sum() < 400,
              f"--preprocess outline: a square drawn one pixel wide in {side}x{side} is filled "
              f"({(x > 0.5).sum()} of 784 inputs over half; {(y > 0.5).sum()} with fashion)")
    for name, said in (("closed", "a shirt drawn as its outline"),
                       ("gap", "with a gap of 28 pixels in its hem (2 cells free of strokes), once closed,")):
        want = drawn[name + " filled"]
        worst = largest_difference(input_of(lines, drawn[name]), want)
        filled = int((want > 0.5).sum() - (drawn[name + " want"] > 0.5).sum())
        check(worst <= 1e-5 and filled > 200, f"--preprocess outline: {said} is numpy's input with the {filled} pixels "
              f"its strokes close filled (largest difference {worst:.2g})")
    worst = largest_difference(input_of(lines, drawn["open"]), drawn["open want"])
    check(worst <= 1e-5, f"--preprocess outline: with a gap of 7 cells in its outline, it is fashion's input, none "
                         f"filled (largest difference {worst:.2g})")
    # a tap on the page's pad (a dot: the pen's 7% of 280 pixels) read as an outline: a disk filling the frame,
    # which read as an item (a bag); refused, as the digits' recipe refuses a dot; a dash too
    for name, box in (("dot", (130, 130, 150, 150)), ("dash", (120, 130, 160, 150))):
        tap = Image.new("L", (280, 280), 255)
        ImageDraw.Draw(tap).rounded_rectangle(box, radius=10, fill=0)
        tap_file = os.path.join(tmp, f"{name}.png")
        tap.save(tap_file)
        p = run("predict", "--model", fashion, "--preprocess", "outline", tap_file)
        check(p.returncode == 1 and p.stderr.strip() == f"mnist predict: {tap_file}: no clear item: the strokes are one "
              "solid blob (a dot?): they hold an 11x11 square of full ink in the 28x28 input, as none of "
              "Fashion-MNIST's 70000 items does", f"--preprocess outline: a {name} drawn is refused ({p.stderr.strip()!r})")
    # the default of a Fashion-MNIST model; a digits model keeps the digits' recipe (a 20x20 box)
    _, dflt = read_inputs(fashion, [os.path.join(tmp, "white.png")])
    _, asked = read_inputs(digits, [os.path.join(tmp, "white.png")], "--preprocess", "fashion")
    _, mnist = read_inputs(digits, [os.path.join(tmp, "white.png")])
    same = [r.get(os.path.join(tmp, "white.png"), {}).get("input") for r in (dflt, asked, rows)]
    check(same[0] is not None and same[0] == same[1] == same[2],
          "a Fashion-MNIST model takes --preprocess fashion by default, as a digits model takes it when asked")
    m = np.array(next(iter(mnist.values()), {}).get("input", np.zeros(784)), np.float32).reshape(28, 28)
    cols = np.nonzero(m.max(0) > 0)[0]
    check(len(cols) and cols.max() - cols.min() + 1 <= 21, "a digits model keeps the digits' 20x20 box by default")
    # one colour: nothing to trim to
    flat = os.path.join(tmp, "flat.png")
    Image.new("RGB", (50, 40), (200, 180, 160)).save(flat)
    p = run("predict", "--model", fashion, flat)
    check(p.returncode == 1 and p.stderr.strip() == f"mnist predict: {flat}: no item: the whole image is within 5% of "
          "its background (the colour of its corners)", f"an image of one colour is refused ({p.stderr.strip()!r})")
    # light falling evenly across it, nothing else: that plane is its background
    ramp = os.path.join(tmp, "ramp.png")
    y, x = np.mgrid[0:40, 0:50]
    Image.fromarray(np.uint8(100 + 2 * x + y), "L").save(ramp)
    p = run("predict", "--model", fashion, ramp)
    check(p.returncode == 1 and p.stderr.strip() == f"mnist predict: {ramp}: no item: the whole image is within 5% of "
          "its background (the light falling evenly across its corners)",
          f"an image of light falling evenly across it is refused ({p.stderr.strip()!r})")
    # a white item on a transparent background (a shop's cut-out): over white nothing differs (it was refused, "no
    # item"); over black it is numpy's input of the item as it shows there
    rgba = np.zeros((60, 40, 4), np.uint8)
    rgba[..., :3] = 245
    rgba[10:50, 8:32, 3] = 255
    rgba[10:20, 2:38, 3] = 255  # sleeves
    cut = os.path.join(tmp, "white-cut-out.png")
    Image.fromarray(rgba, "RGBA").save(cut)
    _, got = read_inputs(fashion, [cut])
    want = want_input((rgba[..., :3].astype(np.float64) * (rgba[..., 3:] / 255.0)).round().astype(np.uint8))
    worst = largest_difference(input_of(got, cut), want)
    check(worst <= 1e-5 and (want > 0.5).sum() > 300, f"a white item on a transparent background is read over black, "
          f"numpy's input of it there (largest difference {worst:.2g})")
    p = run("predict", "--model", fashion, "--preprocess", "other", flat)
    check(p.returncode == 2 and "--preprocess 'other' is not mnist, lab, fashion or outline" in p.stderr,
          f"an unknown --preprocess is refused ({p.stderr.strip()!r})")

    # Fashion-MNIST's own test images as product photos
    where = next((d for d in FASHION_DIRS if os.path.exists(os.path.join(d, "t10k-images-idx3-ubyte.gz"))), None)
    if not where:
        print("SKIP Fashion-MNIST's test images as photos: its files are not here (Debian's dataset-fashion-mnist)")
        return status()
    # none of its 70000 items is refused as a dot: none holds an 11x11 square of full ink
    items = np.concatenate([np.frombuffer(gzip.open(os.path.join(where, f"{n}-images-idx3-ubyte.gz")).read()[16:],
                                          np.uint8).reshape(-1, 28, 28) for n in ("train", "t10k")])
    sides = full_square(items)
    check(len(sides) == 70000 and sides.max() < 11,
          f"none of Fashion-MNIST's {len(sides)} items holds an 11x11 square of full ink (the largest: "
          f"{sides.max()}x{sides.max()}, in {(sides == sides.max()).sum()})")
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        os.symlink(os.path.join(where, n + ".gz"), os.path.join(data, n + ".gz"))
    trained = os.path.join(tmp, "trained.safetensors")
    p = run("train", "--dataset", "fashion", "--data", data, "--layers", "784,128,10", "--optimizer", "adam",
            "--epochs", "1", "--no-train-eval", "--save", trained)
    check(p.returncode == 0, f"a Fashion-MNIST model trains ({p.stderr.strip()[-200:]!r})")
    ck = os.path.join(tmp, "fashion.ck")
    p = run("train", "--dataset", "fashion", "--data", data, "--layers", "784,8,10", "--epochs", "0",
            "--checkpoint", ck)
    p = run("train", "--recipe", "best", "--data", data, "--resume", ck) if p.returncode == 0 else p
    # (it said "--dataset mnist, from --recipe best": no recipe sets the dataset)
    said = "mnist train: --dataset mnist, the default (not given), with --recipe best: the run of "
    check(p.returncode == 2 and p.stderr.startswith(said) and "has fashion;" in p.stderr,
          f"--recipe best resuming a Fashion-MNIST run without --dataset: the dataset said to be the default "
          f"({p.stderr.strip()!r})")
    images = np.frombuffer(gzip.open(os.path.join(where, "t10k-images-idx3-ubyte.gz")).read()[16:], np.uint8)
    labels = np.frombuffer(gzip.open(os.path.join(where, "t10k-labels-idx1-ubyte.gz")).read()[8:], np.uint8)
    images = images.reshape(-1, 28, 28)[:200]
    raw, photos, lit = os.path.join(tmp, "raw"), os.path.join(tmp, "photos"), os.path.join(tmp, "lit")
    for folder in (raw, photos, lit):
        os.makedirs(folder)
    for i, a in enumerate(images):
        Image.fromarray(a).save(os.path.join(raw, f"{i:03d}.png"))
        big = Image.fromarray(255 - a).resize((224, 224), Image.BICUBIC)
        page = Image.new("L", (224 + 2 * (20 + i % 30), 224 + 2 * (20 + i % 30)), 255)
        page.paste(big, (20 + i % 30, 20 + i % 30))
        page.save(os.path.join(photos, f"{i:03d}.png"))
        # lit from one side, 20% to 40% darker on the far one, from 8 directions
        n, turn = page.size[0], 2 * np.pi * (i % 8) / 8
        yy, xx = np.mgrid[0:n, 0:n] / (n - 1) - 0.5
        light = 1 - (0.2 + 0.2 * (i % 5) / 4) * (0.5 + (np.cos(turn) * xx + np.sin(turn) * yy) / np.sqrt(2))
        Image.fromarray(np.round(np.asarray(page) * light).astype(np.uint8)).save(os.path.join(lit, f"{i:03d}.png"))

    def right(folder, *flags):
        files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
        p = run("predict", "--model", trained, "--json", *flags, *files)
        got = [json.loads(s).get("digit", -1) for s in p.stdout.splitlines()]
        return sum(int(g == t) for g, t in zip(got, labels))
    direct, as_photos, as_digits = right(raw, "--preprocess", "lab"), right(photos), right(photos, "--preprocess", "mnist")
    check(abs(as_photos - direct) <= 6 and as_photos > as_digits + 40,
          f"200 of Fashion-MNIST's test images as product photos: {as_photos} read right, as the images themselves "
          f"({direct}); the digits' preprocessing reads {as_digits}")
    as_lit = right(lit)
    check(abs(as_lit - as_photos) <= 6, f"and lit from one side (20% to 40% darker on the far one): {as_lit} read right")
    # the same items drawn, as their outlines (what they close filled, 4 pixels of margin, 288x288, a pen of
    # 9 pixels), and as solid silhouettes
    outlines, silhouettes = os.path.join(tmp, "outlines"), os.path.join(tmp, "silhouettes")
    os.makedirs(outlines)
    os.makedirs(silhouettes)
    for i, a in enumerate(images):
        shape = Image.fromarray(np.where(solid(np.pad(a > 25, 4)), 255, 0).astype(np.uint8)).resize((288, 288),
                                                                                                   Image.BILINEAR)
        big = np.asarray(shape) > 127
        inner = np.asarray(shape.point(lambda v: 255 if v > 127 else 0).filter(ImageFilter.MinFilter(19))) > 127
        for folder, ink in ((outlines, big & ~inner), (silhouettes, big)):
            Image.fromarray(np.where(ink, 0, 255).astype(np.uint8)).save(os.path.join(folder, f"{i:03d}.png"))
    as_outlines, as_strokes = right(outlines, "--preprocess", "outline"), right(outlines)
    as_solid = right(silhouettes)
    check(as_outlines >= as_solid - 10 and as_outlines >= as_strokes + 30,
          f"the 200 drawn as their outlines: --preprocess outline reads {as_outlines} right, as their solid "
          f"silhouettes ({as_solid}); fashion's reads {as_strokes}")
    return status()


if __name__ == "__main__":
    sys.exit(main())
