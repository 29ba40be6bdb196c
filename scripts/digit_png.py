#!/usr/bin/env python3
"""digit_png.py: an MNIST test digit as a drawing app would save it, with Python's standard library.

    scripts/digit_png.py OUT.png [--index I] [--size S] [--data DIR]

Writes test digit I (default 0, a 7) as an S x S (default 280) grayscale PNG, dark ink on white,
scaled up bilinearly, as a canvas on the serve page would send it. Prints the digit's label.
MNIST is read from --data, else $MNIST_DATA, else ~/.cache/mnist (raw or .gz IDX files).
"""
import argparse
import gzip
import os
import struct
import sys
import zlib


def data_dir(flag):
    if flag:
        return flag
    if os.environ.get("MNIST_DATA"):
        return os.environ["MNIST_DATA"]
    cache = os.environ.get("XDG_CACHE_HOME", "")
    cache = cache if cache.startswith("/") else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "mnist")


def read_idx(folder, name):
    for path, opener in ((os.path.join(folder, name), open), (os.path.join(folder, name + ".gz"), gzip.open)):
        if os.path.exists(path):
            with opener(path, "rb") as f:
                return f.read()
    sys.exit(f"digit_png.py: {os.path.join(folder, name)}[.gz]: not found (run 'make data')")


def digit(folder, index):
    images = read_idx(folder, "t10k-images-idx3-ubyte")
    labels = read_idx(folder, "t10k-labels-idx1-ubyte")
    magic, n, rows, cols = struct.unpack(">IIII", images[:16])
    if magic != 2051 or rows != 28 or cols != 28 or not 0 <= index < n:
        sys.exit(f"digit_png.py: no test digit {index} ({n} images of {rows}x{cols}, magic {magic})")
    off = 16 + index * 784
    return images[off:off + 784], labels[8 + index]


def scale(px, size):
    """28x28 bytes to size x size, bilinear, inverted to dark ink on white."""
    out = bytearray(size * size)
    for y in range(size):
        fy = min(max((y + 0.5) * 28 / size - 0.5, 0.0), 27.0)
        y0 = min(int(fy), 26)
        wy = fy - y0
        for x in range(size):
            fx = min(max((x + 0.5) * 28 / size - 0.5, 0.0), 27.0)
            x0 = min(int(fx), 26)
            wx = fx - x0
            a, b = px[y0 * 28 + x0], px[y0 * 28 + x0 + 1]
            c, d = px[(y0 + 1) * 28 + x0], px[(y0 + 1) * 28 + x0 + 1]
            v = (a * (1 - wx) + b * wx) * (1 - wy) + (c * (1 - wx) + d * wx) * wy
            out[y * size + x] = 255 - int(v + 0.5)
    return bytes(out)


def png_gray(gray, w, h):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + gray[y * w:(y + 1) * w] for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write(path, index=0, size=280, data=None):
    """Write test digit index as a PNG; returns its label."""
    px, label = digit(data_dir(data), index)
    with open(path, "wb") as f:
        f.write(png_gray(scale(px, size), size, size))
    return label


def main():
    ap = argparse.ArgumentParser(description="An MNIST test digit as a PNG, dark ink on white.")
    ap.add_argument("out")
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--size", type=int, default=280)
    ap.add_argument("--data")
    a = ap.parse_args()
    if not 28 <= a.size <= 4096:
        sys.exit(f"digit_png.py: --size {a.size} is not between 28 and 4096")
    print(write(a.out, a.index, a.size, a.data))


if __name__ == "__main__":
    main()
