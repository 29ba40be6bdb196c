"""seeds.py: writes the fuzz targets' seed corpora (fuzz/corpus/*), small valid and nearly valid
files for each reader. Run from anywhere: /usr/bin/python3 fuzz/seeds.py [build/mnist] (Pillow
for the images; with the command, checkpoints it writes)."""
import gzip
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx(magic, dims, body):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(body)


def pair(images, labels):  # fuzz_idx's input: 2-byte length of the images file, then both
    return struct.pack(">H", len(images)) + images + labels


def gz(b):
    return gzip.compress(b, mtime=0)


img = idx(2051, [3, 2, 2], range(0, 240, 20))
lab = idx(2049, [3], [7, 0, 9])
put("idx", "plain", pair(img, lab))
put("idx", "gzip", pair(gz(img), gz(lab)))
put("idx", "gzip-images", pair(gz(img), lab))
put("idx", "mnist-size", pair(idx(2051, [1, 28, 28], [i % 256 for i in range(784)]), idx(2049, [1], [5])))
put("idx", "truncated", pair(img[:-3], lab))
put("idx", "swapped", pair(lab, img))
put("idx", "bad-label", pair(img, idx(2049, [3], [1, 10, 2])))
put("idx", "count-mismatch", pair(img, idx(2049, [2], [1, 2])))


def safetensors(tensors, meta=None, pad=True):
    header, off, blobs = {}, 0, []
    if meta is not None:
        header["__metadata__"] = meta
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        b = struct.pack("<%df" % n, *[0.25 * (i % 7) - 0.5 for i in range(n)])
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


one = [("layers.0.kernel", [4, 3]), ("layers.0.bias", [3])]
two = [("layers.0.kernel", [3, 2]), ("layers.0.bias", [2]), ("layers.1.kernel", [2, 10]), ("layers.1.bias", [10])]
meta = {"format": "mnist", "layers": "3,2,10", "activation": "tanh", "dataset": "mnist"}
put("safetensors", "one-layer", safetensors(one))
put("safetensors", "two-layers-meta", safetensors(two, meta))
put("safetensors", "bias-first", safetensors(list(reversed(two)), {"dataset": "fashion"}, pad=False))
put("safetensors", "meta-mismatch", safetensors(two, dict(meta, layers="3,4,10")))
put("safetensors", "f16", safetensors(one).replace(b'"F32"', b'"F16"', 1))
put("safetensors", "short", safetensors(one)[:40])
# regression (tests/test_safetensors.c): six train.* tensors overflowed the checkpoint reader's four
six = b'{"__metadata__":{"format":"mnist-checkpoint","train":"{}"},' + json.dumps(
    {n: {"dtype": "F32", "shape": s, "data_offsets": o} for n, s, o in
     (("layers.0.kernel", [2, 3], [0, 24]), ("layers.0.bias", [3], [24, 36]))})[1:-1].encode() + b"".join(
    b',"train.%c":{"dtype":"U8","shape":[1],"data_offsets":[%d,%d]}' % (c, 36 + i, 37 + i) for i, c in enumerate(b"abcdef")) + b"}"
put("safetensors", "regression-six-extras", struct.pack("<Q", len(six)) + six + bytes(42))
# whole numbers written otherwise, 4.0 and 3e0: cJSON reads them as 4 and 3; refused, as the reference reader does
st = safetensors(one)
n = struct.unpack("<Q", st[:8])[0]
h = st[8:8 + n].replace(b'"shape":[4,3]', b'"shape":[4.0,3e0]', 1)
put("safetensors", "whole-number-forms", struct.pack("<Q", len(h)) + h + st[8 + n:])


