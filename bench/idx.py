"""idx.py: MNIST's IDX files as numpy arrays, for the benchmark scripts (jax_lab.py, torch_mnist.py)."""
import gzip
import os
import struct

import numpy as np


def load(dir, name, magic):
    """dir/name, or dir/name.gz: images (magic 2051) as (n, rows * cols) bytes, labels (2049) as (n)."""
    path = os.path.join(dir, name)
    f = open(path, "rb") if os.path.exists(path) else gzip.open(path + ".gz", "rb")
    with f:
        raw = f.read()
    m, n = struct.unpack(">II", raw[:8])
    assert m == magic, f"{path}: magic {m}, not {magic}"
    if magic == 2051:
        r, c = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, r * c)
    return np.frombuffer(raw, np.uint8, offset=8)
