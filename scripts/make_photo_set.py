#!/usr/bin/env python3
"""make_photo_set.py: photos of digits as people make them, built from MNIST test digits.

    scripts/make_photo_set.py OUT [--count N] [--seed S] [--kinds gray,colour,...] [--max-side P]
                              [--data DIR]

Writes OUT/KIND/NNNNN-D.EXT (D: the true digit) for N test digits (drawn with RandomState(S)) and
each kind, and OUT/index.tsv (kind, file, digit, MNIST test index). Each digit is taken from MNIST's
test set and made into pen strokes at a random size (20% to 85% of the frame's short side, or 12%
to 30% for a quarter of them), anywhere in a frame of 160 to P pixels a side (default 900),
slanted (shear up to 0.15) and turned (up to 6 degrees) a little, blurred a little, on paper lit
unevenly (a gradient, a vignette, sometimes a soft shadow), with camera noise. The kinds:

    gray     dark ink on light paper, grayscale PNG
    colour   blue, black or red pen on tinted paper, colour PNG with colour noise
    rgba     a drawing app's export: transparent background, the ink in the alpha channel (some
             with white ink, as a dark-themed app draws), no noise or lighting
    jpeg     a camera photo: colour, noisier, saved as JPEG at quality 55..90
    board    light chalk on a dark board, grayscale PNG
    desk     a sheet of paper on a darker desk (wood, grey or dark), the sheet 50% to 90% of the
             frame each way and turned up to 15 degrees, the digit on it; colour JPEG
    notebook a pen on ruled or squared paper (light blue or grey lines 1-3 pixels thick, the page
             turned up to 4 degrees, the digit one to two and a half lines tall and across them; on
             40% of pages a red or pink margin line down the page, 1-3 pixels thick at 600 pixels,
             sometimes double, often close to the digit or touching it), colour, as PNG or JPEG
    tight    a photo cropped right around the digit, as a person crops one: gray or colour as
             above, the frame the ink's box and 0 to 3 pixels of paper on each side, so that
             strokes run along its edges and a 1 fills its width
    note     (only when asked for) a sticky note or a card on a desk, as desk but smaller: its
             short side 25% to 50% of the frame's, up to 1.75 times as long, turned up to 20
             degrees, yellow, pink, blue or white, the digit 40% to 70% of its short side
    smallnote (only when asked for) a note as above but from an 80th to a 20th of the frame (evenly
             on a log scale), the digit on it 40 pixels tall at least: a frame too small for that
             is drawn again, so these frames are the larger ones up to --max-side
    marked   (only when asked for) a digit underlined or ringed by its writer: gray or colour as
             above, a line under the digit (0.8 to 1.4 times as wide, a little apart from it and a
             little tilted) or a ring drawn around it (as a hand draws one, not quite closed or
             running on past its start), with the digit's pen, apart from the digit
    near     (only when asked for) as marked, but the mark nearer: a third each a line close under
             the digit (0.02 to 0.15 of its height below it, 2 pixels at least; tilted up to 5
             degrees, its ends may touch it), a short thick line under it (0.6 to 1 times as wide,
             a pen of 0.12 to 0.2 of its height), a ring tight enough to touch it or run through
             its strokes
    slashed  (only when asked for) a 0 with a slash through it that does not touch it, gray or
             colour as marked: the set's digits are MNIST's test zeros (their own draw, --count of
             them), each with a slash "/" 20 to 50 degrees from upright inside it (slash)
    pen      (only when asked for) a pen lying on the page wholly inside the frame, apart from the
             digit, gray or colour as marked: a bar 2.5 to 4.5 times the digit's height long (at
             most 0.9 of the frame's diagonal), 9 to 14 times as long as wide, turned any way, a
             third of the digit's height or more from its ink, as dark as the ink or 30% lighter;
             the digit 12% to 30% of the frame's short side (a page with no room for it has none)
    raw      (only when asked for) the MNIST digit itself, its 28x28 bytes as a grayscale PNG: with
             `predict --preprocess lab` that is exactly the MNIST input

Needs numpy and Pillow (Debian: python3-numpy, python3-pil). MNIST is read from --data, else
$MNIST_DATA, else ~/.cache/mnist (raw or .gz IDX files, as `make data` leaves them).
"""
import argparse
import gzip
import math
import os
import struct
import sys

