"""test_image.py: mnist predict and mnist show against Pillow and numpy, computed independently.

- `--preprocess lab` equals the lab's load_image, Image.open(f).convert('L').resize((28, 28)) / 255,
  as float32, exactly, on PNG (gray, gray+alpha, RGB, RGBA, palette, palette with transparency,
  1-bit, 16-bit, a palette shorter than its pixels' colours), BMP (OS/2's of 1, 4 and 8 bits, one
  without its last row's padding, 16-bit ones of 5-5-5 and 5-6-5 bits, 24-bit ones in 8-8-8 bit fields
  and 32-bit ones in masks all 0, too; those of other bit fields and 56-byte headers, which Pillow
  refuses, refused too), TGA, PNM and GIF (a frame on a larger canvas, at its
  corner or within it, a transparent colour, a background colour, too; PNG interlaced of 1 to 16
  bits too) images
  of sizes from 9x17 to 1601x1203; on JPEG the decoders differ (stb_image and libjpeg-turbo round
  the inverse DCT and the colour conversion differently, by a level or three), which moves a few
  inputs by 1/255 and nothing more.
- A PNG stored turned, its eXIf chunk (as Pillow writes it) saying how to turn it: the MNIST recipe
  reads each of the 7 turns as the upright PNG, the lab's as stored, as Pillow's Image.open does.
- A model file written here with the README's lines (numpy, json and struct only; an independent
  writer) loads, and `predict --json` gives the probabilities that numpy's own forward pass gives
  on Pillow's inputs.
- Many files in one call: each bad one gets its own error naming it, the rest are predicted,
  and the exit status says so; flags are checked.
- `mnist show` draws the digits of an IDX file written here: the PNG's cells are the images'
  bytes, two pixels a pixel, with the label under each; the terminal shows the shades.
"""
import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib

import numpy as np

from testlib import MNIST, ROOT, check, temp_dir, png_chunk, status  # noqa: E402


def run(*args, env=None):
    return subprocess.run([MNIST, *args], capture_output=True, text=True,
                          env=None if env is None else {**os.environ, **env})


def readme_saver():
    """The README's save_safetensors, as a function: its Python block that defines it."""
    text = open(os.path.join(ROOT, "README.md")).read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    block = next(b for b in blocks if "def save_safetensors(" in b)
    ns = {}
    exec(block.split("\nsave_safetensors(")[0], ns)  # the definition, not the example call
    return ns["save_safetensors"]


