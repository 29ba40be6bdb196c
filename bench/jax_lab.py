"""jax_lab.py: the lab's JAX code ("A Simple Neural Network on MNIST with JAX") with each epoch's
468 steps in one jit (lax.scan), the fastest way to run it, for `make bench-gpu` to compare with.

The lab's network (784-1024-1024-10, tanh, log-softmax, mean NLL of one-hot targets), its init
(numpy RandomState(0), 0.1 * randn, W then b per layer, in float64 then float32), its batch order (a
second RandomState(0), one permutation per epoch, 468 batches of 128) and its update (plain SGD, lr
0.001), as in the lab. Products in JAX's default precision (TF32 on an NVIDIA GPU since Ampere)
unless JAX_DEFAULT_MATMUL_PRECISION=highest (FP32) is set before Python starts.

Each epoch is timed from the permutation's upload to the parameters being ready; the jit is
compiled ahead of time (timed apart), so epoch 0 holds no compilation. Prints one JSON object.

With --gpu-only it stops at once, before loading the data, when JAX's device is not a GPU (JAX runs
on the CPU when its GPU plugin cannot start): bench/gpu.py asks for that, since 5 epochs on the CPU
would spend minutes of a lent GPU's time for a row that measures no GPU.

usage: jax_lab.py DATA_DIR [--epochs N] [--gpu-only]
"""
import argparse
import json
import os
import time

import numpy as np

import jax
import jax.numpy as jnp
from jax import grad, jit, lax
from jax.scipy.special import logsumexp

from idx import load  # bench/idx.py: this script's folder is on sys.path


# ---- the lab's functions, as written there ----

def init_params(scale, layer_sizes, rng):
    return [(scale * rng.randn(m, n), scale * rng.randn(n)) for m, n in zip(layer_sizes[:-1], layer_sizes[1:])]


def predict(params, inputs):
    activations = inputs
    for w, b in params[:-1]:
        outputs = jnp.dot(activations, w) + b
        activations = jnp.tanh(outputs)
    final_w, final_b = params[-1]
    logits = jnp.dot(activations, final_w) + final_b
    return logits - logsumexp(logits, axis=1, keepdims=True)


def loss(params, batch):
    inputs, targets = batch
    preds = predict(params, inputs)
    return -jnp.mean(jnp.sum(preds * targets, axis=1))


def update(params, batch, step_size):
    grads = grad(loss)(params, batch)
    return [(w - step_size * dw, b - step_size * db) for (w, b), (dw, db) in zip(params, grads)]


# ---- an epoch in one jit: the lab's 468 updates as one lax.scan over the batches' indices ----

def epoch(params, images, targets, perm):
    def step(p, idx):
        return update(p, (images[idx], targets[idx]), 0.001), None

    params, _ = lax.scan(step, params, perm)
    return params


def accuracy(params, images, labels):
    return jnp.mean(jnp.argmax(predict(params, images), axis=1) == labels)


def is_gpu(dev):
    """Whether a JAX device is a GPU: its platform (gpu, cuda or rocm, as JAX's versions name it) or
    its name (cuda:0), as bench/gpu.py's jax_row reads the name."""
    said = f"{dev} {getattr(dev, 'platform', '')}".lower()
    return any(w in said for w in ("gpu", "cuda", "rocm"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--gpu-only", action="store_true", help="stop at once when JAX's device is not a GPU")
    a = ap.parse_args()
    dev = jax.devices()[0]
    if a.gpu_only and not is_gpu(dev):
        raise SystemExit(f"jax_lab.py: JAX's device is {dev} ({dev.platform}), not a GPU: its GPU plugin did not "
                         "start here; nothing was run (--gpu-only)")
    xtr = load(a.data, "train-images-idx3-ubyte", 2051).astype(np.float32) / 255
    ytr = load(a.data, "train-labels-idx1-ubyte", 2049)
    xte = load(a.data, "t10k-images-idx3-ubyte", 2051).astype(np.float32) / 255
    yte = load(a.data, "t10k-labels-idx1-ubyte", 2049)
    images, test_images = jax.device_put(xtr, dev), jax.device_put(xte, dev)
    targets = jax.device_put(np.eye(10, dtype=np.float32)[ytr], dev)
    labels, test_labels = jax.device_put(ytr.astype(np.int32), dev), jax.device_put(yte.astype(np.int32), dev)
    params = [(jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32))
              for w, b in init_params(0.1, [784, 1024, 1024, 10], np.random.RandomState(0))]
    order = np.random.RandomState(0)
    nb, bs = len(xtr) // 128, 128

    t0 = time.perf_counter()
    perm0 = jnp.zeros((nb, bs), jnp.int32)
    run_epoch = jit(epoch).lower(params, images, targets, perm0).compile()
    acc_train = jit(accuracy).lower(params, images, labels).compile()
    acc_test = jit(accuracy).lower(params, test_images, test_labels).compile()
    compile_s = time.perf_counter() - t0

    out = []
    for e in range(a.epochs):
        perm = order.permutation(len(xtr))[: nb * bs].reshape(nb, bs).astype(np.int32)
        t0 = time.perf_counter()
        params = run_epoch(params, images, targets, jax.device_put(perm, dev))
        jax.block_until_ready(params)
        sec = time.perf_counter() - t0
        t0 = time.perf_counter()
        tr, te = acc_train(params, images, labels), acc_test(params, test_images, test_labels)
        tr, te = float(tr), float(te)
        out.append({"epoch": e, "seconds": sec, "eval_seconds": time.perf_counter() - t0, "train_accuracy": tr,
                    "test_accuracy": te})
    print(json.dumps({"jax": jax.__version__, "device": str(dev), "precision":
                      os.environ.get("JAX_DEFAULT_MATMUL_PRECISION", "default"), "compile_seconds": compile_s,
                      "epochs": out}))


if __name__ == "__main__":
    main()
