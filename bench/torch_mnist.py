"""torch_mnist.py: the lab's recipe in PyTorch, for a side-by-side benchmark.

Same network (784-1024-1024-10, tanh, log-softmax, mean NLL), same init (numpy RandomState(0),
0.1 * randn, W then b per layer), same batch order (a second RandomState(0), one permutation
per epoch, 468 batches of 128), plain SGD lr 0.001, written the idiomatic way (autograd, an
optimizer, a loop over batches). Prints one JSON object: seconds per epoch (training pass
alone), accuracies, threads, peak memory.

usage: torch_mnist.py DATA_DIR [--epochs N] [--threads N]
"""
import argparse
import json
import os
import resource
import time

import numpy as np
import torch

from idx import load  # bench/idx.py: this script's folder is on sys.path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    xtr = torch.from_numpy(load(a.data, "train-images-idx3-ubyte", 2051).astype(np.float32) / 255)
    ytr = torch.from_numpy(load(a.data, "train-labels-idx1-ubyte", 2049).astype(np.int64))
    xte = torch.from_numpy(load(a.data, "t10k-images-idx3-ubyte", 2051).astype(np.float32) / 255)
    yte = torch.from_numpy(load(a.data, "t10k-labels-idx1-ubyte", 2049).astype(np.int64))

    sizes, rng = [784, 1024, 1024, 10], np.random.RandomState(0)
    layers = []
    for m, n in zip(sizes[:-1], sizes[1:]):
        lin = torch.nn.Linear(m, n)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy((0.1 * rng.randn(m, n)).astype(np.float32).T))
            lin.bias.copy_(torch.from_numpy((0.1 * rng.randn(n)).astype(np.float32)))
        layers += [lin, torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers[:-1], torch.nn.LogSoftmax(dim=1))
    opt = torch.optim.SGD(model.parameters(), lr=0.001)
    order = np.random.RandomState(0)
    nb, bs = len(xtr) // 128, 128

    def accuracy(x, y):
        with torch.no_grad():
            return (model(x).argmax(1) == y).float().mean().item()

    out = []
    for epoch in range(a.epochs):
        perm = torch.from_numpy(order.permutation(len(xtr)))
        t0 = time.perf_counter()
        for i in range(nb):
            idx = perm[i * bs:(i + 1) * bs]
            opt.zero_grad()
            loss = torch.nn.functional.nll_loss(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        sec = time.perf_counter() - t0
        out.append({"epoch": epoch, "seconds": sec, "train_accuracy": accuracy(xtr, ytr),
                    "test_accuracy": accuracy(xte, yte)})
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "epochs": out,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
