"""test_numpy.py: the C program against numpy, computed independently in float64.

- the lab's init (numpy RandomState(0), W then b per layer, scale * randn) bit for bit;
- one SGD step of the lab's recipe on a tiny dataset: batch from RandomState(0).permutation,
  forward, backward and update worked in numpy, against the C model after that step;
- model files: read here with a reader written from the safetensors spec, and a file written here
  is loaded and evaluated by the C program.
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

from testlib import MNIST, check, temp_dir, status  # noqa: E402


def run(*args):
    p = subprocess.run([MNIST, *args], capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout + p.stderr)
    return p


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        assert t["dtype"] == "F32"
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype="<f4").reshape(t["shape"])
    return out, meta


def write_safetensors(path, tensors, meta):
    header, offset, blobs = {"__metadata__": meta}, 0, []
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_idx(path, arr, magic):
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes())


def lab_init(scale, sizes, seed=0):
    rng = np.random.RandomState(seed)
    return [(scale * rng.randn(m, n), scale * rng.randn(n)) for m, n in zip(sizes[:-1], sizes[1:])]


def forward(params, x):
    acts = [x]
    for w, b in params[:-1]:
        acts.append(np.tanh(acts[-1] @ w + b))
    w, b = params[-1]
    z = acts[-1] @ w + b
    m = z.max(axis=1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    return acts, logp


def sgd_step(params, x, y, lr):
    acts, logp = forward(params, x)
    n = x.shape[0]
    onehot = np.eye(10)[y]
    loss = -np.mean(np.sum(logp * onehot, axis=1))
    dz = (np.exp(logp) - onehot) / n
    new = [None] * len(params)
    for l in reversed(range(len(params))):
        w, b = params[l]
        dw, db = acts[l].T @ dz, dz.sum(axis=0)
        if l > 0:
            dz = (dz @ w.T) * (1 - acts[l] ** 2)
        new[l] = (w - lr * dw, b - lr * db)
    return new, loss


def as_list(tensors, nl):
    return [(tensors[f"layers.{i}.kernel"].astype(np.float64), tensors[f"layers.{i}.bias"].astype(np.float64))
            for i in range(nl)]


def main():
    tmp = temp_dir("mnist-test-numpy-")
    rng = np.random.RandomState(42)
    train_x = rng.randint(0, 256, size=(6, 28, 28)).astype(np.uint8)
    train_y = rng.randint(0, 10, size=6).astype(np.uint8)
    test_x = rng.randint(0, 256, size=(5, 28, 28)).astype(np.uint8)
    test_y = rng.randint(0, 10, size=5).astype(np.uint8)
    write_idx(os.path.join(tmp, "train-images-idx3-ubyte"), train_x, 2051)
    write_idx(os.path.join(tmp, "train-labels-idx1-ubyte"), train_y, 2049)
    write_idx(os.path.join(tmp, "t10k-images-idx3-ubyte"), test_x, 2051)
    write_idx(os.path.join(tmp, "t10k-labels-idx1-ubyte"), test_y, 2049)
    data = ["--data", tmp, "--no-verify"]

    # 1. The lab's init, bit for bit, at the lab's full size.
    init = os.path.join(tmp, "init.safetensors")
    p = run("train", *data, "--epochs", "0", "--save", init)
    check(p.returncode == 0, "mnist train --epochs 0 --save writes the initial model")
    got, meta = read_safetensors(init)
    want = lab_init(0.1, [784, 1024, 1024, 10])
    same = all(np.array_equal(got[f"layers.{i}.kernel"], w.astype(np.float32)) and
               np.array_equal(got[f"layers.{i}.bias"], b.astype(np.float32)) for i, (w, b) in enumerate(want))
    check(same and len(got) == 6, "the initial model equals numpy's RandomState(0) init bit for bit (6 tensors)")
    check(meta.get("layers") == "784,1024,1024,10" and meta.get("activation") == "tanh",
          f"the model file's metadata names layers and activation: {meta}")

    # 2. One SGD step: 6 examples, batch 4, so one step per epoch on perm[:4].
    sizes, lr, scale = [784, 32, 16, 10], 0.5, 0.2
    p = run("train", *data, "--layers", ",".join(map(str, sizes)),
            "--batch", "4", "--epochs", "1", "--lr", str(lr), "--init-scale", str(scale), "--seed", "0",
            "--json", "--save", os.path.join(tmp, "step.safetensors"))
    check(p.returncode == 0, "one SGD step of a 784-32-16-10 network runs")
    rec = json.loads(p.stdout.strip().splitlines()[-1])
    params = [(w.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64))
              for w, b in lab_init(scale, sizes)]
    perm = np.random.RandomState(0).permutation(6)[:4]
    x = (train_x.reshape(6, 784).astype(np.float32) / 255).astype(np.float64)
    new, loss = sgd_step(params, x[perm], train_y[perm], lr)
    got, _ = read_safetensors(os.path.join(tmp, "step.safetensors"))
    got = as_list(got, 3)
    moved = max(np.abs(nw - w).max() for (nw, _), (w, _) in zip(new, params))
    worst = max(max(np.abs(gw - nw).max(), np.abs(gb - nb).max()) for (gw, gb), (nw, nb) in zip(got, new))
    # float32 sums of up to 784 products of values < 1: ~1e-6; the step moves weights by ~1e-2
    check(moved > 1e-3 and worst < 2e-5,
          f"the C model after one SGD step matches numpy's (largest difference {worst:.2g}, step {moved:.2g})")
    check(abs(rec["loss"] - loss) < 1e-5, f"the step's loss {rec['loss']:.6f} matches numpy's {loss:.6f}")
    _, lp_tr = forward(new, x)
    _, lp_te = forward(new, (test_x.reshape(5, 784).astype(np.float32) / 255).astype(np.float64))
    acc_tr = np.mean(lp_tr.argmax(1) == train_y)
    acc_te = np.mean(lp_te.argmax(1) == test_y)
    check(abs(rec["train_accuracy"] - acc_tr) < 1e-9 and abs(rec["test_accuracy"] - acc_te) < 1e-9,
          f"train/test accuracy {rec['train_accuracy']}/{rec['test_accuracy']} match numpy's {acc_tr}/{acc_te}")
    # the losses after the step tell the test set's numbers apart where its accuracy is 0 before and after:
    # float32 sums of up to 784 products, ~1e-6
    loss_tr = -np.mean(lp_tr[np.arange(6), train_y])
    loss_te = -np.mean(lp_te[np.arange(5), test_y])
    check(abs(rec.get("train_loss", np.inf) - loss_tr) < 1e-5 and abs(rec.get("test_loss", np.inf) - loss_te) < 1e-5,
          f"train/test loss after the step {rec.get('train_loss')}/{rec.get('test_loss')} match numpy's "
          f"{loss_tr:.6f}/{loss_te:.6f}")

    # The same run as text, as the lab prints it: its accuracies are numpy's above, to 4 digits.
    p = run("train", *data, "--layers", ",".join(map(str, sizes)),
            "--batch", "4", "--epochs", "1", "--lr", str(lr), "--init-scale", str(scale), "--seed", "0")
    text = [line for line in p.stdout.splitlines() if "accuracy:" in line]
    check(p.returncode == 0 and text == [f"Training accuracy: {acc_tr:.4f}", f"Test accuracy:     {acc_te:.4f}"],
          f"the text output's training and test accuracy lines are numpy's ({acc_tr:.4f}, {acc_te:.4f}): {text}")

    # 2b. --validation 2 holds out the last 2 of the 6 training examples: one step on the first 4
    # (RandomState(0).permutation(4)), and the validation numbers are those of examples 4 and 5.
    p = run("train", *data, "--layers", ",".join(map(str, sizes)), "--validation", "2",
            "--batch", "4", "--epochs", "1", "--lr", str(lr), "--init-scale", str(scale), "--seed", "0",
            "--json", "--save", os.path.join(tmp, "valid.safetensors"))
    check(p.returncode == 0, "one SGD step with --validation 2 runs")
    rec = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {}
    perm = np.random.RandomState(0).permutation(4)
    new, loss = sgd_step(params, x[perm], train_y[perm], lr)
    got, _ = read_safetensors(os.path.join(tmp, "valid.safetensors")) if p.returncode == 0 else ({}, {})
    worst = max(max(np.abs(gw - nw).max(), np.abs(gb - nb).max())
                for (gw, gb), (nw, nb) in zip(as_list(got, 3), new)) if got else np.inf
    # as for the step above: float32 sums of up to 784 products, ~1e-6
    check(worst < 2e-5, f"--validation 2: the step is taken on the first 4 examples only, as numpy's "
          f"(largest difference {worst:.2g})")
    _, lp_va = forward(new, x[4:6])
    va_loss = -np.mean(lp_va[np.arange(2), train_y[4:6]])
    va_acc = np.mean(lp_va.argmax(1) == train_y[4:6])
    # the validation examples' mean loss in float32 against float64: sums of 784 products, ~1e-6
    check(abs(rec.get("validation_loss", np.inf) - va_loss) < 1e-5 and
          abs(rec.get("validation_accuracy", -1) - va_acc) < 1e-9 and
          abs(rec.get("train_accuracy", -1) - np.mean(forward(new, x[:4])[1].argmax(1) == train_y[:4])) < 1e-9,
          f"validation loss {rec.get('validation_loss')} and accuracy {rec.get('validation_accuracy')} are those of "
          f"training examples 4 and 5 (numpy {va_loss:.6f}, {va_acc}); train accuracy of the first 4")

    # 3. A model written here (an independent writer, tensors in another order) is read by mnist eval.
    rng = np.random.RandomState(5)
    mine = {"layers.1.bias": rng.randn(10) * 0.1, "layers.0.kernel": rng.randn(784, 20) * 0.1,
            "layers.1.kernel": rng.randn(20, 10) * 0.5, "layers.0.bias": rng.randn(20) * 0.1}
    mine = {k: v.astype(np.float32) for k, v in mine.items()}
    path = os.path.join(tmp, "numpy.safetensors")
    write_safetensors(path, mine, {"layers": "784,20,10", "activation": "tanh"})
    p = run("eval", *data, "--model", path, "--json")
    check(p.returncode == 0, "mnist eval reads a model file written by numpy")
    if p.returncode == 0:
        r = json.loads(p.stdout)
        _, lp = forward(as_list(mine, 2), (test_x.reshape(5, 784).astype(np.float32) / 255).astype(np.float64))
        loss = -np.mean(lp[np.arange(5), test_y])
        conf = np.zeros((10, 10), int)
        for t, q in zip(test_y, lp.argmax(1)):
            conf[t, q] += 1
        check(abs(r["loss"] - loss) < 1e-5 and r["confusion"] == conf.tolist() and
              abs(r["accuracy"] - np.mean(lp.argmax(1) == test_y)) < 1e-9,
              f"its loss {r['loss']:.6f} (numpy {loss:.6f}), accuracy and confusion matrix match numpy's")

    # 5. Two digits' probabilities that round to one float32, where exact arithmetic (numpy, float64)
    # puts 5 above 3 by its bias: predict names 5 as eval does, ranking by log-probability (it
    # ranked the rounded probabilities and named 3, the first of the tie).
    bias = np.full(10, -2.53, np.float32)
    bias[3], bias[5] = 0, 2.0**-24
    path = os.path.join(tmp, "tie.safetensors")
    write_safetensors(path, {"layers.0.kernel": np.zeros((784, 10), np.float32), "layers.0.bias": bias},
                      {"layers": "784,10"})
    b64 = bias.astype(np.float64)
    exact = int(np.argmax(b64 - np.log(np.exp(b64).sum())))
    image = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "2-marker.png")
    p, q = run("predict", "--json", "--model", path, image), run("eval", *data, "--model", path, "--json")
    r = json.loads(p.stdout) if p.returncode == 0 else {}
    e = json.loads(q.stdout) if q.returncode == 0 else {}
    tie = r.get("probabilities", [0] * 10)
    column = [row[exact] for row in e.get("confusion", [[0] * 10])]
    check(exact == 5 and tie[3] == tie[5] and r.get("digit") == exact and sum(column) == 5,
          f"a tie of rounded probabilities ({tie[3]} and {tie[5]}): predict names {r.get('digit')}, "
          f"numpy's float64 argmax {exact}; eval reads all 5 test images as {exact} ({sum(column)})")
    return status()


if __name__ == "__main__":
    sys.exit(main())