import numpy as np
from PIL import Image, ImageDraw

from digit_png import data_dir  # the data folder as the program finds it (scripts/ is on sys.path)

KINDS = ("gray", "colour", "rgba", "jpeg", "board", "notebook", "desk", "raw", "tight", "marked", "note", "near",
         "slashed", "smallnote", "pen")  # new ones last: a
DEFAULT_KINDS = KINDS[:7] + ("tight",)  # kind's images come from its place here, they stay the same
# Slight slant and turn, at most, each way: a shear of 0.25 with 10 degrees costs a model trained
# on MNIST 3 points of accuracy even when the digit is then cropped and centred perfectly.
SLANT = 0.15
TURN = 6  # degrees


def read_idx(folder, name):
    for path, opener in ((os.path.join(folder, name), open), (os.path.join(folder, name + ".gz"), gzip.open)):
        if os.path.exists(path):
            with opener(path, "rb") as f:
                raw = f.read()
            magic, n = struct.unpack(">II", raw[:8])
            if magic == 2051:
                rows, cols = struct.unpack(">II", raw[8:16])
                return np.frombuffer(raw, np.uint8, n * rows * cols, 16).reshape(n, rows, cols)
            return np.frombuffer(raw, np.uint8, n, 8)
    sys.exit(f"make_photo_set: {name} not found in {folder} (run 'make data', or pass --data DIR)")


