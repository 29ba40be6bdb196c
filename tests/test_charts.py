"""test_charts.py: the pictures of training: `train --log/--plot`, `mnist plot`, `eval --confusion`
and `eval --errors`, on a small run over synthetic IDX data, checked against the numbers the
same commands print (and the log's records), not against themselves."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_numpy import as_list, forward, read_safetensors, write_idx, write_safetensors  # noqa: E402
from testlib import MNIST, ROOT, check, temp_dir, status  # noqa: E402



def png_size(path):
    raw = open(path, "rb").read()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", raw[16:24])


def main():
    tmp = temp_dir("mnist-test-charts-")
    f = lambda name: os.path.join(tmp, name)  # noqa: E731
    rng = np.random.RandomState(3)
    x = rng.randint(0, 256, size=(300, 28, 28)).astype(np.uint8)
    y = rng.randint(0, 10, size=300).astype(np.uint8)
    write_idx(f("train-images-idx3-ubyte"), x[:200], 2051)
    write_idx(f("train-labels-idx1-ubyte"), y[:200], 2049)
    write_idx(f("t10k-images-idx3-ubyte"), x[200:], 2051)
    write_idx(f("t10k-labels-idx1-ubyte"), y[200:], 2049)
    data = ["--data", tmp, "--no-verify"]
    p = subprocess.run([MNIST, "train", *data, "--layers", "784,32,10", "--batch", "10", "--epochs", "4",
                        "--validation", "50", "--log", f("log.jsonl"), "--plot", f("c.svg"), "--save", f("m.st"),
                        "--json"], capture_output=True, text=True)
    check(p.returncode == 0, "train with --log and --plot" + ("" if p.returncode == 0 else ": " + p.stderr))
    recs = [json.loads(line) for line in open(f("log.jsonl"))] if os.path.exists(f("log.jsonl")) else []
    printed = [json.loads(line) for line in p.stdout.splitlines()]
    check(len(recs) == 4 and recs == printed and all("validation_accuracy" in r for r in recs),
          "the log keeps the same 4 records that --json prints, validation included")
    svg = open(f("c.svg")).read() if os.path.exists(f("c.svg")) else ""
    # one polyline per series present: batch loss, 3 losses, 3 accuracies; 4 points each
    lines = re.findall(r"<polyline[^>]*points='([^']*)'", svg)
    check(svg.startswith("<svg") and len(lines) == 7 and all(len(l.split()) == 4 for l in lines),
          f"the chart has 7 curves of 4 epochs ({len(lines)} curves)")
    tips = re.findall(r"<title>test, epoch (\d+): ([0-9.]+)</title>", svg)
    want = [(str(r["epoch"]), f"{r['test_accuracy']:.4f}") for r in recs]
    check(tips[-4:] == want, "the chart's test-accuracy points carry the logged values")
    p = subprocess.run([MNIST, "plot", f("log.jsonl"), "--out", f("c2.svg")], capture_output=True, text=True)
    check(p.returncode == 0 and open(f("c2.svg")).read() == svg, "mnist plot draws the same chart from the log")
    # '-': the records from standard input, a pipe or a file, named so in messages (it was a file named '-':
    # "-: No such file or directory"); the log redirected to it is not written over
    with open(f("log.jsonl"), "rb") as log:
        p = subprocess.run([MNIST, "plot", "-", "--out", f("c4.svg")], input=log.read(), capture_output=True)
    check(p.returncode == 0 and os.path.exists(f("c4.svg")) and open(f("c4.svg")).read() == svg,
          f"mnist plot - draws the same chart from a pipe ({p.stderr.decode().strip()!r})")
    p = subprocess.run([MNIST, "plot", "-", "--out", f("c5.svg")], input=b'{"epoch": 0}\nnot json\n',
                       capture_output=True)
    check(p.returncode == 1 and p.stderr.decode().startswith("mnist plot: standard input: line 2 is not a record")
          and not os.path.exists(f("c5.svg")),
          f"mnist plot - names standard input in its error ({p.stderr.decode().strip()!r})")
    with open(f("log.jsonl")) as log:
        p = subprocess.run([MNIST, "plot", "-", "--out", f("log.jsonl")], stdin=log, capture_output=True, text=True)
    check(p.returncode == 2 and "is the records file itself" in p.stderr
          and open(f("log.jsonl")).read().count("\n") == 4,
          f"mnist plot - < log --out log is refused, the log kept ({p.stderr.strip()!r})")
    p = subprocess.run([MNIST, "plot", "--help"], capture_output=True, text=True)
    check("'-' reads the records from standard input" in p.stdout, "mnist plot --help says what '-' reads")
    open(f("bad.jsonl"), "w").write('{"epoch": 0}\nnot json\n')
    p = subprocess.run([MNIST, "plot", f("bad.jsonl"), "--out", f("c3.svg")], capture_output=True, text=True)
    check(p.returncode == 1 and "line 2" in p.stderr and not os.path.exists(f("c3.svg")),
          f"a malformed log is refused, naming the line: {p.stderr.strip()}")

    def plot(name, text=None):
        """mnist plot of the log f(name) (written first when text is given): (status, stderr, the
        SVG or ""), or None when it runs past the time a chart of a few records takes."""
        if text is not None:
            open(f(name), "w").write(text)
        try:
            p = subprocess.run([MNIST, "plot", f(name), "--out", f(name + ".svg")], capture_output=True, text=True,
                               timeout=5)
        except subprocess.TimeoutExpired:
            return None
        svg = open(f(name + ".svg")).read() if os.path.exists(f(name + ".svg")) else ""
        return p.returncode, p.stderr.strip(), svg

    # Values far from 1: the ticks (which stood still once the step was below the spacing of the
    # doubles) are few and tell apart, and the points lie in the panel (y 50..330).
    for name, losses in [("flat-4e15", [4e15]), ("next-double", [1e20, 1.0000000000000002e20]),
                         ("widest", [-1.7e308, 1.7e308])]:
        r = plot(name, "".join(json.dumps({"epoch": e, "loss": v}) + "\n" for e, v in enumerate(losses)))
        svg = r[2] if r else ""
        ticks = re.findall(r"text-anchor='end'>([^<]*)<", svg.split("Accuracy")[0])
        ys = [float(y) for y in re.findall(r"<circle cx='[^']*' cy='([^']*)'", svg)]
        check(r is not None and r[0] == 0 and len(svg) < 20000 and "nan" not in svg and "inf" not in svg
              and 3 <= len(ticks) <= 20 and len(set(ticks)) == len(ticks)
              and len(ys) == len(losses) and all(50 <= y <= 330 for y in ys),
              f"a chart of losses {losses} is drawn at once, with ticks {ticks}"
              + (" (plot ran past 5 s)" if r is None else f" ({len(svg)} bytes)"))
    # The legend names the curves drawn only: a run without --validation and the training set's accuracy
    # (--no-train-eval; --recipe best is both) had "train" and "validation" in it beside no line
    r = plot("test-only", "".join(json.dumps({"epoch": e, "loss": 2.0 - e, "test_loss": 1.5 - e / 2,
                                              "test_accuracy": 0.5 + e / 10}) + "\n" for e in range(3)))
    names = re.findall(r"<text x='[0-9]+' y='[0-9]+' font-size='12'>([^<]*)</text>", r[2] if r else "")
    check(r is not None and r[0] == 0 and names == ["batch loss (during the epoch)", "test"],
          f"the legend of a log with the batch loss and the test set only names those two ({names})")
    # Each series is drawn from the points it has: an accuracy whose loss is null (or missing) was left out
    # with it, and a loss whose accuracy is, likewise
    r = plot("half-pairs", '{"epoch": 0, "loss": 1, "test_loss": null, "test_accuracy": 0.5}\n'
                           '{"epoch": 1, "loss": 0.5, "test_loss": 0.4, "test_accuracy": 0.7}\n'
                           '{"epoch": 2, "loss": 0.4, "test_loss": 0.3}\n')
    loss_svg, acc_svg = (r[2] if r else "").split("Accuracy") if r and "Accuracy" in r[2] else ("", "")
    test_line = r"<polyline fill='none' stroke='#2ca02c'[^>]*points='([^']*)'"
    acc = [len(l.split()) for l in re.findall(test_line, acc_svg)]
    loss = [len(l.split()) for l in re.findall(test_line, loss_svg)]
    check(r is not None and r[0] == 0 and acc == [2] and loss == [2],
          f"a test accuracy without its loss, and a loss without its accuracy, are drawn: the accuracy's "
          f"line has 2 points ({acc}), the loss's 2 ({loss})")
    # The epoch axis's ticks are round, as the values' are: a log from epoch 7 (a run resumed there) had 7, 12, 17...
    for first, last, want in ((7, 30, ["10", "15", "20", "25", "30"]), (3, 1000, ["200", "400", "600", "800", "1000"]),
                              (0, 3, ["0", "1", "2", "3"]),
                              (999999990, 1000000000, [str(999999990 + 2 * i) for i in range(6)])):
        r = plot(f"epochs-{first}", "".join(json.dumps({"epoch": e, "loss": 1 / (e + 1)}) + "\n"
                                            for e in range(first, last + 1)))
        got = re.findall(r"text-anchor='middle'>([^<]*)</text>", r[2] if r else "")
        check(r is not None and r[0] == 0 and got == want + ["epoch"] + want + ["epoch"],
              f"a log of epochs {first} to {last}: both panels' epoch ticks are {want} ({got})")
    r = plot("infinite", '{"epoch": 0, "loss": 1}\n{"epoch": 1, "loss": 1, "test_loss": 1e999, "test_accuracy": 0.5}\n')
    check(r is not None and r[0] == 1 and "line 2" in r[1] and "test_loss" in r[1] and "finite" in r[1],
          f"a record with a number past the doubles' range is refused: {r and r[1]}")
    # The key is shown as printable ASCII: a log's terminal escapes do not reach the terminal
    r = plot("escape-key", '{"epoch": 0, "\\u001b[2J\\u001b]0;owned\\u0007": 1e999}\n')
    check(r is not None and r[0] == 1 and "line 1" in r[1] and "finite" in r[1] and "?[2J?]0;owned?" in r[1]
          and not any(ch < " " for ch in r[1]), f"a key of terminal escapes is shown without them: {r and r[1]!r}")
    r = plot("long-key", '{"epoch": 0, "' + "k" * 5000 + '": 1e999}\n')
    check(r is not None and r[0] == 1 and "k" * 48 + "..." in r[1] and len(r[1]) < 400,
          f"a long key is cut in the message: {r and len(r[1])} characters")
    # A NUL byte ended the line for the parser: a line of binary was skipped as blank, and a record
    # with a NUL and garbage after it was read as the record
    for name, text in (("nul-line", '{"epoch": 0, "loss": 1}\n\0\1\2\n'),
                       ("nul-tail", '{"epoch": 0, "loss": 1}\0garbage\n')):
        r = plot(name, text)
        check(r is not None and r[0] == 1 and "NUL" in r[1] and ("line 2" if name == "nul-line" else "line 1") in r[1]
              and not os.path.exists(f(name + ".svg")), f"a log with a NUL byte ({name}) is refused: {r and r[1]}")
    # A record of any length (it was read 4095 bytes at a time, the rest taken for a second line).
    r = plot("long", json.dumps({"epoch": 0, "loss": 0.5, "note": "x" * 10000}) + "\n" + json.dumps(recs[1]) + "\n")
    check(r is not None and r[0] == 0 and "batch loss (during the epoch), epoch 0: 0.5000" in r[2],
          "a record of 10 kB is read whole" + (f": {r[1]}" if r and r[1] else ""))
    # A line past 1 MiB is no record: it was read whole first (getline: a sparse file of zeros took
    # gigabytes), and cJSON took about 40 times its size to parse it (a 40 MB line of "0,", 1.6 GB)
    r = plot("huge", json.dumps({"epoch": 0, "loss": 0.5, "note": "x" * (1 << 20)}) + "\n")
    check(r is not None and r[0] == 1 and "huge: line 1 is longer than 1048576 bytes: not a record" in r[1]
          and not os.path.exists(f("huge.svg")), f"a line of over 1 MiB is refused: {r and r[1]}")
    # What is not a regular file is refused as every reader does: a FIFO at once (plot waited on
    # it for a writer), a folder by name (it said "read failed").
    os.mkfifo(f("fifo"))
    r = plot("fifo")
    check(r is not None and r[0] == 1 and r[1].endswith("fifo: not a regular file"),
          f"a FIFO is refused at once: {r[1] if r else 'plot waited on it'}")
    os.mkdir(f("folder"))
    r = plot("folder")
    check(r is not None and r[0] == 1 and r[1].endswith("folder: a folder, not a file"), f"a folder is refused: {r and r[1]}")
    # A run resumed from a checkpoint older than its log's end: here 0, 1, 2 and, resumed from a copy
    # of the checkpoint at epoch 2, 2 and 3. The log is cut back to the checkpoint's epochs before
    # the run appends (it held epoch 2 twice), and the chart (of plot and of train --plot alike) is
    # the last run's history: 4 epochs, from left to right.
    p = subprocess.run([MNIST, "train", *data, "--layers", "784,16,10", "--batch", "10", "--epochs", "2",
                        "--checkpoint", f("ck.st"), "--log", f("resumed")], capture_output=True, text=True)
    if os.path.exists(f("ck.st")):
        shutil.copy(f("ck.st"), f("old.st"))
        shutil.copy(f("ck.st"), f("two.st"))
    p2 = subprocess.run([MNIST, "train", *data, "--resume", f("ck.st"), "--epochs", "3", "--log", f("resumed")],
                        capture_output=True, text=True)
    p3 = subprocess.run([MNIST, "train", *data, "--resume", f("old.st"), "--epochs", "4", "--log", f("resumed"),
                         "--plot", f("trained.svg")], capture_output=True, text=True)
    logged = [json.loads(line) for line in open(f("resumed"))] if os.path.exists(f("resumed")) else []
    check(p.returncode == p2.returncode == p3.returncode == 0 and [r["epoch"] for r in logged] == [0, 1, 2, 3]
          and "dropped 1 record of epochs after the checkpoint's (from epoch 2 on)" in p3.stderr,
          f"a log resumed from an older checkpoint is cut back to it ({[r['epoch'] for r in logged]}, "
          f"{p3.stderr.strip()!r})")
    # train --resume reads its --log as plot does: a line past 1 MiB is no record of it
    with open(f("long-log"), "w") as out:
        out.write("".join(json.dumps(r) + "\n" for r in logged[:2]) + json.dumps(dict(logged[2], note="x" * (1 << 20)))
                  + "\n")
    p4 = subprocess.run([MNIST, "train", *data, "--resume", f("two.st"), "--epochs", "3", "--log", f("long-log")],
                        capture_output=True, text=True)
    check(p4.returncode == 1 and "line 3 is not a record of mnist train" in p4.stderr,
          f"train --resume refuses a --log line of over 1 MiB as no record: {p4.stderr.strip()!r}")
    r = plot("resumed")
    svg = r[2] if r else ""
    tips = re.findall(r"<title>test, epoch (\d+): ([0-9.]+)</title>", svg)
    want = [(str(r["epoch"]), f"{r['test_accuracy']:.4f}") for r in logged]
    xs = [[float(p.split(",")[0]) for p in l.split()] for l in re.findall(r"<polyline[^>]*points='([^']*)'", svg)]
    check(r is not None and r[0] == 0 and tips[-4:] == want and len(xs) == 5
          and all(len(x) == 4 and all(a < b for a, b in zip(x, x[1:])) and x[-1] - x[0] == 380 for x in xs),
          f"the chart of a resumed log is of the last run's 4 epochs, left to right ({xs[0] if xs else []})")
    check(os.path.exists(f("trained.svg")) and open(f("trained.svg")).read() == svg,
          "train --plot of the resumed run draws the same chart")
    # The same with values told apart: epochs 0..3, then 1 and 2 again, keep 0 and the later 1, 2.
    epochs = [0, 1, 2, 3, 1, 2]
    r = plot("repeated", "".join(json.dumps({"epoch": e, "loss": i + 1.0}) + "\n" for i, e in enumerate(epochs)))
    tips = re.findall(r"<title>batch loss \(during the epoch\), epoch (\d+): ([0-9.]+)</title>", r[2] if r else "")
    check(tips == [("0", "1.0000"), ("1", "5.0000"), ("2", "6.0000")],
          f"a repeated epoch replaces the records from it on ({tips})")
    # plot read 10000 records at most ("more than 10000 records"): a run of more epochs could not be drawn. It
    # reads 100000 (1.3 KB a record read, 138 MB and 1.7 s at the most), and says so of a log of one more
    for n, want in ((47000, 0), (100001, 1)):
        open(f("many.jsonl"), "w").write("".join(f'{{"epoch":{e},"loss":{1 / (e + 1)}}}\n' for e in range(n)))
        p = subprocess.run([MNIST, "plot", f("many.jsonl"), "--out", f("many.svg")], capture_output=True, text=True,
                           timeout=120)
        svg = open(f("many.svg")).read() if want == 0 and os.path.exists(f("many.svg")) else ""
        points = [len(l.split()) for l in re.findall(r"<polyline[^>]*points='([^']*)'", svg)]
        check(p.returncode == want and (points == [n] if want == 0 else
                                        p.stderr.strip() == f"mnist plot: {f('many.jsonl')}: more than 100000 records"),
              f"plot of a log of {n} records: {'drawn' if want == 0 else 'refused'} (status {p.returncode}, curves of "
              f"{points} points, {p.stderr.strip()[-200:]!r})")
    os.remove(f("many.jsonl"))
    # train --plot reads back as many records as its run wrote to --log: it read 10000 at most, so a run of
    # --epochs 10001 (a second on 10 examples) trained, wrote its log whole, then failed, "more than 10000
    # records", its chart not drawn; and so did a resumed run past it
    os.makedirs(f("long-run"), exist_ok=True)
    write_idx(f("long-run/train-images-idx3-ubyte"), x[:10], 2051)
    write_idx(f("long-run/train-labels-idx1-ubyte"), y[:10], 2049)
    write_idx(f("long-run/t10k-images-idx3-ubyte"), x[:10], 2051)
    write_idx(f("long-run/t10k-labels-idx1-ubyte"), y[:10], 2049)
    long_run = [MNIST, "train", "--data", f("long-run"), "--no-verify", "--threads", "1", "--json", "--log",
                f("long.jsonl")]
    for args, epochs in ((["--layers", "784,10", "--batch", "10", "--no-train-eval", "--checkpoint", f("long.st")],
                          10001), (["--resume", f("long.st")], 10003)):
        p = subprocess.run([*long_run, *args, "--epochs", str(epochs), "--plot", f("long.svg")], capture_output=True,
                           text=True)
        lines = sum(1 for _ in open(f("long.jsonl"))) if os.path.exists(f("long.jsonl")) else 0
        svg = open(f("long.svg")).read() if p.returncode == 0 and os.path.exists(f("long.svg")) else ""
        points = [len(l.split()) for l in re.findall(r"<polyline[^>]*points='([^']*)'", svg)]
        check(p.returncode == 0 and lines == epochs and points == [epochs] * 3,
              f"train --plot draws all {epochs} epochs of its --log ({lines} records, curves of {points} points; "
              f"{p.stderr.strip()[-200:]!r})")

    p = subprocess.run([MNIST, "eval", *data, "--model", f("m.st"), "--json"], capture_output=True, text=True)
    conf = json.loads(p.stdout)["confusion"]
    p = subprocess.run([MNIST, "eval", *data, "--model", f("m.st"), "--confusion", f("conf.svg"),
                        "--errors", f("err.png")], capture_output=True, text=True)
    check(p.returncode == 0, "eval with --confusion and --errors" + ("" if p.returncode == 0 else ": " + p.stderr))
    cells = re.findall(r"<title>true (\d), predicted (\d): (\d+)</title>", open(f("conf.svg")).read())
    grid = [[0] * 10 for _ in range(10)]
    for t, q, n in cells:
        grid[int(t)][int(q)] = int(n)
    check(len(cells) == 100 and grid == conf, "the heat map's 100 cells are the confusion matrix eval prints")
    wrong = 100 - sum(conf[i][i] for i in range(10))
    w, h = png_size(f("err.png"))
    rows = (min(wrong, 100) + 9) // 10
    check(w == 4 + min(wrong, 10) * 60 and h == 4 + rows * 74,
          f"the errors picture is a grid of the {wrong} misread images ({w}x{h})")
    # and its cells are those images, in order: the ones numpy's forward pass (float64) misreads
    tensors, _ = read_safetensors(f("m.st"))
    _, logp = forward(as_list(tensors, 2), (x[200:].reshape(100, 784).astype(np.float32) / 255).astype(np.float64))
    top2 = np.sort(logp, axis=1)[:, -2:]
    misread = [i for i in range(100) if logp[i].argmax() != y[200 + i]]
    g = np.array(Image.open(f("err.png")).convert("RGB"))
    # cells of 56x56 (two pixels a pixel), 60 apart, rows of 10 with their 14-pixel label strips: 74 apart
    cells = [g[4 + 74 * (k // 10):60 + 74 * (k // 10), 4 + 60 * (k % 10):60 + 60 * (k % 10), 0]
             for k in range(len(misread))]
    same = len(misread) == wrong and all(np.array_equal(c, np.kron(x[200 + i], np.ones((2, 2), np.uint8)))
                                         for c, i in zip(cells, misread))
    # (the closest call's margin, printed: a near tie in float32 could go the other way)
    check(same, f"the errors picture shows the misread test images themselves, in order ({len(misread)} by numpy; "
          f"smallest top-two margin {float((top2[:, 1] - top2[:, 0]).min()):.2g})")
    # A tie in the probabilities that the log-probabilities break: classes 0 and 1 have biases one step
    # of float32 apart (0.3125 and the next float but one), the rest -30, every weight 0: their
    # log-probabilities differ by one step, their probabilities round to 0.5 both. The matrix takes
    # class 1, the larger log-probability; --errors took class 0, the first of the tied probabilities,
    # and drew every image as misread.
    os.makedirs(f("tie"), exist_ok=True)
    write_idx(f("tie/train-images-idx3-ubyte"), np.zeros((2, 28, 28), np.uint8), 2051)
    write_idx(f("tie/train-labels-idx1-ubyte"), np.ones(2, np.uint8), 2049)
    write_idx(f("tie/t10k-images-idx3-ubyte"), np.zeros((3, 28, 28), np.uint8), 2051)
    write_idx(f("tie/t10k-labels-idx1-ubyte"), np.ones(3, np.uint8), 2049)
    bias = np.full(10, -30.0, np.float32)
    bias[0], bias[1] = 0.3125, float.fromhex("0x1.400004p-2")
    write_safetensors(f("tie.st"), {"layers.0.kernel": np.zeros((784, 10), np.float32), "layers.0.bias": bias},
                      {"layers": "784,10", "activation": "tanh"})
    tie = ["eval", "--data", f("tie"), "--no-verify", "--model", f("tie.st")]
    p = subprocess.run([MNIST, *tie, "--json"], capture_output=True, text=True)
    check(p.returncode == 0 and json.loads(p.stdout)["accuracy"] == 1,
          "the tie: every test image read as class 1 by the matrix" + ("" if p.returncode == 0 else ": " + p.stderr))
    p = subprocess.run([MNIST, *tie, "--errors", f("tie.png")], capture_output=True, text=True)
    check(p.returncode == 0 and "every test image right" in p.stderr and not os.path.exists(f("tie.png")),
          f"and --errors, over the same log-probabilities, finds none misread: {p.stderr.strip()}")

    # A model trained with --dataset fashion names its classes in eval and predict.
    p = subprocess.run([MNIST, "train", *data, "--dataset", "fashion", "--layers", "784,16,10", "--batch", "10",
                        "--epochs", "1", "--save", f("fashion.st")], capture_output=True, text=True)
    e = subprocess.run([MNIST, "eval", *data, "--model", f("fashion.st")], capture_output=True, text=True)
    q = subprocess.run([MNIST, "predict", "--model", f("fashion.st"), "--json",
                        os.path.join(ROOT, "samples", "5-app.png")], capture_output=True, text=True)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    r = json.loads(q.stdout) if q.returncode == 0 else {}
    check(p.returncode == 0 and "Ankle boot" in e.stdout and r.get("class") == names[r.get("digit", 0)],
          f"a Fashion-MNIST model names its classes in eval and predict ({r.get('class')})")
    return status()


if __name__ == "__main__":
    sys.exit(main())
