#!/usr/bin/env python3
"""make_samples.py: draw samples/, ten handwritten-looking digits in the styles people photograph.

    scripts/make_samples.py [OUT]        (default: samples/ beside this script's folder)

Each digit is drawn as pen strokes (a few polylines and arcs, jittered by a seeded RandomState,
so the files are the same on every run), then dressed as one kind of picture; the file name is
DIGIT-STYLE.EXT:

    0-pencil-small.jpg     grey pencil, small in a large, dim photo
    1-pen-photo.jpg        dark pen on white paper, a phone photo: light falling off, noise, JPEG
    2-marker.png           thick black marker, grayscale PNG
    3-blue-pen.png         blue ballpoint on cream paper, colour PNG
    4-chalk.png            chalk on a blackboard, grayscale PNG
    5-app.png              a drawing app's export: transparent background, the ink in the alpha channel
    6-red-pen-shadow.jpg   red pen, a shadow across the page, JPEG
    7-thin-pen.png         a thin fineliner, large, slanted
    8-app-dark.png         a dark-themed app's export: white ink on transparent
    9-pen-corner.jpg       pen, off in a corner of the frame, uneven light

Needs numpy and Pillow (Debian: python3-numpy, python3-pil).
"""
import math
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))


def arc(cx, cy, rx, ry, a0, a1, n=24):
    """Points on an ellipse from angle a0 to a1 (degrees; 0 is right, 90 is down)."""
    return [(cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


# Strokes in a box 0.7 wide and 1 tall; each stroke a list of (x, y).
DIGITS = {
    0: [arc(0.35, 0.5, 0.3, 0.46, -100, 262)],
    1: [[(0.26, 0.18), (0.42, 0.04), (0.40, 0.55), (0.38, 0.98)]],
    2: [arc(0.35, 0.3, 0.28, 0.26, 195, 370) + [(0.45, 0.6), (0.06, 0.97), (0.66, 0.95)]],
    3: [arc(0.33, 0.26, 0.26, 0.22, 200, 450), arc(0.33, 0.7, 0.3, 0.27, -90, 150)],
    4: [[(0.46, 0.03), (0.05, 0.66), (0.66, 0.66)], [(0.5, 0.33), (0.5, 0.98)]],
    5: [[(0.62, 0.04), (0.16, 0.05), (0.12, 0.45)] + arc(0.34, 0.68, 0.3, 0.28, -130, 140)],
    6: [[(0.55, 0.04), (0.32, 0.22), (0.1, 0.55)] + arc(0.36, 0.72, 0.27, 0.25, 180, 540)],
    7: [[(0.04, 0.05), (0.66, 0.05), (0.4, 0.5), (0.26, 0.98)]],
    8: [arc(0.35, 0.26, 0.22, 0.22, 0, 360), arc(0.35, 0.72, 0.3, 0.26, 0, 360)],
    9: [arc(0.34, 0.3, 0.26, 0.26, 0, 360), [(0.6, 0.3), (0.56, 0.65), (0.48, 0.98)]],
}


def ink_mask(digit, height, width_frac, slant, rng, scale=4):
    """The digit's strokes as ink in [0, 1], height pixels tall, drawn 4x larger and reduced."""
    h = height * scale
    pad = int(0.15 * h)
    W, H = int(0.8 * h) + 2 * pad, h + 2 * pad
    im = Image.new("L", (W, H), 0)
    d = ImageDraw.Draw(im)
    lw = max(1, int(width_frac * h))
    for stroke in DIGITS[digit]:
        pts = []
        dx, dy = rng.normal(0, 0.015, 2)  # each stroke a little off, and a little unsteady
        for x, y in stroke:
            x, y = x + dx + rng.normal(0, 0.003), y + dy + rng.normal(0, 0.003)
            pts.append((pad + (x + slant * (1 - y)) * h, pad + y * h))
        d.line(pts, fill=255, width=lw, joint="curve")
        for p in (pts[0], pts[-1]):  # round ends
            d.ellipse([p[0] - lw / 2, p[1] - lw / 2, p[0] + lw / 2, p[1] + lw / 2], fill=255)
    im = im.resize((W // scale, H // scale), Image.Resampling.BOX)
    return np.asarray(im, np.float32) / 255


def place(ink, w, h, x0, y0):
    """A w x h frame with the ink's bounding box at (x0, y0)."""
    ys, xs = np.nonzero(ink)
    ink = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    canvas = np.zeros((h, w), np.float32)
    ih, iw = ink.shape
    if x0 + iw > w or y0 + ih > h:
        sys.exit(f"make_samples: a {iw}x{ih} digit does not fit {w}x{h} at ({x0}, {y0})")
    canvas[y0:y0 + ih, x0:x0 + iw] = ink
    return canvas


def light(h, w, falloff, angle, vignette):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = x / w - 0.5, y / h - 0.5
    return (1 - falloff * (x * math.cos(angle) + y * math.sin(angle) + 0.5)) * (1 - vignette * (x * x + y * y))


def save_gray(v, path, **opts):
    Image.fromarray(np.round(np.clip(v, 0, 1) * 255).astype(np.uint8), "L").save(path, **opts)


def save_rgb(v, path, **opts):
    Image.fromarray(np.round(np.clip(v, 0, 1) * 255).astype(np.uint8), "RGB").save(path, **opts)


def paper_photo(ink, paper_rgb, ink_rgb, lit, noise, rng):
    """Colour photo: paper tinted paper_rgb, ink of colour ink_rgb, light lit (h, w), noise."""
    i = ink[..., None]
    v = lit[..., None] * (np.array(paper_rgb) * (1 - i) + np.array(ink_rgb) * i)
    return v + rng.normal(0, noise, v.shape)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(HERE), "samples")
    os.makedirs(out, exist_ok=True)
    rng = np.random.RandomState(2024)
    made = []

    def done(name):
        made.append(name)
        return os.path.join(out, name)

    # 0: grey pencil, small in a large, dim photo
    ink = ink_mask(0, 70, 0.05, 0.05, rng)
    ink = place(ink, 640, 480, 380, 150) * 0.55
    v = paper_photo(ink, (0.62, 0.6, 0.55), (0.2, 0.2, 0.22), light(480, 640, 0.3, 2.5, 0.5), 0.02, rng)
    save_rgb(v, done("0-pencil-small.jpg"), quality=80)
    # 1: dark pen, phone photo
    ink = place(ink_mask(1, 150, 0.06, 0.1, rng), 320, 240, 120, 35)
    v = paper_photo(ink, (0.93, 0.92, 0.9), (0.12, 0.12, 0.16), light(240, 320, 0.35, 0.6, 0.6), 0.02, rng)
    save_rgb(v, done("1-pen-photo.jpg"), quality=75)
    # 2: thick marker, gray PNG
    ink = place(ink_mask(2, 130, 0.13, 0.0, rng), 200, 200, 40, 20)
    save_gray(0.95 - 0.85 * ink + rng.normal(0, 0.01, ink.shape), done("2-marker.png"))
    # 3: blue ballpoint on cream paper
    ink = place(ink_mask(3, 120, 0.055, 0.12, rng), 220, 200, 50, 25)
    v = paper_photo(ink, (0.96, 0.93, 0.82), (0.1, 0.15, 0.55), light(200, 220, 0.15, 1.0, 0.2), 0.012, rng)
    save_rgb(v, done("3-blue-pen.png"))
    # 4: chalk on a blackboard: light, grainy strokes on a dark board
    ink = ink_mask(4, 140, 0.09, 0.05, rng)
    ink *= np.clip(rng.uniform(0.55, 1.15, ink.shape), 0, 1)
    ink = place(ink, 260, 220, 70, 30)
    v = (0.16 + 0.62 * ink) * light(220, 260, 0.25, 3.5, 0.3) + rng.normal(0, 0.015, ink.shape)
    save_gray(v, done("4-chalk.png"))
    # 5: drawing app export, ink in alpha
    ink = place(ink_mask(5, 220, 0.07, 0.0, rng), 280, 280, 45, 12)
    a = np.round(ink * 255).astype(np.uint8)
    rgba = np.dstack([np.full_like(a, 20), np.full_like(a, 20), np.full_like(a, 30), a])
    Image.fromarray(rgba, "RGBA").save(done("5-app.png"))
    # 6: red pen, a shadow across the page
    ink = place(ink_mask(6, 120, 0.06, 0.08, rng), 300, 220, 100, 45)
    y, x = np.mgrid[0:220, 0:300].astype(np.float32)
    shadow = 1 - 0.35 / (1 + np.exp(-(x * 0.8 - y * 0.6 - 60) / 12))
    v = paper_photo(ink, (0.92, 0.91, 0.88), (0.75, 0.1, 0.12), shadow * light(220, 300, 0.1, 2, 0.3), 0.015, rng)
    save_rgb(v, done("6-red-pen-shadow.jpg"), quality=80)
    # 7: thin fineliner, large and slanted
    ink = place(ink_mask(7, 240, 0.022, 0.2, rng), 320, 280, 30, 15)
    save_gray((0.97 - 0.9 * ink) * light(280, 320, 0.1, 0.3, 0.1) + rng.normal(0, 0.004, ink.shape),
              done("7-thin-pen.png"))
    # 8: dark-themed app export, white ink on transparent
    ink = place(ink_mask(8, 180, 0.08, 0.0, rng), 240, 240, 50, 20)
    a = np.round(ink * 255).astype(np.uint8)
    rgba = np.dstack([np.full_like(a, 255), np.full_like(a, 255), np.full_like(a, 255), a])
    Image.fromarray(rgba, "RGBA").save(done("8-app-dark.png"))
    # 9: pen, off in a corner, uneven light
    ink = place(ink_mask(9, 90, 0.07, 0.1, rng), 400, 300, 20, 180)
    v = paper_photo(ink, (0.9, 0.9, 0.92), (0.1, 0.1, 0.2), light(300, 400, 0.45, 3.8, 0.4), 0.02, rng)
    save_rgb(v, done("9-pen-corner.jpg"), quality=80)
    print(f"wrote {len(made)} samples to {out}: {' '.join(made)}")


if __name__ == "__main__":
    main()