def content(rng, w, h, ch):
    """Gradients, sharp bars (so that bicubic over- and undershoots, and clips) and noise."""
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 255 // max(w - 1, 1) + y * 3) % 256
    a = np.stack([base, 255 - base, (base * 7) % 256, rng.randint(0, 256, (h, w))][:ch], -1).astype(np.uint8)
    a[h // 3:h // 2 + 1] = 0
    a[:, w // 4:w // 4 + max(1, w // 10)] = 255
    m = rng.rand(h, w) < 0.2
    a[m] = (rng.randint(0, 2, a.shape) * 255)[m]
    return a[..., 0] if ch == 1 else a


def make_images(Image, folder):
    """(path, is_jpeg) for images of many modes, formats and sizes."""
    rng = np.random.RandomState(3)
    out = []
    for w, h in [(28, 28), (9, 17), (64, 48), (100, 300), (29, 28), (1000, 37), (1601, 1203)]:
        for mode, ch in [("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)]:
            if w > 1000 and mode in ("LA", "RGBA"):
                continue  # large ones: fewer, they take the time
            im = Image.fromarray(content(rng, w, h, ch), mode)
            fmts = ["png"] + (["bmp", "tga"] if mode != "LA" and w <= 1000 else []) + \
                (["ppm", "jpg"] if ch in (1, 3) else [])
            for fmt in fmts:
                p = os.path.join(folder, f"{mode}-{w}x{h}.{fmt}")
                im.save(p, **({"quality": 90} if fmt == "jpg" else {}))
                out.append((p, fmt == "jpg"))
        rgb = Image.fromarray(content(rng, w, h, 3), "RGB")
        pal = rgb.quantize(37)
        for name, im, opts in [("P.png", pal, {}), ("P.gif", pal, {}), ("Ptrns.png", pal, {"transparency": 3}),
                               ("1bit.png", rgb.convert("1"), {}),
                               ("I16.png", Image.fromarray(content(rng, w, h, 1).astype(np.uint16) * 3), {})]:
            if w > 1000 and name != "P.gif":
                continue
            p = os.path.join(folder, f"{w}x{h}-{name}")
            im.save(p, **opts)
            out.append((p, False))
        if w <= 100:
            # PNMs of maximum values other than 255: Pillow takes each sample's share of it (stb_image kept
            # 8-bit samples as they are, so a PGM of maximum value 1 was blank, and of 16-bit ones it kept
            # the low byte: stb_image 2.27 leaves their bytes unswapped); samples over it (the 200's) are the
            # top; the lab's recipe clips 16-bit grayscale (mode I) to 255, so small samples show the order
            for magic, ch, maxval, top in ((b"P5", 1, 1, 1), (b"P5", 1, 15, 15), (b"P6", 3, 200, 255),
                                           (b"P5", 1, 1023, 1023), (b"P6", 3, 1023, 1023), (b"P6", 3, 65535, 65535),
                                           (b"P5", 1, 65535, 600)):
                a = np.random.RandomState(w + maxval).randint(0, top + 1, (h, w, ch))
                p = os.path.join(folder, f"{w}x{h}-max{maxval}.{'pgm' if ch == 1 else 'ppm'}")
                with open(p, "wb") as f:
                    f.write(magic + b"\n%d %d\n%d\n" % (w, h, maxval) +
                            a.astype(">u2" if maxval > 255 else np.uint8).tobytes())
                out.append((p, False))
            p = os.path.join(folder, f"{w}x{h}-Pshort.png")
            short_palette_png(p, content(np.random.RandomState(w), w, h, 1), 5)  # rng left as it was
            out.append((p, False))
            p = os.path.join(folder, f"{w}x{h}-canvas.gif")
            frame_on_canvas_gif(Image, p, Image.fromarray(content(np.random.RandomState(w), w, h, 1)), 4000, 4000)
            out.append((p, False))
            # transparent colours, a background colour, colour 0 not black: Pillow's canvas is colour 0, or
            # the transparent one, and transparent pixels their colour (stb_image: transparent black, the
            # canvas the background colour; the lab's input of a digit on a transparent white was all 0)
            p = os.path.join(folder, f"{w}x{h}-trns.gif")
            pal.save(p, transparency=3)
            out.append((p, False))
            for name, opts in (("canvas-bg", {}), ("canvas-trns", {"transparency": 3})):
                p = os.path.join(folder, f"{w}x{h}-{name}.gif")
                frame_on_canvas_gif(Image, p, pal, w + 30, h + 20, x=17, y=9, background=5, **opts)
                out.append((p, False))
            # interlaced, of several colour types and depths: what their data inflates to is reckoned pass by pass
            for ctype, depth, ch in ((0, 1, 1), (0, 16, 1), (2, 8, 3), (3, 4, 1), (4, 8, 2), (6, 16, 4)):
                p = os.path.join(folder, f"{w}x{h}-interlaced-{ctype}-{depth}.png")
                a = np.random.RandomState(w + depth).randint(0, 1 << depth, (h, w, ch))
                interlaced_png(p, a, ctype, depth)
                out.append((p, False))
            # a palette of 8 colours, pixels of 0 to 63: Pillow has colour i past it as gray i (stb_image had it
            # transparent, which the lab's recipe read as the canvas's colour)
            p = os.path.join(folder, f"{w}x{h}-Pshort.gif")
            short_palette_gif(Image, p, content(np.random.RandomState(w), w, h, 1) >> 2, 8)
            out.append((p, False))
            # a transparent colour past the palette (200 of 64): Pillow's canvas is gray 200 (it was black)
            p = os.path.join(folder, f"{w}x{h}-canvas-trns-past.gif")
            frame_on_canvas_gif(Image, p, pal, w + 30, h + 20, x=17, y=9, transparency=3)
            g = bytearray(open(p, "rb").read())
            assert g[13 + 3 * 64:13 + 3 * 64 + 3] == b"\x21\xf9\x04" and g[10] & 7 == 5  # 64 colours, then its GCE
            g[13 + 3 * 64 + 6] = 200
            open(p, "wb").write(g)
            out.append((p, False))
            p = os.path.join(folder, f"{w}x{h}-nopad.bmp")  # its last row's padding left out, as some writers do
            Image.fromarray(content(np.random.RandomState(w), w, h, 3), "RGB").save(p)
            with open(p, "r+b") as f:
                f.truncate(os.path.getsize(p) - (-3 * w & 3))
            out.append((p, False))
            for bpp in (1, 4, 8):
                p = os.path.join(folder, f"{w}x{h}-os2-{bpp}.bmp")
                os2_bmp(p, content(np.random.RandomState(w + bpp), w, h, 1) >> (8 - bpp), bpp)
                out.append((p, False))
    return out


def short_palette_png(path, a, colors):
    """A palette PNG of the bytes a (h, w) whose PLTE holds only `colors` colours: its other pixels
    are colours the file lacks, which Pillow's default palette makes gray i (stb_image read them from
    leftover stack memory)."""
    h, w = a.shape
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))
    plte = bytes(np.random.RandomState(colors).randint(0, 256, 3 * colors).astype(np.uint8))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)) +
                png_chunk(b"PLTE", plte) + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def interlaced_png(path, a, ctype, depth):
    """An Adam7-interlaced PNG (which Pillow does not write) of the samples a (h, w, channels), of
    colour type ctype and depth bits, each row of filter 0; a palette one has 2^depth grays."""
    h, w = a.shape[:2]
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):
        for row in a[y0::dy, x0::dx]:
            v = row.reshape(-1)
            if len(v) == 0:
                continue
            if depth >= 8:
                raw += b"\0" + v.astype(">u2" if depth == 16 else np.uint8).tobytes()
            else:
                bits = "".join(format(int(x), f"0{depth}b") for x in v)
                bits += "0" * (-len(bits) % 8)
                raw += b"\0" + int(bits, 2).to_bytes(len(bits) // 8, "big")
    plte = png_chunk(b"PLTE", bytes(np.repeat(np.linspace(0, 255, 1 << depth).astype(np.uint8), 3))) if ctype == 3 else b""
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1)) + plte +
                png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def short_palette_gif(Image, path, a, colors):
    """A GIF of the palette indices a (h, w), each under 64, whose global palette holds only `colors`
    colours (a power of 2 under 64)."""
    im = Image.fromarray(a.astype(np.uint8), "P")
    im.putpalette(list(np.random.RandomState(colors).randint(0, 256, 3 * 64).astype(np.uint8)))
    b = io.BytesIO()
    im.save(b, "GIF", optimize=False)
    g = bytearray(b.getvalue())
    assert g[10] & 0x87 == 0x85  # Pillow wrote the 64 colours
    g[10] = g[10] & ~7 | (colors.bit_length() - 2)
    with open(path, "wb") as f:
        f.write(g[:13 + 3 * colors] + g[13 + 3 * 64:])