def strokes(digit, height, rng):
    """The MNIST digit as pen strokes `height` pixels tall, slanted and turned: ink in [0, 1]."""
    ys, xs = np.nonzero(digit)
    d = digit[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255
    s = height / d.shape[0]
    shear, turn = rng.uniform(-SLANT, SLANT), math.radians(rng.uniform(-TURN, TURN))
    # output -> input affine map: scale by 1/s, undo the turn and the shear, about the centre
    c, si = math.cos(turn), math.sin(turn)
    a = np.array([[c, si], [-si, c]]) @ np.array([[1, -shear], [0, 1]]) / s
    size = int(math.ceil(max(d.shape) * s * 1.6)) + 4
    centre_in = np.array([d.shape[1] / 2, d.shape[0] / 2])
    off = centre_in - a @ np.array([size / 2, size / 2])
    img = Image.fromarray(d, "F").transform((size, size), Image.Transform.AFFINE,
                                            (a[0, 0], a[0, 1], off[0], a[1, 0], a[1, 1], off[1]),
                                            Image.Resampling.BICUBIC)
    ink = np.asarray(img)
    # MNIST's soft grays become a pen's edge: no ink below lo (0.25 to 0.4), full ink from lo + 0.3
    lo = rng.uniform(0.25, 0.4)
    ink = np.clip((ink - lo) / 0.3, 0, 1)
    ys, xs = np.nonzero(ink > 0)
    return ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def blur(a, sigma):
    if sigma < 0.3:
        return a
    r = int(math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    p = np.pad(a, ((r, r), (r, r)), mode="edge")
    p = sum(k[i] * p[:, i:i + a.shape[1]] for i in range(2 * r + 1))
    return sum(k[i] * p[i:i + a.shape[0], :] for i in range(2 * r + 1))


def frame_with_ink(digit, rng, side, small=False):
    """A frame (h, w) of up to side x side with the digit's ink (0..1) placed anywhere in it."""
    w, h = int(rng.uniform(160, side)), int(rng.uniform(160, side))
    frac = rng.uniform(0.12, 0.3) if small else rng.uniform(0.2, 0.85)
    ink = strokes(digit, max(12, int(frac * min(w, h))), rng)
    sigma = rng.uniform(0.0, 1.2) * max(1.0, ink.shape[0] / 150)
    r = int(math.ceil(3 * sigma)) + 1
    ink = blur(np.pad(ink, r), sigma)
    ih, iw = ink.shape
    w, h = max(w, iw), max(h, ih)
    x0, y0 = rng.randint(0, w - iw + 1), rng.randint(0, h - ih + 1)
    canvas = np.zeros((h, w), np.float32)
    canvas[y0:y0 + ih, x0:x0 + iw] = ink
    return canvas


def mark(ink, rng, near=False):
    """A line under the digit in ink or a ring around it, by the same pen, apart from it: (ink, the
    line), both in the frame grown where the mark needs room. Near (the near kind): the line nearer
    the digit (0.02 to 0.15 of its height below it) or short and thick (0.6 to 1 times as wide as
    the digit, a pen of 0.12 to 0.2 of its height), or the ring tight enough to touch it."""
    rows, cols = np.nonzero(ink.max(1) >= 0.5)[0], np.nonzero(ink.max(0) >= 0.5)[0]
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    dh, dw = y1 - y0, x1 - x0
    pen = max(1.5, dh * rng.uniform(0.07, 0.12))
    s = 4  # drawn 4 times as large, then averaged down: a pen's soft edge
    which = rng.rand()
    if near and which < 1 / 3:  # a line close under it, its top 0.02 to 0.15 of the digit's height below
        span = dw * rng.uniform(0.8, 1.4)
        cx, cy = (x0 + x1) / 2 + dw * rng.uniform(-0.15, 0.15), y1 + pen / 2 + max(2, dh * rng.uniform(0.02, 0.15))
        which = 0
    elif near and which < 2 / 3:  # a short thick line under it
        pen = max(2.0, dh * rng.uniform(0.12, 0.2))
        span = max(dw * rng.uniform(0.6, 1.0), 2 * pen)
        cx, cy = (x0 + x1) / 2 + dw * rng.uniform(-0.1, 0.1), y1 + pen + dh * rng.uniform(0.08, 0.3)
        which = 0
    elif not near and which < 0.5:  # a line under it
        span = dw * rng.uniform(0.8, 1.4)
        cx, cy = (x0 + x1) / 2 + dw * rng.uniform(-0.15, 0.15), y1 + pen + dh * rng.uniform(0.08, 0.3)
    if which < 0.5:
        tilt = math.radians(rng.uniform(-5, 5))
        pts = [(cx - span / 2 * math.cos(tilt), cy - span / 2 * math.sin(tilt)),
               (cx + span / 2 * math.cos(tilt), cy + span / 2 * math.sin(tilt))]
    else:  # a ring around it, from a random start, 0.9 to 1.05 of a turn, its radius drifting
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        rx, ry = dw / 2 * rng.uniform(1.25, 1.6) + 2 * pen, dh / 2 * rng.uniform(1.15, 1.4) + 2 * pen
        if near:  # as tight as the digit's box, or a little inside it, off its centre: it meets the digit
            rx, ry = dw / 2 * rng.uniform(0.95, 1.15) + pen / 2, dh / 2 * rng.uniform(0.95, 1.1) + pen / 2
            cx, cy = cx + dw * rng.uniform(-0.08, 0.08), cy + dh * rng.uniform(-0.08, 0.08)
        a0, sweep, drift = rng.uniform(0, 2 * math.pi), 2 * math.pi * rng.uniform(0.9, 1.05), rng.uniform(-0.1, 0.1)
        pts = []
        for t in np.linspace(0, 1, 200):
            a, k = a0 + sweep * t, 1 + drift * t
            pts.append((cx + k * rx * math.cos(a), cy + k * ry * math.sin(a)))
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    m = int(math.ceil(pen)) + 2
    top, left = max(0, m - int(min(ys))), max(0, m - int(min(xs)))
    bottom, right = max(0, int(max(ys)) + m - ink.shape[0]), max(0, int(max(xs)) + m - ink.shape[1])
    ink = np.pad(ink, ((top, bottom), (left, right)))
    h, w = ink.shape
    big = Image.new("L", (w * s, h * s), 0)
    ImageDraw.Draw(big).line([((x + left) * s, (y + top) * s) for x, y in pts], fill=255, width=int(pen * s),
                             joint="curve")
    return ink, np.asarray(big, np.float32).reshape(h, s, w, s).mean(axis=(1, 3)) / 255


def slash(ink, rng):
    """A slash through a 0 (the ink), as some write a zero, that does not touch it: "/" turned 20 to
    50 degrees from upright, through the middle of the 0's box, half to 0.85 of its height long and
    shortened until half a pen's width of paper is left around it. Returns the slash, or None where the
    0's hole leaves no room for one a fifth of its height long."""
    rows, cols = np.nonzero(ink.max(1) >= 0.5)[0], np.nonzero(ink.max(0) >= 0.5)[0]
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    dh, dw = y1 - y0, x1 - x0
    pen = max(1.5, dh * rng.uniform(0.06, 0.1))
    turn = math.radians(rng.uniform(20, 50))
    cx, cy = (x0 + x1) / 2 + dw * rng.uniform(-0.05, 0.05), (y0 + y1) / 2 + dh * rng.uniform(-0.05, 0.05)
    s, h, w = 4, ink.shape[0], ink.shape[1]
    length = dh * rng.uniform(0.5, 0.85)
    while length >= 0.2 * dh:
        dx, dy = length / 2 * math.sin(turn), length / 2 * math.cos(turn)
        big = Image.new("L", (w * s, h * s), 0)
        ImageDraw.Draw(big).line([((cx - dx) * s, (cy + dy) * s), ((cx + dx) * s, (cy - dy) * s)], fill=255,
                                 width=int(pen * s))
        line = np.asarray(big, np.float32).reshape(h, s, w, s).mean(axis=(1, 3)) / 255
        wide = Image.new("L", (w * s, h * s), 0)  # the slash half a pen wider each side: paper there
        ImageDraw.Draw(wide).line([((cx - dx) * s, (cy + dy) * s), ((cx + dx) * s, (cy - dy) * s)], fill=255,
                                  width=int(2 * pen * s))
        if (ink[np.asarray(wide)[::s, ::s] > 0] < 0.1).all():
            return line
        length *= 0.9
    return None


def pen_on_page(ink, rng):
    """A pen lying on the page (pen kind) wholly inside the frame, a third of the digit's height or more
    from its ink: its layer (0..1), or None where 200 tries find no room."""
    h, w = ink.shape
    ys, xs = np.nonzero(ink > 0.5)
    dh = ys.max() - ys.min() + 1
    length = min(dh * rng.uniform(2.5, 4.5), 0.9 * math.hypot(w, h))
    width = length / rng.uniform(9, 14)
    m = int(dh / 3)
    y0, y1, x0, x1 = max(0, ys.min() - m), ys.max() + m + 1, max(0, xs.min() - m), xs.max() + m + 1
    s = 4  # drawn 4 times as large, then averaged down
    for _ in range(200):
        turn, cx, cy = rng.uniform(0, math.pi), rng.uniform(0, w), rng.uniform(0, h)
        dx, dy = math.cos(turn) * length / 2, math.sin(turn) * length / 2
        ends = [(cx - dx, cy - dy), (cx + dx, cy + dy)]
        if not all(width < x < w - width and width < y < h - width for x, y in ends):
            continue
        big = Image.new("L", (w * s, h * s), 0)
        ImageDraw.Draw(big).line([(x * s, y * s) for x, y in ends], fill=255, width=int(width * s))
        pen = np.asarray(big, np.float32).reshape(h, s, w, s).mean(axis=(1, 3)) / 255
        if pen[y0:y1, x0:x1].max() == 0:
            return pen * rng.uniform(0.7, 1.0)
    return None


def crop_tight(ink, rng):
    """The frame cut to the ink's box (where it is at least half strength: what a person sees as the
    stroke's edge) and 0 to 3 pixels more on each side, as far as the frame goes."""
    rows, cols = np.nonzero(ink.max(1) >= 0.5)[0], np.nonzero(ink.max(0) >= 0.5)[0]
    m = rng.randint(0, 4, size=4)
    y0, y1 = max(0, rows[0] - m[0]), min(ink.shape[0], rows[-1] + 1 + m[1])
    x0, x1 = max(0, cols[0] - m[2]), min(ink.shape[1], cols[-1] + 1 + m[3])
    return ink[y0:y1, x0:x1]


def lighting(h, w, rng):
    """Uneven light over a (h, w) frame: about 1, a gradient, a vignette, maybe a soft shadow."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = x / w - 0.5, y / h - 0.5
    t = rng.uniform(0, 2 * math.pi)
    light = 1 + rng.uniform(-0.35, 0.35) * (x * math.cos(t) + y * math.sin(t)) * 2
    light -= rng.uniform(0, 0.35) * (x * x + y * y) * 2
    if rng.rand() < 0.3:
        edge = x * math.cos(t + 1) + y * math.sin(t + 1) - rng.uniform(-0.3, 0.3)
        light *= 1 - rng.uniform(0.15, 0.35) / (1 + np.exp(-edge / rng.uniform(0.03, 0.1)))
    return light


_field = {}


def noise(rng, shape, sd):
    """Gaussian camera noise of sd `sd` over shape (h, w) or (h, w, 3): a random window of one
    large field drawn once (drawing afresh for every image is most of the time it takes)."""
    if "f" not in _field:
        _field["f"] = np.random.RandomState(12345).standard_normal((1200, 1200, 3)).astype(np.float32)
    f = _field["f"]
    h, w = shape[:2]
    if h > f.shape[0] or w > f.shape[1]:
        return sd * rng.standard_normal(shape)
    y, x = rng.randint(0, f.shape[0] - h + 1), rng.randint(0, f.shape[1] - w + 1)
    n = f[y:y + h, x:x + w]
    return sd * (n if len(shape) == 3 else n[..., 0])


def notebook(ink, light, paper, rng):
    """The ink (h, w) written on ruled or squared paper: lines every `gap` pixels, the digit one to two
    and a half gaps tall, the page turned a little; on 40% of pages a margin line too (margin_line)."""
    h, w = ink.shape
    rows = np.nonzero(ink.max(1) > 0.5)[0]
    tall = rows[-1] - rows[0] + 1 if len(rows) else h / 3
    gap = max(8.0, tall / rng.uniform(1.0, 2.5))
    width = rng.uniform(1.0, 3.0) * max(1.0, max(h, w) / 600)
    turn = math.radians(rng.uniform(-4, 4))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    across = y * math.cos(turn) - x * math.sin(turn) + rng.uniform(0, gap)  # distance along the page's height
    lines = np.clip(width / 2 + 0.5 - np.abs((across + gap / 2) % gap - gap / 2), 0, 1)
    if rng.rand() < 0.5:  # squared
        down = x * math.cos(turn) + y * math.sin(turn) + rng.uniform(0, gap)
        lines = np.maximum(lines, np.clip(width / 2 + 0.5 - np.abs((down + gap / 2) % gap - gap / 2), 0, 1))
    tint = paper * np.array([1, rng.uniform(0.96, 1), rng.uniform(0.9, 1)])
    line = np.array([0.55, 0.7, 0.95]) if rng.rand() < 0.7 else np.array([0.6, 0.6, 0.6])
    line = 1 - (1 - line) * rng.uniform(0.5, 1.2)  # how strong the lines print
    pens = ([0.1, 0.1, 0.15], [0.1, 0.2, 0.6], [0.15, 0.15, 0.3])
    pen = np.array(pens[rng.randint(len(pens))]) * rng.uniform(0.6, 1.3)
    grain = noise(rng, (h, w, 3), rng.uniform(0.005, 0.035))
    as_jpeg = rng.rand() < 0.5
    quality = int(rng.uniform(60, 92)) if as_jpeg else 0
    # The margin's numbers come from their own stream, seeded from rng's whole state (its 624 words
    # and its place among them: the words alone stay the same for 624 draws) after all the draws
    # above, without advancing it, so that every page without a margin stays as it was.
    _, words, place = rng.get_state()[:3]
    margin = margin_line(ink, turn, x, y, np.random.RandomState(np.append(words, place)))
    page = tint * (1 - lines[..., None] * (1 - line))
    if margin is not None:
        mask, colour = margin
        page *= 1 - mask[..., None] * (1 - colour)
    v = light[..., None] * (page * (1 - ink[..., None]) + pen * tint * ink[..., None]) + grain
    im = Image.fromarray(np.round(np.clip(v, 0, 1) * 255).astype(np.uint8), "RGB")
    if as_jpeg:
        return im, "jpg", {"quality": quality}
    return im, "png", {"compress_level": 1}


def margin_line(ink, turn, x, y, mrng):
    """On 40% of pages, a notebook's margin: a red or pink line down the page (turned with it), 1-3
    pixels thick at 600 pixels a side, a double line on 30% of them. On 60% of those it runs close
    to the digit, from 35% of the digit's width away from one side to 15% into it (touching it, but
    never across most of it); on the rest anywhere in the frame off the digit's middle 70%. Returns
    (mask (h, w) in [0, 1], colour (3,)), or None for a page without one."""
    if mrng.rand() >= 0.4:
        return None
    h, w = ink.shape
    cols, rows = np.nonzero(ink.max(0) > 0.5)[0], np.nonzero(ink.max(1) > 0.5)[0]
    x0, x1 = (cols[0], cols[-1] + 1) if len(cols) else (w / 3, 2 * w / 3)
    cy = (rows[0] + rows[-1]) / 2 if len(rows) else h / 2
    dw = x1 - x0
    scale = max(1.0, max(h, w) / 600)
    thick = mrng.uniform(1.0, 3.0) * scale
    left = mrng.rand() < 0.5
    if mrng.rand() < 0.6:  # close to the digit, at times touching it
        d = mrng.uniform(-0.15, 0.35) * dw
        at = x0 - d if left else x1 + d
    else:  # anywhere off the digit's middle
        at = mrng.uniform(0, w)
        if x0 + 0.15 * dw < at < x1 - 0.15 * dw:
            at = x0 + 0.15 * dw if left else x1 - 0.15 * dw
    if not 0 <= at < w:  # off the frame: the digit's other side
        left, at = not left, x1 + (x0 - at) if left else x0 - (at - x1)
    red, pink = np.array([0.85, 0.2, 0.25]), np.array([0.95, 0.55, 0.65])
    t = mrng.uniform(0, 1)
    colour = 1 - (1 - (red * (1 - t) + pink * t)) * mrng.uniform(0.5, 1.0)  # how strong it prints
    # distance down the page (across the margin), the line through (at, cy)
    down = x * math.cos(turn) + y * math.sin(turn) - (at * math.cos(turn) + cy * math.sin(turn))
    mask = np.clip(thick / 2 + 0.5 - np.abs(down), 0, 1)
    if mrng.rand() < 0.3:  # a double line, the second away from the digit
        gap = thick + mrng.uniform(2.0, 5.0) * scale
        mask = np.maximum(mask, np.clip(thick / 2 + 0.5 - np.abs(down + (gap if left else -gap)), 0, 1))
    return mask, colour


def on_desk(digit, rng, side, note=False, small=False):
    """A sheet of paper on a desk: the sheet 50% to 90% of the frame each way (partly out of it at
    times), turned up to 15 degrees, the digit on it 30% to 60% of its short side; the desk darker,
    wood or grey; lit unevenly, noisy, JPEG. A note: a square or a card (up to 1.75 times as long
    as wide), its short side 25% to 50% of the frame's, turned up to 20 degrees, yellow, pink, blue
    or white, inside the frame, the digit 40% to 70% of its short side. A small note: from an 80th
    to a 20th of the frame, the digit on it 40 pixels tall at least."""
    if small:
        while True:  # drawn again until the digit on the note is 40 pixels tall
            w, h = int(rng.uniform(200, side)), int(rng.uniform(200, side))
            area = math.exp(rng.uniform(math.log(1 / 80), math.log(1 / 20))) * w * h
            long_side = 1 if rng.rand() < 0.5 else rng.uniform(0.57, 1.75)  # half_h over half_w
            half_w = math.sqrt(area / long_side) / 2
            half_h = half_w * long_side
            share = rng.uniform(0.4, 0.7)
            if share * 2 * min(half_w, half_h) >= 40:
                break
    else:
        w, h = int(rng.uniform(200, side)), int(rng.uniform(200, side))
    if note:
        if not small:
            half_w = min(w, h) * rng.uniform(0.125, 0.25)
            half_h = half_w * (1 if rng.rand() < 0.5 else rng.uniform(0.57, 1.75))
        reach = math.hypot(half_w, half_h) + 2
        cx = rng.uniform(min(reach, w / 2), max(w - reach, w / 2))
        cy = rng.uniform(min(reach, h / 2), max(h - reach, h / 2))
        turn = math.radians(rng.uniform(-20, 20))
    else:
        half_w, half_h = w * rng.uniform(0.25, 0.45), h * rng.uniform(0.25, 0.45)
        cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.65)
        turn = math.radians(rng.uniform(-15, 15))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (x - cx) * math.cos(turn) + (y - cy) * math.sin(turn)
    v = -(x - cx) * math.sin(turn) + (y - cy) * math.cos(turn)
    sheet = np.clip(np.minimum(half_w - np.abs(u), half_h - np.abs(v)) + 0.5, 0, 1)  # a pixel's soft edge
    if not small:
        share = rng.uniform(0.4, 0.7) if note else rng.uniform(0.3, 0.6)
    ink_d = strokes(digit, max(12, int(share * 2 * min(half_w, half_h))), rng)
    ink_d = blur(np.pad(ink_d, 3), rng.uniform(0.0, 1.0))
    ih, iw = ink_d.shape
    x0 = int(np.clip(cx - iw / 2 + rng.uniform(-0.15, 0.15) * half_w, 0, max(0, w - iw)))
    y0 = int(np.clip(cy - ih / 2 + rng.uniform(-0.15, 0.15) * half_h, 0, max(0, h - ih)))
    ink = np.zeros((h, w), np.float32)
    ink[y0:y0 + ih, x0:x0 + iw] = ink_d[:h - y0, :w - x0]
    ink *= sheet
    desks = ([0.45, 0.3, 0.18], [0.6, 0.45, 0.3], [0.35, 0.35, 0.37], [0.15, 0.15, 0.17], [0.5, 0.5, 0.5])
    desk = np.array(desks[rng.randint(len(desks))]) * rng.uniform(0.7, 1.2)
    paper = rng.uniform(0.75, 0.97)
    tint = paper * np.array([1, rng.uniform(0.96, 1), rng.uniform(0.9, 1)])
    if note:
        notes = ([1, 0.92, 0.45], [1, 0.65, 0.78], [0.62, 0.86, 0.98], [1, 1, 0.97])
        tint = paper * np.array(notes[rng.randint(len(notes))])
    pens = ([0.1, 0.1, 0.15], [0.1, 0.2, 0.6], [0.15, 0.15, 0.3])
    pen = np.array(pens[rng.randint(len(pens))]) * rng.uniform(0.6, 1.3)
    page = tint * (1 - ink[..., None]) + pen * tint * ink[..., None]
    v = lighting(h, w, rng)[..., None] * (sheet[..., None] * page + (1 - sheet[..., None]) * desk)
    v = blur_rgb(v, rng.uniform(0.3, 1.0))
    v += noise(rng, v.shape, rng.uniform(0.005, 0.03))
    im = Image.fromarray(np.round(np.clip(v, 0, 1) * 255).astype(np.uint8), "RGB")
    return im, "jpg", {"quality": int(rng.uniform(60, 92))}


def blur_rgb(v, sigma):
    return np.dstack([blur(v[..., c], sigma) for c in range(3)])


def render(kind, digit, rng, side):
    """One image of `kind` as (PIL image, file extension, save options)."""
    if kind == "raw":
        return Image.fromarray(digit, "L"), "png", {}
    if kind == "rgba":
        ink = frame_with_ink(digit, rng, side)
        h, w = ink.shape
        white = rng.rand() < 0.25
        colour = np.array([255, 255, 255] if white else [rng.randint(0, 60), rng.randint(0, 60), rng.randint(0, 120)])
        rgb = np.broadcast_to(colour, (h, w, 3)).astype(np.uint8)
        if rng.rand() < 0.5:  # some apps store transparent pixels as black, others keep the colour
            rgb = rgb * (ink[..., None] > 0)
        a = np.round(ink * 255).astype(np.uint8)
        return Image.fromarray(np.dstack([rgb, a]).astype(np.uint8), "RGBA"), "png", {"compress_level": 1}
    if kind in ("desk", "note", "smallnote"):
        return on_desk(digit, rng, side, note=kind != "desk", small=kind == "smallnote")
    ink = frame_with_ink(digit, rng, side, small=kind == "pen" or rng.rand() < 0.25)
    if kind == "pen":
        pen = pen_on_page(ink, rng)
        ink = ink if pen is None else np.maximum(ink, pen)
        kind = "gray" if rng.rand() < 0.5 else "colour"
    if kind in ("marked", "near"):
        ink = np.maximum(*mark(ink, rng, near=kind == "near"))
        kind = "gray" if rng.rand() < 0.5 else "colour"
    if kind == "slashed":
        line = slash(ink, rng)
        ink = ink if line is None else np.maximum(ink, line)
        kind = "gray" if rng.rand() < 0.5 else "colour"
    if kind == "tight":
        ink = crop_tight(ink, rng)
        kind = "gray" if rng.rand() < 0.5 else "colour"
    return on_paper(kind, ink, rng)


def on_paper(kind, ink, rng):
    """The ink (h, w) in [0, 1] on a page of `kind` (board, notebook, gray, colour or jpeg), lit unevenly, with
    camera noise: (PIL image, file extension, save options)."""
    h, w = ink.shape
    light = lighting(h, w, rng)
    if kind == "board":
        board, chalk = rng.uniform(0.08, 0.3), rng.uniform(0.55, 0.9)
        v = (board + ink * (chalk - board)) * light
        v += noise(rng, v.shape, rng.uniform(0.005, 0.03))
        return Image.fromarray(np.round(np.clip(v, 0, 1) * 255).astype(np.uint8), "L"), "png", {"compress_level": 1}
    paper = rng.uniform(0.7, 0.97)
    if kind == "notebook":
        return notebook(ink, light, paper, rng)
    if kind == "gray":
        darkness = rng.uniform(0.6, 0.92)
        v = paper * light * (1 - darkness * ink)
        v += noise(rng, v.shape, rng.uniform(0.004, 0.025))
        return Image.fromarray(np.round(np.clip(v, 0, 1) * 255).astype(np.uint8), "L"), "png", {"compress_level": 1}
    tint = paper * np.array([1, rng.uniform(0.94, 1), rng.uniform(0.85, 1)])
    pens = ([0.1, 0.1, 0.15], [0.1, 0.2, 0.6], [0.7, 0.1, 0.1], [0.15, 0.15, 0.3])
    pen = np.array(pens[rng.randint(len(pens))]) * rng.uniform(0.6, 1.3)
    v = light[..., None] * (tint * (1 - ink[..., None]) + pen * tint * ink[..., None])
    sd = rng.uniform(0.005, 0.03) if kind == "colour" else rng.uniform(0.01, 0.045)
    v += noise(rng, v.shape, sd)
    im = Image.fromarray(np.round(np.clip(v, 0, 1) * 255).astype(np.uint8), "RGB")
    if kind == "jpeg":
        return im, "jpg", {"quality": int(rng.uniform(55, 90))}
    return im, "png", {"compress_level": 1}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=200, help="MNIST test digits (default 200); each in every kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kinds", default=",".join(DEFAULT_KINDS), help="comma-separated, from " + ", ".join(KINDS))
    ap.add_argument("--max-side", type=int, default=900, help="largest frame side, 200 to 1000 (default 900)")
    ap.add_argument("--data", help="MNIST folder")
    o = ap.parse_args()
    kinds = o.kinds.split(",")
    for k in kinds:
        if k not in KINDS:
            sys.exit(f"make_photo_set: unknown kind '{k}' (known: {', '.join(KINDS)})")
    folder = data_dir(o.data)
    images = read_idx(folder, "t10k-images-idx3-ubyte")
    labels = read_idx(folder, "t10k-labels-idx1-ubyte")
    rng = np.random.RandomState(o.seed)
    picks = rng.choice(len(labels), size=o.count, replace=False)
    rows = []
    for kind in kinds:
        os.makedirs(os.path.join(o.out, kind), exist_ok=True)
        krng = np.random.RandomState([o.seed, KINDS.index(kind)])
        if kind == "slashed":  # zeros only, drawn from the kind's own stream
            zeros = krng.choice(np.nonzero(labels == 0)[0], size=o.count, replace=False)
        for n, i in enumerate(zeros if kind == "slashed" else picks):
            im, ext, opts = render(kind, images[i], krng, min(1000, max(200, o.max_side)))
            name = os.path.join(kind, f"{n:05d}-{labels[i]}.{ext}")
            im.save(os.path.join(o.out, name), **opts)
            rows.append(f"{kind}\t{name}\t{labels[i]}\t{i}\n")
    with open(os.path.join(o.out, "index.tsv"), "w") as f:
        f.write("kind\tfile\tdigit\tmnist_index\n")
        f.writelines(rows)
    print(f"wrote {len(rows)} images ({o.count} digits x {len(kinds)} kinds) to {o.out}")


if __name__ == "__main__":
    main()
