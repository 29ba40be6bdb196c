"""test_photos.py: on photos of digits as people make them, predict keeps at least 97% of the
model's own MNIST test accuracy.

A model is trained here on real MNIST (784-256-10 tanh, Adam, 2 epochs: about 96% in a few
seconds). scripts/make_photo_set.py makes 80 MNIST test digits into photos of six kinds (gray
and colour PNG, a drawing app's RGBA export, JPEG, chalk on a board, a pen on ruled or squared
paper: placed anywhere at any size, slanted a little, blurred, lit unevenly, noisy; frames up to
480 pixels here, to keep it quick), two more, a sheet on a desk and a photo cropped right around
the digit, and the MNIST digits themselves (28x28, light on dark). `mnist predict` must get at
least 97% of the model's test accuracy right over all but the desk's and the tight crops' 560,
and at least 93% of it on each of those kinds (80 each: one error is 1.25 points); on a desk, at
least 94% of it (with the model trained here: 0.662, 69% of its accuracy, before the dark side of
a desk's edge was dropped; 0.713, 74%, after; 0.875, 91%, once faint smears beside the digit
were dropped; 0.887, 92%, and slivers of desk along the frame's edge; 0.950, 99%, once a desk
was looked for again with the light taken out, and a long sheet turned was taken; 0.963, 100%,
once the desk became paper lit as the page is); cropped tight, at least
90% of it (0.775, 81%, before such a frame was read again with paper around it; 0.900, 94%,
after; on 300 of them, 0.94 to 0.97: a tight crop of a digit whose strokes are faint on one side
or run off the frame is harder to read). None of the 28x28 digits may be refused. The samples
in samples/ (digit in the file name) must all be read right. bench/predict_photos.py measures
larger sets.
"""
import collections
import glob
import json
import os
import re
import resource
import subprocess
import sys

from testlib import MNIST, ROOT, check, temp_dir, status  # noqa: E402
PYTHON = os.environ.get("PYTHON") or sys.executable


def read_photos(tmp, model, seed, kind, names):
    """Whether predict reads each of the named photos of make_photo_set.py's set (seed, kind; made
    as large as the last name needs: the set's first digits are the same at any count) as the digit
    its name ends in; and what it read."""
    out = os.path.join(tmp, f"seed{seed}-{kind}")
    count = max(int(n.split("-")[0]) for n in names) + 1
    p = subprocess.run([PYTHON, os.path.join(ROOT, "scripts", "make_photo_set.py"), out, "--count", str(count),
                        "--seed", str(seed), "--kinds", kind], capture_output=True, text=True)
    check(p.returncode == 0, f"scripts/make_photo_set.py makes {count} photos of kind {kind}" +
          ("" if p.returncode == 0 else ": " + p.stderr))
    files = [os.path.join(out, kind, n) for n in names]
    p = subprocess.run([MNIST, "predict", "--model", model, "--json", *files], capture_output=True, text=True)
    answers = {os.path.basename(r["file"]): r.get("digit", r.get("error")) for r in map(json.loads, p.stdout.splitlines())}
    return p.returncode == 0 and all(answers.get(n) == int(n.split("-")[1].split(".")[0]) for n in names), answers