def frame_on_canvas_gif(Image, path, im, cw, ch, x=0, y=0, background=0, **opts):
    """A GIF of the image im as its one frame, at (x, y) of a canvas of cw x ch, the rest the
    background: only the frame's pixels are coded (a 28x28 frame of noise on 4000x4000: 1430 bytes,
    refused as truncated while the floor was taken from the canvas, 5859). background: the header's
    background colour (Pillow draws the canvas in colour 0, or the transparent one, all the same)."""
    b = io.BytesIO()
    im.save(b, "GIF", **opts)
    g = bytearray(b.getvalue())
    g[6:10] = struct.pack("<HH", cw, ch)
    g[11] = background
    i = 13 + (3 << ((g[10] & 7) + 1) if g[10] & 0x80 else 0)
    while g[i] == 0x21:  # extensions: a label, then sub-blocks
        i += 2
        while g[i]:
            i += 1 + g[i]
        i += 1
    assert g[i] == 0x2C
    g[i + 1:i + 5] = struct.pack("<HH", x, y)
    with open(path, "wb") as f:
        f.write(g)


def os2_bmp(path, a, bpp):
    """An OS/2 BMP (12-byte header, which Pillow reads and does not write) of the palette indices a
    (h, w), each under 2^bpp, with a palette of 2^bpp random colours: stb_image 2.27 counts such a
    palette 4 colours short (a 1-bit one's as none)."""
    h, w = a.shape
    pal = bytes(np.random.RandomState(bpp).randint(0, 256, 3 << bpp).astype(np.uint8))
    stride = (w * bpp + 31) // 32 * 4
    rows = []
    for y in range(h - 1, -1, -1):  # bottom row first
        bits = "".join(format(int(v), f"0{bpp}b") for v in a[y])
        bits += "0" * (8 * stride - len(bits))
        rows.append(int(bits, 2).to_bytes(stride, "big"))
    offset = 14 + 12 + len(pal)
    pixels = b"".join(rows)
    with open(path, "wb") as f:
        f.write(b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) +
                struct.pack("<IHHHH", 12, w, h, 1, bpp) + pal + pixels)


def bmp16(path, v, masks=None, hsz=40):
    """A BMP of 16 bits a pixel, v (h, w) its pixels as stored, bottom row first: masks (r, g, b) with
    BI_BITFIELDS (after a 40-byte header, or in a 108 or 124-byte one), or none (5-5-5)."""
    h, w = v.shape
    stride = (2 * w + 3) // 4 * 4
    rows = b"".join(v[y].astype("<u2").tobytes().ljust(stride, b"\0") for y in range(h - 1, -1, -1))
    info = struct.pack("<IiiHHIIiiII", hsz, w, h, 1, 16, 0 if masks is None else 3, len(rows), 2835, 2835, 0, 0)
    extra = struct.pack("<3I", *masks) if masks and hsz == 40 else b""
    if hsz > 40:
        info += struct.pack("<4I", *(masks or (0, 0, 0)), 0) + bytes(hsz - 56)
    off = 14 + len(info) + len(extra)
    with open(path, "wb") as f:
        f.write(b"BM" + struct.pack("<IHHI", off + len(rows), 0, 0, off) + info + extra + rows)