def images():
    """Small pictures of a stroke in each format the image reader takes (needs Pillow, Debian's
    python3-pil); the first byte of a fuzz_image input picks the recipe (0 MNIST, 1 lab, 2 fashion,
    3 outline: the two drawn ones)."""
    import io
    from PIL import Image, ImageDraw
    gray = Image.new("L", (40, 30), 235)
    ImageDraw.Draw(gray).line([(20, 4), (18, 26)], fill=20, width=4)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: a quarter turn clockwise, as a phone's portrait photo says
    exif_turned = exif.tobytes()
    rgba = Image.new("RGBA", (24, 24), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse([5, 3, 18, 20], outline=(10, 10, 200, 255), width=3)
    ringed = Image.new("L", (48, 48), 235)  # a 7 in a ring that touches it: held aside (photo.c, ring_around)
    ImageDraw.Draw(ringed).ellipse([4, 3, 43, 44], outline=20, width=3)
    ImageDraw.Draw(ringed).line([(14, 12), (32, 12), (22, 42)], fill=20, width=4)
    for name, im, fmt, opts in (
            ("gray.png", gray, "PNG", {}),
            ("rgba.png", rgba, "PNG", {}),
            ("gray16.png", gray.convert("I;16"), "PNG", {}),
            ("gray.jpg", gray, "JPEG", {"quality": 60}),
            ("color-progressive.jpg", gray.convert("RGB"), "JPEG", {"quality": 50, "progressive": True}),
            ("exif-turned.jpg", gray, "JPEG", {"quality": 60, "exif": exif_turned}),
            ("exif-turned.png", gray, "PNG", {"exif": exif_turned}),
            ("gray.bmp", gray, "BMP", {}),
            ("palette.gif", rgba.convert("RGB").convert("P"), "GIF", {}),
            ("gray.tga", gray, "TGA", {}),
            ("gray.pgm", gray, "PPM", {}),
            ("ringed.png", ringed, "PNG", {}),
            ("color.ppm", rgba.convert("RGB"), "PPM", {})):
        b = io.BytesIO()
        im.save(b, fmt, **opts)
        drawn = name in ("gray.png", "rgba.png")
        for recipe in (0, 1, 2, 3) if drawn else (0,) if name == "ringed.png" else (0, 1, 2):  # MNIST's, the lab's, Fashion-MNIST's, an outline's
            put("image", f"{recipe}-{name}", bytes([recipe]) + b.getvalue())
    # PNMs of maximum values other than 255 (each sample its share of it: image.c, pnm_level)
    bar = [255 if 3 <= i % 8 <= 4 else 0 for i in range(64)]
    for recipe in (0, 1):
        put("image", f"{recipe}-max15.pgm", bytes([recipe]) + b"P5 8 8 15\n" + bytes(v // 17 for v in bar))
        put("image", f"{recipe}-max1023.ppm", bytes([recipe]) + b"P6 8 8 1023\n" +
            b"".join((v * 4).to_bytes(2, "big") * 3 for v in bar))




def numbers():
    """Lines of digits drawn as strokes for fuzz_number: apart, touching (two and three: split_digit's
    cuts), and one part wider than any digit."""
    import io
    from PIL import Image, ImageDraw
    one, zero = ("line", [(10, 8), (10, 36)]), ("ellipse", [9, 8, 27, 36])
    seven = ("line", [(26, 8), (42, 8), (33, 36)])
    for name, shapes, w in (
            ("apart", [one, ("ellipse", [24, 8, 40, 36]), ("line", [(50, 8), (64, 8), (56, 36)])], 76),
            ("touching2", [zero, seven], 52),
            ("touching3", [one, zero, seven], 52),
            ("wide", [("ellipse", [6, 14, 114, 30])], 120)):
        im = Image.new("L", (w, 44), 235)
        d = ImageDraw.Draw(im)
        for kind, xy in shapes:
            if kind == "line":
                d.line(xy, fill=20, width=3)
            else:
                d.ellipse(xy, outline=20, width=3)
        b = io.BytesIO()
        im.save(b, "PNG")
        put("number", name + ".png", b.getvalue())


def checkpoints(mnist):
    """Checkpoints written by the command itself (their metadata follows the code), for a
    4-3-10 network on 2x2 images so that they stay small."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        for prefix, n in (("train", 8), ("t10k", 4)):
            with open(os.path.join(d, prefix + "-images-idx3-ubyte"), "wb") as f:
                f.write(idx(2051, [n, 2, 2], [(37 * i) % 256 for i in range(4 * n)]))
            with open(os.path.join(d, prefix + "-labels-idx1-ubyte"), "wb") as f:
                f.write(idx(2049, [n], [i % 10 for i in range(n)]))
        for optimizer in ("sgd", "adam"):
            path = os.path.join(d, optimizer + ".ckpt")
            subprocess.run([mnist, "train", "--data", d, "--no-verify", "--layers", "4,3,10", "--epochs", "1",
                            "--batch", "4", "--optimizer", optimizer, "--checkpoint", path, "--json"],
                           check=True, stdout=subprocess.DEVNULL)
            put("safetensors", "checkpoint-" + optimizer, open(path, "rb").read())


images()
numbers()
if len(sys.argv) > 1:
    checkpoints(sys.argv[1])