def read_shaded_sheet(tmp, model):
    """Whether predict reads a 7 (MNIST's first test digit) on a sheet (0.85) on a desk (0.3), 400x400,
    the frame's right half under a soft shadow's edge down the middle of the sheet; and what it read."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import numpy as np
    from PIL import Image
    from make_photo_set import blur, data_dir, read_idx, strokes
    digit = read_idx(data_dir(None), "t10k-images-idx3-ubyte")[0]
    rng = np.random.RandomState(0)
    ink = np.pad(blur(np.pad(strokes(digit, 150, rng), 3), 0.6), 200)  # its centre at (200, 200) below
    cy, cx = ink.shape[0] // 2, ink.shape[1] // 2
    ink = ink[cy - 200:cy + 200, cx - 200:cx + 200]
    y, x = np.mgrid[0:400, 0:400].astype(np.float32)
    sheet = (x >= 60) & (x < 340) & (y >= 50) & (y < 350)
    v = np.where(sheet, 0.85 * (1 - 0.85 * ink), 0.3) * (1 - 0.45 / (1 + np.exp(-(x - 200) / 4)))
    v = blur(v, 0.7) + rng.normal(0, 0.01, v.shape)
    path = os.path.join(tmp, "shaded-sheet-7.png")
    Image.fromarray(np.round(np.clip(v, 0, 1) * 255).astype(np.uint8), "L").save(path)
    p = subprocess.run([MNIST, "predict", "--model", model, "--json", path], capture_output=True, text=True)
    answer = p.stdout.strip() and json.loads(p.stdout.strip().splitlines()[-1]).get("digit")
    return p.returncode == 0 and answer == 7, answer


def predict_digits(model, files):
    """What predict reads (-1: refused) in each of files, by its name."""
    p = subprocess.run([MNIST, "predict", "--model", model, "--json", *files], capture_output=True, text=True)
    return {os.path.basename(r["file"]): r.get("digit", -1) for r in map(json.loads, p.stdout.splitlines())}


def read_twins(model, out):
    """What predict reads (-1: refused) in each file of the first of the two folders out names
    (kind: folder), and the files that it reads otherwise in the second, as 'name: first -> second'."""
    first, second = (predict_digits(model, sorted(glob.glob(os.path.join(d, "*")))) for d in out.values())
    return first, [f"{n}: {first[n]} -> {second.get(n)}" for n in sorted(first) if second.get(n) != first[n]]


def read_vignettes(tmp, model):
    """Of 20 dark digits (MNIST's first test digits) on light pages under a flash's vignette, the
    light falling as the square of the distance from the middle to 0.25 to 0.35 of it at the
    corners: whether predict read all 20 pages lit evenly, and those of the 20 that it reads otherwise
    under the vignette."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import numpy as np
    from PIL import Image
    from make_photo_set import blur, data_dir, read_idx, strokes
    digits = read_idx(data_dir(None), "t10k-images-idx3-ubyte")[:20]
    rng = np.random.RandomState(5)
    out = {"flat": os.path.join(tmp, "flat"), "vignette": os.path.join(tmp, "vignette")}
    for d in out.values():
        os.makedirs(d)
    for i, digit in enumerate(digits):
        w, h = rng.randint(240, 400), rng.randint(240, 400)
        ink = blur(np.pad(strokes(digit, int(rng.uniform(0.3, 0.55) * min(w, h)), rng), 3), 0.6)
        page = np.zeros((h, w), np.float32)
        y0, x0 = (h - ink.shape[0]) // 2, (w - ink.shape[1]) // 2
        page[y0:y0 + ink.shape[0], x0:x0 + ink.shape[1]] = ink
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((x / w - 0.5) ** 2 + (y / h - 0.5) ** 2) / 0.5  # 1 at the corners
        v = rng.uniform(0.8, 0.95) * (1 - 0.8 * page)
        noise = rng.normal(0, 0.01, v.shape)
        for kind, light in (("flat", 1), ("vignette", 1 - rng.uniform(0.65, 0.75) * r2)):
            Image.fromarray(np.round(np.clip(v * light + noise, 0, 1) * 255).astype(np.uint8), "L").save(
                os.path.join(out[kind], f"{i:02d}.png"))
    flat, differ = read_twins(model, out)
    return len(flat) == 20 and -1 not in flat.values(), differ


def read_marked(tmp, model, near=False, first=100, rings=False):
    """Of 30 digits (MNIST's test digits `first` on) on paper, each once as written and once
    underlined or ringed by its writer (make_photo_set.py's marked kind, or near: the line close
    under the digit or short and thick, the ring touching it; the same page less the mark), those
    that predict reads otherwise with the mark (each file named for its mark: NN-line.png, NN-ring.png);
    and how many of the 30 had a line, a ring. rings: the first 30 whose mark is a ring, the others
    passed over."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import numpy as np
    from PIL import Image
    from make_photo_set import data_dir, frame_with_ink, mark, read_idx
    digits = read_idx(data_dir(None), "t10k-images-idx3-ubyte")[first:first + (200 if rings else 30)]
    rng = np.random.RandomState(11)
    kind = ("near" if near else "marked") + ("-rings" if rings else "")
    out = {"plain": os.path.join(tmp, kind + "-plain"), "marked": os.path.join(tmp, kind)}
    for d in out.values():
        os.makedirs(d)
    lines = made = 0
    for i, digit in enumerate(digits):
        ink, line = mark(frame_with_ink(digit, rng, 400), rng, near)
        # a line is far wider than tall (its rows against its columns: against the frame's height, a small
        # ring in a large frame passed for a line, and 3 of the near kind's 'lines' below were rings)
        is_line = line.max(1).astype(bool).sum() < line.max(0).astype(bool).sum() / 2
        if rings and is_line:
            continue
        lines += is_line
        paper, noise = rng.uniform(0.75, 0.95), rng.normal(0, 0.01, ink.shape)
        for kind, v in (("plain", ink), ("marked", np.maximum(ink, line))):
            Image.fromarray(np.round(np.clip(paper * (1 - 0.8 * v) + noise, 0, 1) * 255).astype(np.uint8), "L").save(
                os.path.join(out[kind], f"{i:02d}-{'line' if is_line else 'ring'}.png"))
        made += 1
        if made == 30:
            break
    plain, differ = read_twins(model, out)
    return len(plain) == 30 and -1 not in plain.values(), differ, lines


def read_slashed(tmp, model):
    """Of 30 zeros (MNIST's test zeros from the 20th on) on paper, each with a slash through it that
    does not touch it (make_photo_set.py's slashed kind; those whose hole leaves no room for one are
    left out): how many there are, and what predict reads them as."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import numpy as np
    from PIL import Image
    from make_photo_set import data_dir, frame_with_ink, read_idx, slash
    folder = data_dir(None)
    zeros = np.nonzero(read_idx(folder, "t10k-labels-idx1-ubyte") == 0)[0][20:50]
    digits = read_idx(folder, "t10k-images-idx3-ubyte")[zeros]
    rng = np.random.RandomState(13)
    out = os.path.join(tmp, "slashed")
    os.makedirs(out)
    for i, digit in enumerate(digits):
        ink = frame_with_ink(digit, rng, 400)
        line = slash(ink, rng)
        paper, noise = rng.uniform(0.75, 0.95), rng.normal(0, 0.01, ink.shape)
        if line is not None:
            v = paper * (1 - 0.8 * np.maximum(ink, line)) + noise
            Image.fromarray(np.round(np.clip(v, 0, 1) * 255).astype(np.uint8), "L").save(os.path.join(out, f"{i:02d}.png"))
    files = sorted(glob.glob(os.path.join(out, "*")))
    return len(files), collections.Counter(predict_digits(model, files).values())


def read_zeros_slashed_across(tmp, model):
    """What predict reads in 5 zeros drawn as ellipses with a slash from side to side through them (touching
    them), 20 to 40 degrees from upright, one pen for both."""
    import math
    from PIL import Image, ImageDraw
    out = os.path.join(tmp, "slashed-across")
    os.makedirs(out)
    for turn in (20, 25, 30, 35, 40):
        im = Image.new("L", (200, 200), 255)
        d = ImageDraw.Draw(im)
        d.ellipse([60, 30, 140, 170], outline=0, width=6)
        dx, dy = 70 * math.sin(math.radians(turn)), 70 * math.cos(math.radians(turn))
        d.line([(100 - dx, 100 + dy), (100 + dx, 100 - dy)], fill=0, width=6)
        im.save(os.path.join(out, f"{turn}.png"))
    return predict_digits(model, sorted(glob.glob(os.path.join(out, "*"))))


def read_kind(tmp, model, kind, side):
    """40 photos of make_photo_set.py's kind (seed 7, frames up to side pixels): how many were made,
    and how many predict reads right."""
    out = os.path.join(tmp, kind)
    p = subprocess.run([PYTHON, os.path.join(ROOT, "scripts", "make_photo_set.py"), out, "--count", "40",
                        "--max-side", str(side), "--seed", "7", "--kinds", kind], capture_output=True, text=True)
    check(p.returncode == 0, f"scripts/make_photo_set.py makes 40 photos of its {kind} kind" +
          ("" if p.returncode == 0 else ": " + p.stderr))
    files = sorted(glob.glob(os.path.join(out, kind, "*")))
    read = predict_digits(model, files)
    return len(files), sum(d == int(re.search(r"-(\d)\.", n).group(1)) for n, d in read.items())


def read_twos_apart(tmp, model):
    """What predict reads in 9 drawings of a 2 (an arc, a diagonal, 400x400, pens 4, 8 and 14 pixels)
    whose foot is drawn apart from the diagonal, 8, 16 and 25 pixels below its end."""
    from PIL import Image, ImageDraw
    out = os.path.join(tmp, "twos")
    os.makedirs(out)
    for gap in (8, 16, 25):
        for pen in (4, 8, 14):
            im = Image.new("L", (400, 400), 235)
            d = ImageDraw.Draw(im)
            d.arc([120, 80, 280, 220], 200, 390, fill=25, width=pen)
            d.line([(272, 180), (130, 300)], fill=25, width=pen)
            d.line([(125, 300 + gap), (285, 300 + gap)], fill=25, width=pen)
            im.save(os.path.join(out, f"gap{gap}-pen{pen}.png"))
    return predict_digits(model, sorted(glob.glob(os.path.join(out, "*"))))


def read_shadowed_pages(tmp, model):
    """12 blank pages and a 7 (MNIST's first test digit) on a page, 300 to 600 pixels a side, each
    under a phone's or a hand's shadow: a hard straight edge across the frame, 20 to 70 degrees off
    its sides, the page past it 20% to 50% darker, the edge 0 to 3 pixels soft. The blank pages that
    predict reads as a digit, and what it reads the 7 as."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import numpy as np
    from PIL import Image
    from make_photo_set import blur, data_dir, read_idx, strokes
    digit = read_idx(data_dir(None), "t10k-images-idx3-ubyte")[0]
    rng = np.random.RandomState(2)
    out = os.path.join(tmp, "shadowed")
    os.makedirs(out)
    for i in range(13):
        w, h = rng.randint(300, 601), rng.randint(300, 601)
        blotches = rng.normal(0, 0.006, (h // 16 + 2, w // 16 + 2)).astype(np.float32)
        v = (rng.uniform(0.78, 0.93) + np.asarray(Image.fromarray(blotches).resize((w, h), Image.BILINEAR)) +
             rng.normal(0, rng.uniform(0.004, 0.012), (h, w)))
        if i == 12:  # the 7, left of the middle
            ink = blur(np.pad(strokes(digit, int(0.45 * min(w, h)), rng), 3), 0.6)
            y0, x0 = (h - ink.shape[0]) // 2, (w - ink.shape[1]) // 4
            v[y0:y0 + ink.shape[0], x0:x0 + ink.shape[1]] *= 1 - 0.85 * ink
        turn = np.radians(rng.uniform(20, 70) + 90 * rng.randint(4))
        y, x = np.mgrid[0:h, 0:w]
        d = (x - w * rng.uniform(0.35, 0.65)) * np.cos(turn) + (y - h * rng.uniform(0.35, 0.65)) * np.sin(turn)
        soft = rng.choice([0, 0.5, 1, 2, 3])
        edge = 1 / (1 + np.exp(-np.clip(d / soft, -50, 50))) if soft else (d > 0).astype(float)
        v *= 1 - rng.uniform(0.2, 0.5) * edge
        Image.fromarray(np.round(np.clip(v, 0, 1) * 255).astype(np.uint8), "L").save(
            os.path.join(out, "digit-7.png" if i == 12 else f"blank{i:02d}.png"))
    read = predict_digits(model, sorted(glob.glob(os.path.join(out, "*"))))
    return [f"{n}: {d}" for n, d in sorted(read.items()) if n.startswith("blank") and d != -1], read.get("digit-7.png")


def main():
    tmp = temp_dir("mnist-test-photos-")
    model = os.path.join(tmp, "model.safetensors")
    p = subprocess.run([MNIST, "train", "--layers", "784,256,10", "--optimizer", "adam", "--lr", "0.001", "--epochs",
                        "2", "--no-train-eval", "--json", "--save", model], capture_output=True, text=True)
    check(p.returncode == 0, "a 784-256-10 model trains on MNIST" + ("" if p.returncode == 0 else ": " + p.stderr))
    if p.returncode:
        return 1
    acc = json.loads(p.stdout.strip().splitlines()[-1])["test_accuracy"]

    photos = os.path.join(tmp, "photos")
    p = subprocess.run([PYTHON, os.path.join(ROOT, "scripts", "make_photo_set.py"), photos, "--count", "80",
                        "--max-side", "480", "--seed", "7", "--kinds", "gray,colour,rgba,jpeg,board,notebook,desk,tight,raw"], capture_output=True, text=True)
    check(p.returncode == 0, "scripts/make_photo_set.py makes 720 photos" + ("" if p.returncode == 0 else ": " + p.stderr))
    if p.returncode:
        return 1
    rows = [line.split("\t") for line in open(os.path.join(photos, "index.tsv")).read().splitlines()[1:]]
    files = [os.path.join(photos, r[1]) for r in rows]
    def predict(cores):
        """predict of all the photos on cores (None: all this process may use), and its CPU seconds"""
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        q = subprocess.run([MNIST, "predict", "--model", model, "--json", *files], capture_output=True, text=True,
                           preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        return q, now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime

    p, cpu = predict(None)
    # predict prepares the images on a thread a core, and that is all the CPU it takes: OpenBLAS's threads, woken
    # by each photo's 6 x 6 solve of its light, spun on the other cores (on 2 cores, 1.9 s of CPU a second; and
    # serve's 2 threads answered a sixth as many drawings), so against one core's run of the same photos
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        one, cpu_one = predict({cores[0]})
        check(one.stdout == p.stdout and cpu <= 1.25 * cpu_one + 0.1,
              f"predict on {len(cores)} cores takes the CPU of one core's run: {cpu:.2f} s against {cpu_one:.2f} s, "
              f"the same lines: {one.stdout == p.stdout}")
    else:  # OpenBLAS makes no other thread, nor predict: the check could not fail
        print(f"SKIP predict takes one core's CPU: one core here ({cpu:.2f} s of CPU)")
    got = {}
    for line in p.stdout.splitlines():
        r = json.loads(line)
        got[r["file"]] = r.get("digit", -1)
    right, total = collections.Counter(), collections.Counter()
    for (kind, _, digit, _), f in zip(rows, files):
        total[kind] += 1
        right[kind] += got.get(f) == int(digit)
    # a sheet on a desk is held to less: a shadow across the sheet, or a part of its edge, can stay
    # as ink (README, predict: "a page on a desk"); before the desk was looked for, 9% were read;
    # and so is a photo cropped tight (above)
    hard = {"desk": 0.94, "tight": 0.90}
    held = [k for k in total if k not in hard]
    n_held = sum(total[k] for k in held)
    overall = sum(right[k] for k in held) / n_held
    per_kind = ", ".join(f"{k} {right[k] / total[k]:.3f}" for k in sorted(total))
    print(f"model's MNIST test accuracy {acc:.4f}; on the photos {overall:.4f} ({per_kind}); "
          f"{len(files) - len(got)} unanswered, {sum(1 for v in got.values() if v < 0)} refused")
    check(overall >= 0.97 * acc,
          f"on {n_held} photos predict gets {overall:.4f}, {overall / acc:.1%} of the model's test accuracy (at least 97%)")
    worst = min(held, key=lambda k: right[k] / total[k])
    check(right[worst] / total[worst] >= 0.93 * acc,
          f"every kind at least 93% of it: the weakest, {worst}, {right[worst] / total[worst]:.3f}")
    # MNIST's own digits (light on dark) are never refused: where the reading chosen first holds no
    # digit once its steps are dropped (read dark on light, the background is one step around the
    # digit), the other reading is taken (photo.c, find_ink); without that, 1 of these 80 was
    raw_refused = [f for (kind, _, _, _), f in zip(rows, files) if kind == "raw" and got.get(f, -1) < 0]
    check(not raw_refused, f"none of the {total['raw']} 28x28 MNIST digits is refused" +
          (": " + ", ".join(os.path.basename(f) for f in raw_refused) if raw_refused else ""))
    for k, share in hard.items():
        check(right[k] / total[k] >= share * acc,
              f"{k}: at least {share:.0%} of it: {right[k] / total[k]:.3f}, {right[k] / total[k] / acc:.1%}")

    # The tight crops the other way round, light digits on dark paper cropped tight (chalk, or a
    # digit drawn white on black as MNIST's are): read dark, the paper between the strokes was taken
    # for ink, as the frame's edges said it was not, and only light ink read so was read again with
    # paper around it. Of these 80, 7 read wrong that their upright crops read right, now 3; on 300
    # (make_photo_set.py seed 2, the lab's model) 38, now 8.
    from PIL import Image, ImageOps
    light = os.path.join(tmp, "tight-light")
    os.makedirs(light)
    upright = [(f, int(digit)) for (kind, _, digit, _), f in zip(rows, files) if kind == "tight"]
    for f, _ in upright:
        ImageOps.invert(Image.open(f).convert("RGB")).save(os.path.join(light, os.path.basename(f)))
    p = subprocess.run([MNIST, "predict", "--model", model, "--json",
                        *(os.path.join(light, os.path.basename(f)) for f, _ in upright)], capture_output=True, text=True)
    inverted = {os.path.basename(r["file"]): r.get("digit", -1) for r in map(json.loads, p.stdout.splitlines())}
    lost = [os.path.basename(f) for f, digit in upright if got.get(f) == digit and
            inverted.get(os.path.basename(f)) != digit]
    check(len(lost) <= 5, f"the {len(upright)} tight crops light on dark: {len(lost)} of those read right upright "
          f"read wrong (at most 5): {lost}")

    samples = sorted(glob.glob(os.path.join(ROOT, "samples", "*")))
    p = subprocess.run([MNIST, "predict", "--model", model, "--json", *samples], capture_output=True, text=True)
    answers = {os.path.basename(r["file"]): r.get("digit") for r in map(json.loads, p.stdout.splitlines())}
    wrong = [f"{n} read as {d}" for n, d in sorted(answers.items()) if d != int(re.match(r"(\d)", n).group(1))]
    check(len(samples) >= 10 and len(answers) == len(samples) and not wrong,
          f"the {len(samples)} samples in samples/ are read right" + (": " + ", ".join(wrong) if wrong else ""))

    # A frame cropped tight under light that falls across it (the photo set's seed 1, tight crops 46
    # and 69, both 8s): the paper carried out from its edges, closed, was lifted at an edge's dark
    # end to the level half the frame in, the corner there read as ink and the digit ran into the
    # added paper, so the frame was read without paper around it: the first read as 2, the second
    # refused ("no clear ink"). Found again less the light's trend along the edges, both are 8s.
    ok, answers = read_photos(tmp, model, 1, "tight", ["00046-8.png", "00069-8.png"])
    check(ok, f"two 8s cropped tight under a lighting gradient are read as 8s: {answers}")
    # A long sheet across a wide frame on a desk (seed 2, desk 202, a 0; 842x229): a 25th of the
    # frame's longer side, from the dark in, left under a quarter of the sheet's light, so the desk
    # was not found and the sheet read as light ink on the dark desk, a 4. A 25th of the shorter
    # side leaves most of it.
    ok, answers = read_photos(tmp, model, 2, "desk", ["00202-0.jpg"])
    check(ok, f"a long sheet on a desk across a wide frame is read as a 0: {answers}")
    # A notebook's margin through a small 2 at the foot of a tall page (seed 3, notebook 73) with a
    # dark band of shade down the frame's left side: at the frame's own turn, that shade gathered
    # more of the pixels with ink than the margin at its turn (3.6 degrees), so the lines down the
    # page were looked for at the frame's turn, the margin stayed, and the 2 read as a 1. The turn
    # is looked for again without the shade along the frame's side.
    ok, answers = read_photos(tmp, model, 3, "notebook", ["00073-2.png"])
    check(ok, f"a 2 crossed by a notebook's margin, in shade along the frame's side, is read as a 2: {answers}")
    # A notebook's margin beside a digit, the lines down the page looked for at the turn where other
    # ink gathered most (seed 2, notebook 29, a small 2 beside a margin on a tall ruled page, shade
    # down the frame's side; seed 0, notebook 114, a 0 at the frame's top beside a double margin on
    # squared paper): the margin was missed and a piece of it stayed beside the digit, read as a 6 and
    # a 1. The lines down are looked for again at the turn square to the lines across.
    ok2, answers2 = read_photos(tmp, model, 2, "notebook", ["00029-2.jpg"])
    ok0, answers0 = read_photos(tmp, model, 0, "notebook", ["00114-0.png"])
    check(ok2 and ok0, f"digits beside a notebook's margin, at a turn the digit's pixels did not choose, are read: "
          f"{answers2} {answers0}")
    # A small 1 on dense squared paper (seed 2, notebook 66; 201x738, the 1 25 pixels tall, the grid
    # half the frame): the grid spread the ink as noise would (0.12 of the paper's light), no 20
    # pixels passed 4 times that, and the page was refused ("the image looks blank"). The grid's
    # lines are taken away and the noise measured again.
    ok, answers = read_photos(tmp, model, 2, "notebook", ["00066-1.png"])
    check(ok, f"a small 1 on dense squared paper is read as a 1: {answers}")
    # A sheet on a desk under light that falls across the frame (seed 2, desk 89, a 3, under a
    # shadow's edge down the sheet; seed 3, desk 23, a 7, the desk above the sheet lit as light as
    # the sheet's shaded foot): no one cut of the light split desk from page, so the desk was not
    # found, read dark it spread the frame's light as noise would, and the sheet read as light ink
    # on the dark desk won (a 6, a 4). The desk is found again as what the page's steps enclose.
    ok, answers = read_photos(tmp, model, 2, "desk", ["00089-3.jpg"])
    ok3, answers3 = read_photos(tmp, model, 3, "desk", ["00023-7.jpg"])
    check(ok and ok3, f"sheets on a desk under a shadow's edge, and under light across the frame, are read: "
          f"{answers} {answers3}")
    # A small 7 in the corner of a tall page of squared paper (seed 3, notebook 291; 170x828, the 7
    # 15 pixels tall), looked at closer in a region of 37x43 pixels, half of it the grid's lines:
    # their spread (0.18 of the paper's light) set the threshold at 90% of the strokes' strength,
    # the 7's thinner bar went and it read as a 1. The threshold is at most 70% of that strength.
    ok, answers = read_photos(tmp, model, 3, "notebook", ["00291-7.png"])
    check(ok, f"a small 7 in the corner of a page of squared paper is read as a 7: {answers}")
    # A sheet on a desk, a soft shadow's edge down its middle (the shade 0.45 deep, over 4 pixels'
    # logistic width), a 7 whose bar is lit and whose downstroke is in the shade: Otsu's cut put the
    # shaded half of the sheet with the desk, its slope into the lit half was a short part of where
    # desk met page (the sheet's three other sides made the half that had to be sharp), so the shade
    # was desk, made paper with the 7's downstroke in it, and the bar read as a 4. What of the desk the
    # page reaches without crossing a step, walled in, is page.
    ok, answer = read_shaded_sheet(tmp, model)
    check(ok, f"a 7 on a sheet on a desk, its downstroke under a soft shadow's edge, is read as a 7: {answer}")
    # Dark digits on light pages under a flash's vignette: the frame's edges are dark, as a light
    # digit's paper is where it is cropped tight (above), but the page's light outside the digit is
    # smooth. Read again with paper around the frame, the page's bright middle was a light digit
    # meeting all 4 sides, and was taken: of these 20, 9 read otherwise than lit evenly, none now (of
    # 150 more, the lab's model: 130 read right, 86 with that, 130 now that a page's light outside
    # the dark ink smooth as a vignette's, light_rough, keeps it from being read so).
    ok, differ = read_vignettes(tmp, model)
    check(ok and len(differ) <= 2, f"20 dark digits, all read lit evenly, read the same under a flash's vignette "
          f"but 2 at most: {len(differ)} differ: {differ}")
    # A sticky note or a card on a desk (make_photo_set.py's note kind): a page under a fifth of the
    # frame was no page, the note read as light ink on the dark desk, a blob read as a 0, 6 or 8. A
    # page down to a twentieth of the frame is taken where it is a rectangle's shape (photo.c's
    # page.c, page_is_card; a thick chalk 0 on a board is as compact but rounder): of these 40, 9
    # read right before, 32 then, 35 now that a page down to an 80th of the frame is taken (below;
    # the lab's model, 400 notes of seeds 0 and 1: 92 before, 322 then, 336 now).
    made, right = read_kind(tmp, model, "note", 480)
    check(made == 40 and right >= 0.7 * acc * made,
          f"40 notes on a desk: {right} read right, at least 70% of the model's accuracy ({0.7 * acc * 40:.1f})")
    # A note under a twentieth of the frame (make_photo_set.py's smallnote kind: an 80th to a 20th,
    # the digit 40 pixels tall at least, so frames up to 900 pixels here) was no page: read as light
    # ink on the dark desk, a blob read as a 0. A page down to an 80th of the frame is taken where it
    # is a note's shape (page.c, DESK_SMALL), the desk around it measured by its own side: of these
    # 40, 30 read right before, 38 now (the lab's model, 400 small notes of seeds 0 and 1: 256
    # before, 341 now; seed 2: 122, 156; none of them the photos the change was tuned on).
    made, right = read_kind(tmp, model, "smallnote", 900)
    check(made == 40 and right >= 0.85 * acc * made,
          f"40 small notes on a desk: {right} read right, at least 85% of the model's accuracy ({0.85 * acc * 40:.1f})")
    # A pen lying on the page wholly inside the frame beside the digit (make_photo_set.py's pen kind): a
    # straight bar was taken for a pen only where it ran out of the photo, else it was the digit, a 1,
    # or both were. A bar inside the frame whose box's diagonal is twice the side of another part's box
    # apart from it, and as wide as that part's runs are long, is a pen too, and how far apart is
    # measured from the bar's axis, not its box (a pen lying across the frame's diagonal has the digit
    # inside its box): of these 40, 12 read right before, 27 now (the lab's model, seeds 0 and 1, 200
    # each: 68 and 54 before, 126 and 110 now).
    made, right = read_kind(tmp, model, "pen", 900)
    check(made == 40 and right >= 0.5 * acc * made,
          f"40 digits with a pen lying beside them: {right} read right, at least half the model's accuracy "
          f"({0.5 * acc * 40:.1f})")
    # A digit its writer underlined or ringed: the line or the ring, a part of its own, was kept with
    # the digit (within 60% of its size), the digit read small and off centre, and a ring read as a
    # 0 or an 8. Such a part is held aside now (photo.c, writers_mark): of these 30, 24 read
    # otherwise than without the mark, 1 now (of 400 photos of the marked kind, seeds 0 and 1,
    # the lab's model: 91 read right, 310 now, 358 without their marks).
    ok, differ, lines = read_marked(tmp, model)
    check(ok and len(differ) <= 2 and 5 <= lines <= 25,
          f"30 digits, all read without a mark, underlined ({lines}) or ringed read as they do without it, but 2 "
          f"at most: {len(differ)} differ: {differ}")
    # A line drawn close under the digit (under 0.15 of its height below it) or short and thick (under
    # 6 times as long as wide) was kept with the digit. Such a line, level, wholly below the digit, 2
    # pixels thick to a quarter of the digit's height, under half its weight, with the digit's
    # lowest ink not over its left fifth (where a 2's foot drawn apart starts) is held aside now: of
    # these 30 (make_photo_set.py's near kind), the lines' pages that read otherwise than without
    # them were 15 before, 8 now (15, 15, 15 before and 10, 8, 7 now for MNIST's test digits 200,
    # 300 and 400 on; the lab's model, near kind, seeds 0 and 1: close lines 50/133 read right
    # before, 106 now, short thick ones 35/124, 81; held-out seed 2: 30/70, 57; 26/70, 45). Those
    # counts held a few small rings taken for lines; told apart by the mark's own shape, 20 of these
    # 30 are lines, and 5 of them read otherwise (2026-11-30). A short thick line as far below as a
    # long one (0.15 of the digit's height) needs no test of the digit's lowest ink now, which a 7's,
    # a 9's or a 5's failed: 0 read otherwise (8, 5 and 4 before, 5, 0 and 1 now for the digits 200,
    # 300 and 400 on; the lab's model, near kind, seeds 0 and 1: short thick lines 81/124 read right
    # before, 101 now; held-out seed 2: 45/70, 61).
    ok, differ, lines = read_marked(tmp, model, near=True)
    differ = [d for d in differ if "-line" in d]
    check(ok and len(differ) <= 3 and lines >= 15, f"{lines} of 30 digits with a line close under them or short "
          f"and thick read as they do without it, but 3 at most: {len(differ)} differ: {differ}")
    # A ring drawn tight around the digit, touching it or running through its strokes, is one part
    # with it, and the digit was read with its ring (a 4 as a 0 or an 8). Where the part's outer
    # edge lies on an ellipse, as a pen's band with paper inside it, and a digit's weight lies well
    # inside, the band is held aside (photo.c, ring_around): of these 30 (make_photo_set.py's near
    # kind, its first 30 rings), 18 read otherwise than without the ring before, 10 now (the lab's model, near
    # kind, seeds 0 and 1: 54 of 143 rings read right before, 105 now; held-out seed 2: 23 of 60, 38).
    ok, differ, _ = read_marked(tmp, model, near=True, rings=True)
    check(ok and len(differ) <= 13, f"30 digits with a ring drawn tight around them read as they do without it, "
          f"but 13 at most: {len(differ)} differ: {differ}")
    # but a 0 with a slash from side to side is no ring around a 1: such a slash weighs 0.3 to 0.35 of its 0,
    # and while a slash had to weigh under a quarter of the ring (as one apart from it must), these 5 read as 1s
    slashed = read_zeros_slashed_across(tmp, model)
    check(len(slashed) == 5 and not {1, -1} & set(slashed.values()),
          f"5 zeros with a slash from side to side (20 to 40 degrees) are read, and not as a ringed 1: {slashed}")
    # A 0 with a slash through it that does not touch it: the 0 went around the slash, was taken for
    # a ring drawn around it and held aside, and the slash read as a 1. A ring around one straight
    # part under a quarter of its weight, leaning 15 degrees or more, is a 0 and its slash, and the
    # slash is held aside: of these 26, 9 read as 0 before (15 as 1), 26 now (the lab's model: 7, 22;
    # of 600 photos of make_photo_set.py's slashed kind, seeds 0 to 2, 420 with a slash: 237, 387).
    slashed, read = read_slashed(tmp, model)
    check(slashed >= 15 and read[0] >= 0.8 * slashed, f"{slashed} zeros with a slash apart from them are read as 0, "
          f"80% at least: {dict(read)}")
    # A 2 drawn with its foot apart from its diagonal: the foot was taken for a line under the digit
    # and held aside, and the 2 read as a 7 (8 of these 9, with this model and the lab's); a line under a digit
    # lies below it by 0.15 of its height at least.
    twos = read_twos_apart(tmp, model)
    check(len(twos) == 9 and 7 not in twos.values() and list(twos.values()).count(2) >= 7,
          f"a 2 with its foot drawn apart is read as a 2 (7 of 9 at least), never as a 7: {twos}")
    # Blank pages under a shadow's hard straight edge: the paper's model, made of blocks, bent to the
    # step and left pieces of it as ink, read as a digit (7 of these 12; 41 of 120 such pages, the
    # lab's model). The step is looked for along the whole frame, divided out, and where the page then
    # holds no ink it is refused; a digit under such a shadow reads as before.
    blanks, seven = read_shadowed_pages(tmp, model)
    check(len(blanks) <= 2 and seven == 7, f"12 blank pages under a shadow's hard edge are refused but 2 at most: "
          f"{len(blanks)} read as digits {blanks}; a 7 under one is read as a 7: {seven}")
    return status()


if __name__ == "__main__":
    sys.exit(main())