def bmp_fields(path, rgba, bpp, masks, hsz=40):
    """A BMP of bpp bits a pixel in bit fields (compression 3): rgba (h, w, 4) packed by masks (r, g, b, a),
    each channel scaled to its mask's width (a mask of 0 takes nothing; masks all 0 are BGRA's bytes, as
    Pillow reads them), bottom row first; the masks after a 40-byte header (three of them), or in a 56, 108
    or 124-byte one (four)."""
    h, w, _ = rgba.shape
    v = np.zeros((h, w), np.uint64)
    for c, m in enumerate(masks if any(masks) else (0xFF0000, 0xFF00, 0xFF, 0xFF000000)):
        if m:
            shift = (m & -m).bit_length() - 1
            v |= ((rgba[..., c].astype(np.uint64) * (m >> shift) // 255) << shift).astype(np.uint64)
    stride = (w * bpp + 31) // 32 * 4
    rows = b"".join(b"".join(int(x).to_bytes(bpp // 8, "little") for x in v[y]).ljust(stride, b"\0")
                    for y in range(h - 1, -1, -1))
    info = struct.pack("<IiiHHIIiiII", hsz, w, h, 1, bpp, 3, len(rows), 2835, 2835, 0, 0)
    extra = struct.pack("<3I", *masks[:3]) if hsz == 40 else b""
    if hsz > 40:
        info += struct.pack("<4I", *masks) + bytes(hsz - 56)
    off = 14 + len(info) + len(extra)
    with open(path, "wb") as f:
        f.write(b"BM" + struct.pack("<IHHI", off + len(rows), 0, 0, off) + info + extra + rows)


def lab_input(Image, path):
    """The lab's load_image."""
    return (np.array(Image.open(path).convert("L").resize((28, 28))).astype(np.float32) / 255.0).ravel()


def lab_moved(Image, model, files):
    """predict --preprocess lab --json --show of files: its output, its JSON rows, and per file how many of its
    784 inputs differ from the lab's load_image (784 where it gave none)."""
    p = run("predict", "--model", model, "--preprocess", "lab", "--json", "--show", *files)
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    moved = [int((np.array(r.get("input", [-1] * 784), np.float32) != lab_input(Image, f)).sum()) for r, f in zip(rows, files)]
    return p, rows, moved


def forward(params, x):
    for w, b in params[:-1]:
        x = np.tanh(x @ w + b)
    w, b = params[-1]
    z = x @ w + b
    z = z - z.max(axis=-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


def main():
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        check(False, "Pillow is installed (python3-pil; 'make deps' installs it)")
        return 1
    tmp = temp_dir("mnist-test-image-")

    # A model written with the README's lines: 784-40-24-10, tanh, random weights.
    rng = np.random.RandomState(9)
    sizes = [784, 40, 24, 10]
    params = [(rng.randn(m, n).astype(np.float32) * 0.15, rng.randn(n).astype(np.float32) * 0.5)
              for m, n in zip(sizes[:-1], sizes[1:])]
    model = os.path.join(tmp, "lab.safetensors")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        readme_saver()(model, params)
    finally:
        os.chdir(cwd)
    check(os.path.exists(model), "the README's lines write a model file with numpy, json and struct")

    # 1. --preprocess lab is Pillow's, byte for byte.
    images = make_images(Image, tmp)
    p = run("predict", "--model", model, "--preprocess", "lab", "--json", "--show", *[f for f, _ in images])
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    check(p.returncode == 0 and len(rows) == len(images),
          f"predict --preprocess lab reads all {len(images)} images: {p.stderr.strip()[:300]}")
    got = {r["file"]: r for r in rows if "input" in r}
    exact, jpeg_worst, jpeg_moved, missing, differ = 0, 0.0, 0, 0, []
    want_inputs = {}
    for f, is_jpeg in images:
        want = lab_input(Image, f)
        want_inputs[f] = want
        if f not in got:
            missing += 1
            continue
        x = np.array(got[f]["input"], np.float32)
        if is_jpeg:
            d = np.abs(x - want)
            jpeg_worst = max(jpeg_worst, float(d.max()) * 255)
            jpeg_moved = max(jpeg_moved, int((d > 0).sum()))
        elif np.array_equal(x, want):
            exact += 1
        else:
            differ.append(os.path.basename(f))
    n_exact = sum(1 for _, j in images if not j)
    check(missing == 0 and exact == n_exact,
          f"--preprocess lab equals Pillow's load_image exactly on {exact} of {n_exact} PNG/BMP/TGA/PNM/GIF images"
          + (f"; differ: {differ[:8]}" if differ else ""))
    # stb_image's and libjpeg-turbo's decoders differ by a level or so; resampling averages that
    check(jpeg_worst <= 1.0001 and jpeg_moved <= 50,
          f"on JPEG, the decoders' rounding moves inputs by at most {jpeg_worst:.0f}/255 "
          f"(at most {jpeg_moved} of 784 in an image)")

    # Very tall and very wide images: their strips are summed row by row (a 1x16M PNG took 10 s, its
    # sums column by column and tap by tap), to the same bytes
    rng = np.random.RandomState(5)
    long = []
    for w, h, mode, ch in ((1, 200000, "L", 1), (28, 60000, "L", 1), (20000, 3, "L", 1), (27, 5000, "RGB", 3),
                           (3, 20000, "RGBA", 4)):
        long.append(os.path.join(tmp, f"long-{w}x{h}.png"))
        Image.fromarray(content(rng, w, h, ch), mode).save(long[-1])
    p = run("predict", "--model", model, "--preprocess", "lab", "--json", "--show", *long)
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    same = [os.path.basename(f) for r, f in zip(rows, long)
            if np.array_equal(np.array(r.get("input", []), np.float32), lab_input(Image, f))]
    check(p.returncode == 0 and len(same) == len(long),
          f"--preprocess lab equals Pillow's on very tall and wide images: {same} of {len(long)} {p.stderr.strip()}")

    # BMPs of 16 bits a pixel: Pillow reads a 5-bit level v as v * 255 // 31 (and a 6-bit one's
    # * 255 // 63); stb_image repeats v's bits, one level more for a third of them (355 of 784 inputs moved)
    rng = np.random.RandomState(6)
    sixteen = []
    for w, h, masks, hsz in ((28, 28, None, 40), (28, 28, (0xF800, 0x7E0, 0x1F), 40), (28, 28, (0x7C00, 0x3E0, 0x1F), 40),
                             (45, 60, (0xF800, 0x7E0, 0x1F), 124), (31, 29, (0x7C00, 0x3E0, 0x1F), 108), (33, 30, None, 108)):
        v = rng.randint(0, 1 << 16, (h, w)) & (0xFFFF if masks and masks[1] == 0x7E0 else 0x7FFF)
        sixteen.append(os.path.join(tmp, f"bmp16-{w}x{h}-{hsz}-{masks[1] if masks else 0:x}.bmp"))
        bmp16(sixteen[-1], v, masks, hsz)
    check(all(Image.open(f).mode == "RGB" for f in sixteen), "Pillow reads the 16-bit BMPs as RGB")
    p, rows, moved = lab_moved(Image, model, sixteen)
    check(p.returncode == 0 and len(rows) == len(sixteen) and not any(moved),
          f"--preprocess lab reads BMPs of 5-5-5 and 5-6-5 bits a pixel as Pillow does (inputs moved: {moved}) "
          f"{p.stderr.strip()}")

    # BMPs in other bit fields, as Pillow 9 reads them. It refuses a 56-byte header (BITMAPV3INFOHEADER) and
    # masks other than its few (4-4-4-4, 8-8-8 with the alpha low), which stb_image read by their masks; the
    # lab's recipe refuses them too, saying so. It reads 8-8-8 at 24 bits and masks all 0 at 32 (as BGRA),
    # which stb_image refused ("not a ... BMP image"); both recipes read them now, the lab's as Pillow does.
    seven = Image.new("RGBA", (60, 50), (225, 225, 225, 255))
    ImageDraw.Draw(seven).line([(18, 10), (40, 10), (27, 42)], fill=(30, 30, 90, 255), width=5)
    a = np.array(seven)
    a[..., 3] = np.random.RandomState(7).randint(1, 256, a.shape[:2])  # an alpha Pillow's convert("L") drops
    refused, read = [], []
    for bpp, masks, hsz in ((16, (0xF00, 0xF0, 0xF, 0xF000), 124), (16, (0xF00, 0xF0, 0xF, 0), 40),
                            (16, (0x1F, 0x3E0, 0x7C00, 0), 108), (32, (0xFF00, 0xFF0000, 0xFF000000, 0xFF), 108),
                            (32, (0x3FF00000, 0xFFC00, 0x3FF, 0xC0000000), 124), (16, (0xF800, 0x7E0, 0x1F, 0), 56),
                            (32, (0xFF0000, 0xFF00, 0xFF, 0xFF000000), 56), (24, (0xFF0000, 0xFF00, 0xFF, 0), 56)):
        refused.append(os.path.join(tmp, f"fields-{bpp}-{hsz}-{masks[0]:x}-{masks[3]:x}.bmp"))
        bmp_fields(refused[-1], a, bpp, masks, hsz)
    for bpp, masks, hsz in ((24, (0xFF0000, 0xFF00, 0xFF, 0), 40), (24, (0xFF0000, 0xFF00, 0xFF, 0), 108),
                            (32, (0, 0, 0, 0), 40), (32, (0, 0, 0, 0), 124), (32, (0xFF, 0xFF00, 0xFF0000, 0xFF000000), 108)):
        read.append(os.path.join(tmp, f"fields-{bpp}-{hsz}-{masks[0]:x}.bmp"))
        bmp_fields(read[-1], a, bpp, masks, hsz)

    def pillow_refuses(f):
        try:
            Image.open(f).load()
            return False
        except OSError:
            return True
    check(all(map(pillow_refuses, refused)) and not any(map(pillow_refuses, read)),
          f"Pillow refuses the {len(refused)} BMPs of other bit fields and 56-byte headers, and reads the {len(read)}")
    p = run("predict", "--model", model, "--preprocess", "lab", "--json", *refused)
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    said = [r for r, f in zip(rows, refused) if r.get("file") == f and "Pillow does not read" in r.get("error", "")]
    check(p.returncode == 1 and len(rows) == len(refused) and len(said) == len(refused),
          f"--preprocess lab refuses them, as Pillow does, saying so: {len(said)} of {len(refused)} "
          f"{[r.get('error', 'read') for r in rows][:3]}")
    p, rows, moved = lab_moved(Image, model, read)
    check(p.returncode == 0 and len(rows) == len(read) and not any(moved),
          f"--preprocess lab reads 8-8-8 at 24 bits and masks all 0 at 32 as Pillow does (inputs moved: {moved}) "
          f"{p.stderr.strip()[:300]}")
    # the MNIST recipe: each as Pillow's image of it saved as a PNG (its colours and alpha), a 56-byte
    # header as the same fields in a 108-byte one
    twins = []
    for f in read:
        twins.append(f[:-4] + ".png")
        Image.open(f).save(twins[-1])
    for f in refused[-3:]:
        twins.append(f.replace("-56-", "-56as108-"))
        b = bytearray(open(f, "rb").read())
        off = struct.unpack_from("<I", b, 10)[0]
        b[70:70] = bytes(52)
        struct.pack_into("<I", b, 10, off + 52)
        struct.pack_into("<I", b, 14, 108)
        open(twins[-1], "wb").write(b)
    ours = read + refused[-3:]
    p = run("predict", "--model", model, "--json", "--show", *ours, *twins)
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    alike = [os.path.basename(f) for f, r, t in zip(ours, rows, rows[len(ours):]) if "input" in r and r.get("input") == t.get("input")]
    check(p.returncode == 0 and len(alike) == len(ours),
          f"the MNIST recipe reads them as Pillow's PNG of each, and a 56-byte header as a 108-byte one: {len(alike)} "
          f"of {len(ours)} {p.stderr.strip()[:300]}")

    # A BMP stored top row first (a negative height in its header, as Windows' own writers may store it):
    # stb_image's info gave the height as it is stored, and the image was refused as "100x-100"
    seven = Image.new("RGB", (120, 100), (225, 225, 225))
    ImageDraw.Draw(seven).line([(35, 20), (80, 20), (55, 85)], fill=(30, 30, 90), width=9)
    up = os.path.join(tmp, "bottom-up.bmp")
    seven.save(up)
    b = bytearray(open(up, "rb").read())
    off, (w, h), bpp = struct.unpack_from("<I", b, 10)[0], struct.unpack_from("<ii", b, 18), struct.unpack_from("<H", b, 28)[0]
    stride = (w * bpp + 31) // 32 * 4
    rows = [bytes(b[off + i * stride:off + (i + 1) * stride]) for i in range(h)]
    b[off:off + h * stride] = b"".join(reversed(rows))
    struct.pack_into("<i", b, 22, -h)
    down = os.path.join(tmp, "top-down.bmp")
    open(down, "wb").write(b)
    p = run("predict", "--model", model, "--preprocess", "lab", "--json", "--show", down)
    row = json.loads(p.stdout) if p.returncode == 0 else {}
    check(p.returncode == 0 and np.array_equal(np.array(row.get("input", []), np.float32), lab_input(Image, down)),
          f"a top-down BMP (negative height) reads as Pillow reads it: {p.stderr.strip()}")
    p = run("predict", "--model", model, "--json", "--show", up, down)
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    check(p.returncode == 0 and len(rows) == 2 and rows[0]["input"] == rows[1]["input"],
          f"the MNIST recipe reads a top-down BMP as its bottom-up twin: {p.stderr.strip()}")

    # A photo stored as the camera saw it, in a PNG whose eXIf chunk says how to turn it (Pillow writes
    # the chunk, before the image data, as phones' editors do): the MNIST recipe reads each of the 7
    # turns as the upright PNG, as Pillow's exif_transpose turns them back; the lab's reads them as
    # stored, as Pillow's Image.open does
    from PIL import ImageOps
    T = Image.Transpose
    undo = {2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE, 6: T.ROTATE_90,
            7: T.TRANSVERSE, 8: T.ROTATE_270}  # stored = upright turned so, for each orientation
    gray = seven.convert("L")
    upright = os.path.join(tmp, "upright.png")
    gray.save(upright)
    turned = []
    for o, t in undo.items():
        exif = Image.Exif()
        exif[0x0112] = o
        turned.append(os.path.join(tmp, f"turned-{o}.png"))
        gray.transpose(t).save(turned[-1], exif=exif.tobytes())
    check(all(ImageOps.exif_transpose(Image.open(f)).tobytes() == gray.tobytes() for f in turned),
          "Pillow's exif_transpose turns the 7 PNGs written with eXIf back upright")
    p = run("predict", "--model", model, "--json", "--show", upright, *turned)
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    same = [int(r["file"][-5]) for r in rows[1:] if r.get("input") == rows[0].get("input")]
    check(p.returncode == 0 and len(rows) == 8 and len(same) == 7,
          f"the MNIST recipe reads a PNG stored turned with each eXIf orientation 2 to 8 as the upright one "
          f"(the same of {same}): {p.stderr.strip()}")
    p = run("predict", "--model", model, "--preprocess", "lab", "--json", "--show", *turned)
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    check(p.returncode == 0 and len(rows) == 7 and
          all(np.array_equal(np.array(r["input"], np.float32), lab_input(Image, f)) for r, f in zip(rows, turned)),
          f"--preprocess lab reads a PNG with eXIf orientation as stored, as Pillow does: {p.stderr.strip()}")

    # A PNG of 28x28 pixels whose image data inflates to 64 MB (64 KB of it): refused before stb_image
    # inflates it all (a 1 MB one of 1 GB took 1 GB and 0.6 s; serve budgets a PNG by its pixels)
    bomb = os.path.join(tmp, "bomb.png")
    with open(bomb, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) +
                png_chunk(b"IDAT", zlib.compress(bytes(64 << 20), 9)) + png_chunk(b"IEND", b""))
    p = run("predict", "--model", model, "--preprocess", "lab", bomb)
    check(p.returncode == 1 and p.stderr.strip() == f"mnist predict: {bomb}: a corrupt PNG: its image data inflates "
          "to more than the 812 bytes of its 28x28 pixels and 64 KiB", f"a PNG whose data inflates past its pixels "
          f"is refused: {p.stderr.strip()!r}")
    # but a little past them (zeros at the end, as some PNGs in the wild hold) reads as Pillow reads it:
    # the 1 extra byte was refused, plain and interlaced
    for interlace in (0, 1):
        a = np.full((28, 28), 200, np.uint8)
        extra = os.path.join(tmp, f"extra-{interlace}.png")
        rows = b"".join(b"\0" + a[y].tobytes() for y in range(28))
        if interlace:  # Adam7's passes, each a row's filter byte then its pixels
            adam7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
            rows = b"".join(b"\0" + a[y, x0::dx].tobytes() for x0, y0, dx, dy in adam7 for y in range(y0, 28, dy))
        with open(extra, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, interlace)) +
                    png_chunk(b"IDAT", zlib.compress(rows + bytes(1 + 4096 * interlace))) + png_chunk(b"IEND", b""))
        p = run("predict", "--model", model, "--preprocess", "lab", "--json", "--show", extra)
        row = json.loads(p.stdout) if p.returncode == 0 else {}
        check(p.returncode == 0 and np.array_equal(np.array(row.get("input", []), np.float32), lab_input(Image, extra)),
              f"{'an interlaced' if interlace else 'a'} PNG whose data holds a little more than its pixels reads as "
              f"Pillow reads it: {p.stderr.strip()}")

    # 2. The model file from numpy: probabilities as numpy's forward pass gives them, on Pillow's inputs.
    worst, n = 0.0, 0
    for f, is_jpeg in images:
        if is_jpeg or f not in got:
            continue
        want = forward([(w.astype(np.float64), b.astype(np.float64)) for w, b in params],
                       want_inputs[f].astype(np.float64))
        worst = max(worst, float(np.abs(np.array(got[f]["probabilities"]) - want).max()))
        n += 1
        if got[f]["digit"] != int(np.argmax(want)):
            worst = max(worst, 1.0)
    # float32 sums of 784 products (inputs <= 1, weights ~0.15): ~1e-6 relative; probabilities < 1
    check(n > 0 and worst < 2e-5,
          f"predict --json with a model written by numpy matches numpy's forward pass on Pillow's inputs "
          f"({n} images, largest difference {worst:.2g})")

    # 3. Many files, some bad: each error names its file, the others are predicted.
    png = os.path.join(tmp, "seven.png")  # a 7 in a thick pen on light paper
    seven = Image.new("L", (120, 100), 225)
    ImageDraw.Draw(seven).line([(35, 20), (80, 20), (55, 85)], fill=30, width=9)
    seven.save(png)
    notimg = os.path.join(tmp, "notes.txt")
    open(notimg, "w").write("not an image\n")
    huge = os.path.join(tmp, "huge.png")
    open(huge, "wb").write(bytes([0x89, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13]) + b"IHDR" +
                           struct.pack(">II", 30000, 30000) + bytes([8, 0, 0, 0, 0, 0, 0, 0, 0]))
    blank = os.path.join(tmp, "blank.png")
    Image.new("L", (200, 150), 235).save(blank)
    missing_file = os.path.join(tmp, "nope.jpg")
    files = [png, notimg, huge, blank, missing_file, png]
    p = run("predict", "--model", model, *files)
    err = p.stderr.strip().splitlines()
    out = p.stdout.strip().splitlines()
    named = all(any(line.startswith(f"mnist predict: {f}: ") for line in err) for f in files[1:5])
    check(p.returncode == 1 and len(err) == 4 and named and len(out) == 2 and all(o.startswith(png + ": ") for o in out),
          f"4 bad files of 6: 4 error lines, each naming its file; the 2 good ones predicted; exit 1 ({p.returncode})")
    reasons = {"notes.txt": "not a PNG, JPEG", "huge.png": "900.0 megapixels, over the limit",
               "blank.png": "no clear ink", "nope.jpg": "No such file"}
    check(all(any(os.path.basename(f) in line and reasons[os.path.basename(f)] in line for line in err)
              for f in files[1:5]), "each says what is wrong: " + " | ".join(err))
    # a tap on the page's pad (a dot of its pen: 0.07 of 280 pixels) or a smaller one is no digit;
    # the same pen's stroke is
    taps = []
    for d in (20, 5):
        taps.append(os.path.join(tmp, f"tap{d}.png"))
        tap = Image.new("L", (280, 280), 255)
        ImageDraw.Draw(tap).ellipse((140 - d / 2, 140 - d / 2, 140 + d / 2, 140 + d / 2), fill=0)
        tap.save(taps[-1])
    one = os.path.join(tmp, "one.png")
    tap = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(tap).line([(150, 50), (130, 230)], fill=0, width=20)
    tap.save(one)
    p = run("predict", "--model", model, *taps, one)
    err = p.stderr.strip().splitlines()
    check(p.returncode == 1 and len(err) == 2 and all("solid blob" in line for line in err)
          and p.stdout.startswith(one + ": "), f"a dot is refused as a blob, a stroke of the same pen read: {err}")
    p = run("predict", "--model", model, "--json", "--top", "2", png, notimg)
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    check(p.returncode == 1 and len(rows) == 2 and rows[0]["file"] == png and len(rows[0]["top"]) == 2 and
          abs(sum(rows[0]["probabilities"]) - 1) < 1e-5 and rows[1]["file"] == notimg and "error" in rows[1],
          "--json: one object a line, {file, digit, probability, top, probabilities} or {file, error}")
    # the digit, its probability and the top K are the probabilities' largest, most likely first (ties
    # by digit), each with its own probability: the same numbers printed twice, so compared exactly
    want_top, probs = [], rows[0]["probabilities"] if rows else []
    for d in sorted(range(10), key=lambda d: (-probs[d], d))[:2]:
        want_top.append([d, probs[d]])
    check(bool(rows) and rows[0]["top"] == want_top and rows[0]["digit"] == want_top[0][0] and
          rows[0]["probability"] == want_top[0][1],
          f"--json --top 2: the two largest probabilities, most likely first: {rows[0]['top'] if rows else None}"
          f" (probabilities {probs})")
    # a file name that is not UTF-8 (a Latin-1 one, a control character) still makes JSON, which is UTF-8
    odd = os.fsencode(tmp) + b"/caf\xe9\x01.png"
    with open(png, "rb") as f, open(odd, "wb") as g:
        g.write(f.read())
    q = subprocess.run([MNIST, "predict", "--model", model, "--json", odd], capture_output=True)
    try:
        row = json.loads(q.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        row = {"not JSON": str(e)}
    check(q.returncode == 0 and row.get("file", "").endswith("caf\ufffd\x01.png"),
          f"--json with a file name that is not UTF-8: valid JSON, the bad byte as U+FFFD: {row}")
    p = run("predict", "--model", model, png)
    check(p.returncode == 0 and re.match(re.escape(png) + r": \d \(\d+\.\d%\)   next: \d \d+\.\d%, \d \d+\.\d%$",
                                         p.stdout.strip()) is not None,
          f"the text line: file, digit, probability, the next two: {p.stdout.strip()}")
    # its numbers are the JSON's top 3, as percentages to one decimal
    top3 = sorted(range(10), key=lambda d: (-probs[d], d))[:3] if probs else []
    want = (f"{png}: {top3[0]} ({100 * float(np.float32(probs[top3[0]])):.1f}%)   next: " +
            ", ".join(f"{d} {100 * float(np.float32(probs[d])):.1f}%" for d in top3[1:])) if probs else None
    check(p.stdout.strip() == want, f"the text line's digits and percentages are the three most likely: "
          f"{p.stdout.strip()} (want {want})")
    usage = [(["predict", png], "--model FILE is required"), (["predict", "--model", model], "no IMAGE"),
             (["predict", "--model", model, "--top", "11", png], "--top '11' is too large (at most 10)"),
             (["predict", "--model", model, "--preprocess", "pillow", png], "'pillow' is not mnist, lab, fashion or outline")]
    for args, say in usage:
        p = run(*args)
        check(p.returncode == 2 and say in p.stderr, f"usage error, exit 2: {p.stderr.strip()}")

    # 4. mnist show on an IDX file written here.
    rng = np.random.RandomState(4)
    imgs = rng.randint(0, 256, size=(7, 28, 28)).astype(np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], np.uint8)
    for split, n in (("train", 7), ("t10k", 7)):
        with open(os.path.join(tmp, f"{split}-images-idx3-ubyte"), "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + imgs[:n].tobytes())
        with open(os.path.join(tmp, f"{split}-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels[:n].tobytes())
    grid = os.path.join(tmp, "grid.png")
    p = run("show", "--data", tmp, "--no-verify", "--index", "1", "--count", "6", "--out", grid)
    ok = p.returncode == 0 and os.path.exists(grid)
    check(ok, f"show --count 6 --out writes a PNG: {p.stderr.strip()}")
    if ok:
        g = np.array(Image.open(grid).convert("RGB"))
        # cells of 56x56 (two pixels a pixel) and a 14-pixel label strip, 4 pixels apart
        cells = [g[4:60, 4 + 60 * k:60 + 60 * k, 0] for k in range(6)]
        same = all(np.array_equal(c, np.kron(imgs[1 + k], np.ones((2, 2), np.uint8))) for k, c in enumerate(cells))
        strips = [g[60:74, 4 + 60 * k:60 + 60 * k] for k in range(6)]
        amber = all(((s[..., 0] == 255) & (s[..., 1] == 200)).sum() > 10 for s in strips)
        check(g.shape == (78, 364, 3) and same and amber,
              f"the PNG ({g.shape[1]}x{g.shape[0]}) holds each image's bytes, twice as large, a label under each")
        heads = re.findall(r"train\[(\d+)\]: label (\d)", p.stdout)
        check(heads == [(str(1 + k), str(labels[1 + k])) for k in range(6)],
              f"the terminal names each digit and its label: {heads}")
    # a picture of at most 10000 digits (the whole training set took 1.7 GB to encode), refused before
    # the data is read
    big = os.path.join(tmp, "big.png")
    p = run("show", "--data", os.path.join(tmp, "none"), "--count", "10001", "--out", big)
    check(p.returncode == 2 and "at most 10000" in p.stderr and p.stderr.count("\n") == 1 and not os.path.exists(big),
          f"show --count 10001 --out is refused in one line, exit 2: {p.returncode} {p.stderr.strip()}")
    # a row of digits as wide as $COLUMNS allows (stdout is not a terminal here), else 80 columns; a
    # value that is not a plain number is not taken (atoi read '99999999999' past an int)
    rows = {}
    for cols in ("60", "200", "", "abc", "99999999999", "+100", "0"):
        p = run("show", "--data", tmp, "--no-verify", "--count", "7", env={"COLUMNS": cols})
        rows[cols] = [len(re.findall(r"train\[\d+\]", line)) for line in p.stdout.splitlines() if "train[" in line]
    want = {"60": [2, 2, 2, 1], "200": [6, 1]} | {c: [2, 2, 2, 1] for c in ("", "abc", "99999999999", "+100", "0")}
    check(rows == want, f"show --count 7: digits a row by $COLUMNS (28 columns each, 2 between), else 80: {rows}")
    p = run("show", "--data", tmp, "--no-verify", "--split", "test", "--index", "2")
    lines = p.stdout.splitlines()
    shades = " .:-=+*#%@"
    f32 = np.float32  # the shade index as the C code computes it: (v / 255.0f) * 10 in float
    want = ["  |" + "".join(2 * shades[min(int(f32(f32(v) / f32(255)) * f32(10)), 9)] for v in row) + "|"
            for row in imgs[2]]
    check(p.returncode == 0 and lines[0] == "test[2]: label 4" and lines[2:30] == want,
          "show --index: the label, and the digit shaded in 10 levels, two characters a pixel")
    p = run("show", "--data", tmp, "--no-verify", "--index", "5", "--count", "3")
    check(p.returncode == 2 and "goes past the 7 train images" in p.stderr, f"past the end: {p.stderr.strip()}")
    return status()


if __name__ == "__main__":
    sys.exit(main())
