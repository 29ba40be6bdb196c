"""test_faults.py: the command on bad input. Every bad flag, data file and model file is answered
with exit status 2 (usage) or 1 (the rest) and one line on stderr that names the flag or the file
and the problem; a save that fails on a full disk keeps the previous model file; the JSON printed
is JSON even when a model's sums overflow, and no digit is read from its NaN probabilities. Runs
$MNIST_BIN on tiny data sets made here: nothing is downloaded."""
import gzip
import json
import math
import re
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

from testlib import MNIST, ROOT, check, shim, status

SAMPLE = os.path.join(ROOT, "samples", "3-blue-pen.png")
NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def run(*args, limit_bytes=None, timeout=120):
    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, resource.RLIM_INFINITY))
    try:
        return subprocess.run([MNIST, *args], capture_output=True, text=True, timeout=timeout,
                              preexec_fn=limited if limit_bytes else None)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, -1, "", f"(still running after {timeout} s: killed)")


def refused(label, p, status, *needles):
    """p exited with status and printed one line on stderr holding every needle."""
    err = p.stderr.strip()
    ok = p.returncode == status and err and "\n" not in err and all(n in err for n in needles)
    check(ok, f"{label}: exit {p.returncode} (want {status}), stderr: {err!r}")


def idx(magic, dims, body):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(body)


def dataset(folder, side=28, n_train=6, n_test=5):
    os.makedirs(folder, exist_ok=True)
    px = side * side
    files = [idx(2051, [n_train, side, side], [(i * 37) % 256 for i in range(n_train * px)]),
             idx(2049, [n_train], [i % 10 for i in range(n_train)]),
             idx(2051, [n_test, side, side], [(i * 11) % 256 for i in range(n_test * px)]),
             idx(2049, [n_test], [(3 * i) % 10 for i in range(n_test)])]
    for name, b in zip(NAMES, files):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(b)
    return files


def safetensors(path, sizes, header_len=None, cut=0, value=0.01, poison=None, spread=False):
    """A model file whose floats are all value, but poison = (tensor name, index, float) when given; with spread,
    each float is value times one of 201 steps from -1 to 1 (a model that answers each input its own way)."""
    header, off, blobs = {"__metadata__": {"layers": ",".join(map(str, sizes))}}, 0, []
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        for name, shape in ((f"layers.{i}.kernel", [m, n]), (f"layers.{i}.bias", [n])):
            count = shape[0] * (shape[1] if len(shape) > 1 else 1)
            v = [value * ((k * 7919) % 201 - 100) / 100 for k in range(count)] if spread else [value] * count
            if poison and poison[0] == name:
                v[poison[1]] = poison[2]
            b = struct.pack(f"<{count}f", *v)
            header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
            off += len(b)
            blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    raw = struct.pack("<Q", len(h) if header_len is None else header_len) + h + b"".join(blobs)
    with open(path, "wb") as f:
        f.write(raw[:len(raw) - cut])


def test_flags(tmp, data):
    d = ["--data", data, "--no-verify"]
    for args, needle in (
            (["train", "--batch", "-1"], "--batch"),
            (["train", "--epochs", "1e3"], "--epochs"),
            (["train", "--epochs", "99999999999"], "--epochs"),
            (["train", "--seed", "4294967296"], "--seed"),
            (["train", "--lr", "nan"], "--lr"),
            (["train", "--lr", "inf"], "--lr"),
            (["train", "--lr", "-0.1"], "--lr"),
            (["train", "--init-scale", "1e400"], "--init-scale"),
            # a number past the flag's range is said to be too large, not "not a valid number"
            (["train", "--lr", "1e31"], "--lr '1e31' is too large (at most 1e30)"),
            (["train", "--epochs", "99999999999999999999"], "too large (at most 1073741824)"),
            (["train", "--seed", "99999999999999999999"], "too large (at most 4294967295)"),
            (["predict", "--top", "99999999999999999"], "--top '99999999999999999' is too large"),
            (["train", "--threads", "x"], "--threads"),
            (["train", "--threads", "100000"], "--threads '100000' is too large (at most 256)"),
            (["train", "--no-graph"], "--no-graph"),
            # a flag of another optimizer or init than the run's did nothing, silently
            (["train", "--nesterov"], "--nesterov is for --optimizer momentum (this run's is sgd)"),
            (["train", "--optimizer", "adam", "--momentum", "0.5"], "--momentum is for --optimizer momentum"),
            (["train", "--init", "he", "--init-scale", "0.5"], "--init-scale is for --init lab (this run's is he)"),
            (["eval", "--model", "m.safetensors", "--threads", "100000"], "--threads"),
            # two flags that are none of their choices: the first said, one line (each said its own)
            (["train", "--activation", "adam", "--schedule", "1e3", "--device", "gpu"],
             "--schedule '1e3' is not one of: constant cosine step"),
            (["train", "--layers", "784,,10"], "--layers"),
            (["train", "--layers", "784"], "--layers"),
            (["train", "--layers", "784,0,10"], "--layers"),
            (["train", "--layers", "784,5000000,10"], "--layers"),
            (["train", "--layers", "784,1,2,3,4,5,6,7,8,10"], "--layers"),
            (["train", "--layers", "784,64,5"], "the last size must be 10"),
            (["train", "--save", ""], "--save"),
            (["train", "--data="], "--data"),
            (["train", "--json=1"], "--json"),
            (["train", "--frob"], "--frob"),
            (["train", "extra"], "extra"),
            (["eval"], "--model"),
            (["eval", "--model", ""], "--model"),
            (["fetch", "--mirror", ""], "--mirror"),
            (["frobnicate"], "frobnicate")):
        p = run(*args, *d) if args[0] != "frobnicate" else run(*args)
        refused(f"usage error {' '.join(args)}", p, 2, needle)
    # --help (and -h) is answered wherever it stands before a bad flag, with status 0 and the usage on
    # stdout: train read --recipe before the other flags and refused an unknown one even after --help
    for args in (["train", "--help", "--recipe", "foo"], ["train", "--recipe", "foo", "-h"],
                 ["eval", "--dataset", "foo", "--help"], ["predict", "-h", "--top", "0"], ["show", "--help"],
                 ["fetch", "--help"], ["plot", "--help"], ["serve", "--help"]):
        p = run(*args)
        check(p.returncode == 0 and p.stdout.startswith(f"usage: mnist {args[0]} ") and p.stderr == "",
              f"{' '.join(args)}: the usage, status 0 (status {p.returncode}, stderr {p.stderr.strip()!r})")
        # every flag's help begins in one column, two spaces at least after the widest flag (train's
        # "--optimizer sgd|momentum|adam default sgd" ran into its help)
        columns = {m and m.end() for m in (re.search(r"^  --\S*( \S+)?  +", line)
                                           for line in p.stdout.splitlines() if line.startswith("  --"))}
        flags_n = sum(line.startswith("  --") for line in p.stdout.splitlines())
        check(len(columns) == 1 and flags_n > 1, f"{args[0]} --help: the flags' help in one column ({sorted(columns, key=str)})")
    refused("usage error train --recipe foo", run("train", "--recipe", "foo"), 2, "--recipe 'foo'")
    p, q = run("help", "eval"), run("eval", "--help")
    check(p.returncode == 0 and p.stdout == q.stdout and p.stdout.startswith("usage: mnist eval "),
          f"mnist help eval says what mnist eval --help says (status {p.returncode}: {p.stdout[:40]!r})")
    refused("usage error help trian", run("help", "trian"), 2, "unknown command 'trian'")
    # a network over the parameters' limit: refused naming the flag (it said only "a model of ... parameters"),
    # as a usage error (it exited 1, as out of memory does)
    refused("train --layers 784,65536,65536,10", run("train", *d, "--layers", "784,65536,65536,10"), 2,
            "--layers '784,65536,65536,10'", "over the limit")
    # a typo of a flag or a command is answered with the name meant; another word is not
    for args, needle in ((["eval", "--modle", "m.safetensors"], "unknown flag '--modle': did you mean --model?"),
                         (["train", "--epoch=3"], "did you mean --epochs?"),
                         (["train", "-lr", "0.1"], "did you mean --lr?"),
                         (["trian"], "unknown command 'trian': did you mean train?")):
        refused(f"usage error {' '.join(args)}", run(*args), 2, needle)
    p = run("train", "--learning-rate", "0.1")
    refused("usage error train --learning-rate", p, 2, "unknown flag '--learning-rate'")
    check("did you mean" not in p.stderr, f"train --learning-rate: no flag is a likely typo of it: {p.stderr.strip()}")
    p = run("train", *d, "--lr")  # a flag without its value at the end
    refused("usage error: --lr with no value", p, 2, "--lr")


def test_data(tmp):
    good = os.path.join(tmp, "good")
    files = dataset(good)

    def bad_folder(label, index, content, *needles, verify=False):
        folder = os.path.join(tmp, "bad-" + label.replace(" ", "-"))
        shutil.copytree(good, folder)
        path = os.path.join(folder, NAMES[index])
        if content is None:
            os.remove(path)
        else:
            with open(path, "wb") as f:
                f.write(content)
        p = run("train", "--data", folder, *([] if verify else ["--no-verify"]), "--epochs", "1", "--batch", "2",
                "--layers", "784,8,10")
        refused(f"train on {label}", p, 1, path if content is not None else NAMES[index], *needles)

    img, lab = files[0], files[1]
    bad_folder("a truncated images file", 0, img[:-1], "truncated")
    bad_folder("an images file with trailing bytes", 0, img + b"\0", "trailing bytes")
    bad_folder("a wrong magic number", 0, b"\x00\x00\x08\x04" + img[4:], "bad magic number")
    bad_folder("labels given as images", 0, lab, "labels")
    bad_folder("a header cut short", 0, img[:10], "truncated IDX header")
    bad_folder("an empty images file", 0, b"", "not an IDX file")
    bad_folder("a count of 2^32-1 images", 0, idx(2051, [0xFFFFFFFF, 28, 28], b""), "implausible count")
    bad_folder("a count whose bytes are missing", 0, idx(2051, [1000000, 28, 28], img[16:]), "truncated")
    bad_folder("an image side of 100000", 0, idx(2051, [1, 100000, 100000], b""), "implausible image size")
    bad_folder("a label of 10", 1, idx(2049, [6], [1, 2, 10, 3, 4, 5]), "label 10")
    bad_folder("fewer labels than images", 1, idx(2049, [5], [1, 2, 3, 4, 5]), "5 labels")
    bad_folder("a corrupt gzip stream", 0, b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xde\xad\xbe\xef" * 3, "cannot read")
    bad_folder("a gzip file cut short", 0, gzip.compress(img)[:100], "truncated")
    bad_folder("garbage after a gzip stream", 0, gzip.compress(img) + b"junk", "trailing data after the gzip stream")
    bad_folder("a missing labels file", 1, None, "not found")
    folder = os.path.join(tmp, "fifo-data")
    shutil.copytree(good, folder)
    path = os.path.join(folder, NAMES[2])
    os.remove(path)
    os.mkfifo(path)  # opening it would wait for a writer forever
    p = run("train", "--data", folder, "--no-verify", "--epochs", "1", "--layers", "784,8,10", timeout=20)
    refused("train with a FIFO for test images", p, 1, path, "not a regular file")
    os.remove(path)
    os.mkdir(path)  # every reader says the same of a folder (plot said "Is a directory", the rest "not a regular file")
    p = run("train", "--data", folder, "--no-verify", "--epochs", "1", "--layers", "784,8,10", timeout=20)
    refused("train with a folder for test images", p, 1, path, "a folder, not a file")
    # verified: the header must promise MNIST's size before the rest is read (a small .gz can
    # inflate to gigabytes), then the content must hash to MNIST's
    # (a subset or data of the user's own: the line says that --no-verify reads them, where it only said
    # to delete them and fetch)
    bad_folder("data of another size than MNIST's (verified)", 0, img, "promises 6 images (4720 bytes)",
               "47040016 bytes", "your own IDX data, a subset: --no-verify reads it as it is", verify=True)
    bad_folder("data that are not MNIST (SHA-256)", 0, idx(2051, [60000, 28, 28], bytes(60000 * 784)), "SHA-256",
               "--no-verify reads it", verify=True)

    # MNIST's own files read as Fashion-MNIST (--dataset fashion, or a model of it, on MNIST's folder):
    # the error named them damaged and said to delete them; it names the dataset they are instead.
    real = os.environ.get("MNIST_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "mnist")
    have = all(os.path.exists(os.path.join(real, n)) or os.path.exists(os.path.join(real, n + ".gz")) for n in NAMES)
    check(have, f"MNIST is in {real} (make data)")
    if have:
        p = run("train", "--dataset", "fashion", "--data", real, "--epochs", "0")
        refused("train --dataset fashion on MNIST's files", p, 1, "train-images-idx3-ubyte",
                "this is the mnist dataset's train-images-idx3-ubyte", "not the fashion dataset's",
                "--dataset mnist reads this folder")
        check("delete" not in p.stderr, f"and it does not say to delete them: {p.stderr.strip()}")
        # MNIST's test images cut short (a download or a copy stopped early), or a byte of them changed: damaged,
        # and said so with what to do, as a SHA-256 that differs is ("cannot read: incorrect data check" said
        # neither); with --no-verify, the user's own data, nothing is said of deleting
        cut = os.path.join(tmp, "cut-mnist")
        os.makedirs(cut)
        for n in NAMES[2:]:
            src = os.path.join(real, n + ".gz") if os.path.exists(os.path.join(real, n + ".gz")) else None
            body = open(src, "rb").read() if src else gzip.compress(open(os.path.join(real, n), "rb").read())
            with open(os.path.join(cut, n + ".gz"), "wb") as f:
                f.write(body)
        images = os.path.join(cut, NAMES[2] + ".gz")
        whole = open(images, "rb").read()
        model = os.path.join(tmp, "cut-784.safetensors")
        safetensors(model, [784, 10])
        for label, body, needle in (("cut short", whole[:len(whole) // 2], "truncated gzip stream"),
                                    ("with a byte changed", whole[:len(whole) // 2] + bytes([whole[len(whole) // 2] ^ 0xff])
                                     + whole[len(whole) // 2 + 1:], "cannot read")):
            with open(images, "wb") as f:
                f.write(body)
            p = run("eval", "--data", cut, "--model", model)
            refused(f"eval on MNIST's test images {label}", p, 1, images, needle,
                    "; the file is damaged: 'mnist fetch' sets it aside and fetches it again")
            p = run("eval", "--data", cut, "--no-verify", "--model", model)
            refused(f"eval --no-verify on MNIST's test images {label}", p, 1, images, needle)
            check("delete" not in p.stderr, f"and it does not say to delete them: {p.stderr.strip()}")

    # Images of another size than the network takes: refused before training, naming the file.
    small = os.path.join(tmp, "small")
    dataset(small, side=20)
    p = run("train", "--data", small, "--no-verify", "--epochs", "1")
    refused("train on 20x20 images with 784 inputs", p, 1, os.path.join(small, NAMES[0]), "20x20 = 400 pixels",
            "784 inputs")
    check("Epoch" not in p.stdout, "...before any training")
    ck400 = os.path.join(tmp, "400.ckpt")
    p = run("train", "--data", small, "--no-verify", "--epochs", "1", "--layers", "400,16,10", "--batch", "2",
            "--checkpoint", ck400)
    check(p.returncode == 0, f"20x20 images train a network with 400 inputs: {p.stderr.strip()}")
    # resumed on 28x28 images, the network is the checkpoint's (not the --layers of the recipe)
    p = run("train", "--data", good, "--no-verify", "--resume", ck400, "--epochs", "2")
    refused("train --resume of a 400-input checkpoint on 28x28 images", p, 1, os.path.join(good, NAMES[0]),
            "28x28 = 784 pixels", f"the network of {ck400}, which takes 400 inputs")
    check("Resuming" not in p.stdout, "...before the banner")
    model = os.path.join(tmp, "784.safetensors")
    safetensors(model, [784, 10])
    p = run("eval", "--data", small, "--no-verify", "--model", model)
    refused("eval of a 784-input model on 20x20 images", p, 1, os.path.join(small, NAMES[2]), model, "784 inputs")
    # --errors draws 28x28 images: a model of 400 inputs on them is evaluated, but its picture refused
    # (the images were read 784 bytes at a time, past the end of the last: garbage drawn, or a crash)
    png = os.path.join(tmp, "errors-400.png")
    refused("eval --errors on 20x20 images", run("eval", "--data", small, "--no-verify", "--model", ck400, "--errors",
                                                 png), 1, f"--errors {png}", "20x20, not 28x28")
    check(not os.path.exists(png), "...and writes no picture")
    p = run("eval", "--data", small, "--no-verify", "--model", ck400)
    check(p.returncode == 0, f"...where eval alone reads them: {p.stderr.strip()}")
    # 14x56 images (784 pixels): --shift and --flip move square ones only. Refused before the banner (it
    # was after it, status 1), and --epochs 0 writes no checkpoint that every resume of it refused
    wide = os.path.join(tmp, "wide")
    os.makedirs(wide)
    for name, b in zip(NAMES, dataset(os.path.join(tmp, "wide-src"))):
        with open(os.path.join(wide, name), "wb") as f:
            f.write(idx(2051, [struct.unpack(">I", b[4:8])[0], 14, 56], b[16:]) if b[3] == 3 else b)
    for flag in ("--shift", "--flip"):
        p = run("train", "--data", wide, "--no-verify", "--epochs", "1", "--layers", "784,8,10", "--batch", "2",
                flag, *(["1"] if flag == "--shift" else []))
        refused(f"train {flag} on 14x56 images", p, 2, "square images", "14x56")
        check("Training" not in p.stdout, f"...before the banner: {p.stdout.strip()!r}")
    ck = os.path.join(tmp, "wide.ckpt")
    p = run("train", "--data", wide, "--no-verify", "--epochs", "0", "--layers", "784,8,10", "--batch", "2",
            "--shift", "1", "--checkpoint", ck)
    refused("train --epochs 0 --shift 1 --checkpoint on 14x56 images", p, 2, "square images", "cannot be resumed")
    check(not os.path.exists(ck), "...and writes no checkpoint")


def strict_json(line):
    """The JSON value of line; None when it is not JSON (Python's json takes NaN and Infinity)."""
    def refuse(name):
        raise ValueError(name)
    try:
        return json.loads(line, parse_constant=refuse)
    except ValueError:
        return None


def test_models(tmp, data):
    d = ["--data", data, "--no-verify"]
    png = os.path.join(ROOT, "samples", "2-marker.png")
    good = os.path.join(tmp, "good.safetensors")
    safetensors(good, [784, 16, 10])
    p = run("eval", *d, "--model", good)
    check(p.returncode == 0, f"eval of a good model file: {p.stderr.strip()}")
    # A model whose metadata names a dataset we do not know was read as MNIST, its classes as digits: eval and
    # predict say so now, naming the file and the name, unless --dataset says which to take it for; the names
    # our own models hold (and none: MNIST's) load as before
    for name, status in (("kmnist", 1), ("fashion", 0), ("mnist", 0)):
        named = os.path.join(tmp, f"dataset-{name}.safetensors")
        rewrite_metadata(good, named, lambda m: m.update(dataset=name))
        for args in (["eval", *d], ["predict", png]):
            p = run(*args, "--model", named)
            if status:
                refused(f"{args[0]} of a model of the dataset '{name}'", p, 1, named,
                        f"its dataset '{name}' is not one of: mnist fashion", "--dataset")
            else:
                check(p.returncode == 0, f"{args[0]} of a model of the dataset '{name}': {p.stderr.strip()}")
        if status:  # serve too, which has no --dataset (it was served, its classes left out of /api/model)
            refused(f"serve of a model of the dataset '{name}'", run("serve", "--model", named, "--port", "0",
                                                                     timeout=20), 1, named,
                    f"its dataset '{name}' is not one of: mnist fashion")
        p = run("predict", png, "--model", named, "--dataset", "mnist")
        check(p.returncode == 0 and p.stdout.startswith(png + ": "),
              f"predict --dataset mnist of a model of the dataset '{name}': {p.stderr.strip()}")
        # another than the model's own is taken, and said in a note (a digit was read as "Dress" unsaid)
        note = f"note: {named} was trained on fashion; --dataset mnist names its outputs as that dataset's classes"
        check((note in p.stderr) == (name == "fashion") and p.stderr.count("\n") <= 1,
              f"predict --dataset mnist of a model of the dataset '{name}': a note {'said' if name == 'fashion' else 'not said'}"
              f" ({p.stderr.strip()!r})")
        # --dataset names the outputs only: the input is made as the model's own dataset's are (with
        # --dataset fashion, an MNIST model read a photo as Fashion-MNIST's items are made: found in review)
        if name != "kmnist":
            other = "mnist" if name == "fashion" else "fashion"
            own, said = (run("predict", "--json", "--show", png, "--model", named, *flag)
                         for flag in ([], ["--dataset", other]))
            inputs = [json.loads(q.stdout)["input"] if q.returncode == 0 else None for q in (own, said)]
            check(inputs[0] is not None and inputs[0] == inputs[1],
                  f"predict of a model of the dataset '{name}' with --dataset {other}: the input made as without it "
                  f"({own.stderr.strip()!r}, {said.stderr.strip()!r})")
    for label, make, needle in (
            ("a truncated file", lambda f: safetensors(f, [784, 16, 10], cut=4), "cover"),
            ("a header length past the file", lambda f: safetensors(f, [784, 10], header_len=1 << 40),
             "not a safetensors file"),
            ("a 3-byte file", lambda f: open(f, "wb").write(b"abc"), "too short"),
            ("a text file", lambda f: open(f, "wb").write(b"hello, this is not a model at all\n"),
             "not a safetensors file (its first 8 bytes are not a header length)"),
            ("NaN in a bias", lambda f: safetensors(f, [784, 16, 10], poison=("layers.1.bias", 3, math.nan)),
             "layers.1.bias holds NaN at index 3"),
            ("infinity in a kernel", lambda f: safetensors(f, [784, 16, 10], poison=("layers.0.kernel", 7, -math.inf)),
             "layers.0.kernel holds -infinity at index 7"),
            ("5 outputs", lambda f: safetensors(f, [784, 5]), "5 outputs"),
            ("400 inputs", lambda f: safetensors(f, [400, 10]), "400 inputs")):
        path = os.path.join(tmp, label.replace(" ", "-") + ".safetensors")
        make(path)
        refused(f"eval of a model file with {label}", run("eval", *d, "--model", path), 1, path, needle)
        if "NaN" in label:  # predict read it too, and printed "probability":nan (found in review)
            refused(f"predict --json with a model file with {label}", run("predict", "--json", "--model", path, png),
                    1, path, needle)
    # A header of 16 MB that is eight million tiny JSON values: the parser spends about 64 bytes on each
    # (a 60 MB one took 2.4 GB and 7 s before it was refused), so their count is bounded before it parses.
    # The peak memory is the command's own: measured in a Python process that has it as its one child.
    many = os.path.join(tmp, "many-values.safetensors")
    h = b'{"__metadata__":{"a":[' + b"0," * 8_000_000 + b"0]}}"
    with open(many, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
    probe = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.stderr.strip())")
    q = subprocess.run([sys.executable, "-c", probe, MNIST, "predict", "--model", many, png], capture_output=True,
                       text=True, timeout=120)
    rc, peak, err = (q.stdout.strip().split(" ", 2) + ["", "", ""])[:3]
    check(rc == "1" and "more than 100000 JSON values" in err and many in err and int(peak or 1 << 30) < 300_000,
          f"a model file whose header is 8 million JSON values: refused in {int(peak or 0) // 1024} MB "
          f"(status {rc}: {err!r})")

    fifo = os.path.join(tmp, "model-fifo")
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    refused("eval of a FIFO as model", run("eval", *d, "--model", fifo, timeout=20), 1, fifo, "not a regular file")
    missing = os.path.join(tmp, "missing.safetensors")
    refused("eval of a missing model file", run("eval", *d, "--model", missing), 1, missing, "No such file")
    refused("eval of a folder as model", run("eval", *d, "--model", tmp), 1, tmp, "a folder, not a file")

    # A finite model whose sums overflow float32: its outputs are NaN, which JSON has no word for.
    # eval's loss is null in JSON and 'not finite' in its text (it printed '-nan'); predict names no
    # digit from them (it printed '0 (-nan%)', status 0): the image fails, one line naming the model.
    big = os.path.join(tmp, "overflow.safetensors")
    safetensors(big, [784, 10], value=3e38)
    p = run("eval", *d, "--json", "--model", big)
    r = strict_json(p.stdout)
    check(p.returncode == 0 and r is not None and r["loss"] is None and 0 <= r["accuracy"] <= 1,
          f"eval --json of a model that overflows prints JSON, loss null: {p.stdout.strip()[:80]!r} {p.stderr.strip()}")
    p = run("eval", *d, "--model", big)
    check(p.returncode == 0 and "Test loss:     not finite (the model's sums overflow)" in p.stdout and
          "nan" not in p.stdout.lower(), f"eval of a model that overflows: its loss not finite, no nan "
          f"({p.stdout.strip()[:120]!r} {p.stderr.strip()})")
    says = f"the model {big} gives no finite probabilities for {png} (its sums overflow)"
    p = run("predict", "--model", big, png)
    check(p.returncode == 1 and p.stdout == "" and p.stderr.strip() == f"mnist predict: {says}",
          f"predict of a model that overflows: fails, one line naming the model and image "
          f"(status {p.returncode}: {p.stdout.strip()!r} {p.stderr.strip()!r})")
    p = run("predict", "--json", "--show", "--model", big, png)
    r = strict_json(p.stdout)
    check(p.returncode == 1 and r == {"file": png, "error": says},
          f"predict --json of a model that overflows: its record is the error: {p.stdout.strip()[:160]!r}")

    # A checkpoint whose optimizer state (momentum, its last tensor) holds NaN is refused by --resume.
    ckpt = os.path.join(tmp, "nan.ckpt")
    p = run("train", *d, "--epochs", "1", "--batch", "2", "--layers", "784,16,10", "--optimizer", "momentum",
            "--checkpoint", ckpt)
    check(p.returncode == 0 and os.path.exists(ckpt), f"write a checkpoint with momentum: {p.stderr.strip()}")
    if os.path.exists(ckpt):
        with open(ckpt, "r+b") as f:
            f.seek(-4 * 5, os.SEEK_END)
            f.write(struct.pack("<f", math.nan))
        p = run("train", *d, "--epochs", "2", "--resume", ckpt)
        refused("train --resume of a checkpoint whose optimizer state holds NaN", p, 1, ckpt,
                "train.optimizer holds NaN at index")
    # A checkpoint whose metadata names its dataset with a terminal's escapes and a newline: the name went
    # out raw, the screen cleared and the message on two lines
    ckpt = os.path.join(tmp, "escape.ckpt")
    p = run("train", *d, "--epochs", "1", "--batch", "2", "--layers", "784,16,10", "--checkpoint", ckpt)
    check(p.returncode == 0 and os.path.exists(ckpt), f"write a checkpoint: {p.stderr.strip()}")
    if os.path.exists(ckpt):
        raw = open(ckpt, "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        h = json.loads(raw[8:8 + n])
        h["__metadata__"]["dataset"] = "\x1b[2J\x1b[31mX\nY"
        hb = json.dumps(h).encode()
        hb += b" " * (-len(hb) % 8)
        with open(ckpt, "wb") as f:
            f.write(struct.pack("<Q", len(hb)) + hb + raw[8 + n:])
        for extra, needle in (([], "its dataset '?[2J?[31mX?Y' is not one of"),
                              (["--dataset", "mnist"], "the run of " + ckpt + " has ?[2J?[31mX?Y;")):
            p = run("train", *d, "--epochs", "2", "--resume", ckpt, *extra)
            refused(f"train --resume{''.join(' ' + e for e in extra)} of a checkpoint whose dataset holds escapes and a newline: "
                    "shown printable", p, 1 if not extra else 2, needle)
            check("\x1b" not in p.stderr, "and no escape reaches the terminal")


def png_header(w, h):
    """A PNG signature and an IHDR chunk for a w x h 8-bit gray image, and no pixels."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def bmp8(w, h, colors, pixels, offset=None):
    """An 8-bit BMP (40-byte header) of w x h, its palette colors grays, pixels a row's bytes (w a
    multiple of 4), offset the pixels' (default: after the palette)."""
    pal = b"".join(bytes([i, i, i, 0]) for i in range(colors))
    off = 54 + len(pal) if offset is None else offset
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 8, 0, len(pixels), 0, 0, colors, colors)
    return b"BM" + struct.pack("<IHHI", 54 + len(pal) + len(pixels), 0, 0, off) + info + pal + pixels


def test_images(tmp):
    model = os.path.join(tmp, "predict.safetensors")
    safetensors(model, [784, 16, 10])
    cases = [("a PNG that stb_image fails on with a newline for its reason (found by fuzz_image)",
              os.path.join(ROOT, "tests", "data", "image-newline-reason.png"), None, "cannot decode"),
             ("a 20-byte PPM whose header promises 2292558x22 pixels (found by fuzz_image: stb_image left the missing "
              "pixels uninitialised; its maximum value, a NUL where digits should be, is read as 0 and refused first)",
              os.path.join(ROOT, "tests", "data", "image-short-pnm.ppm"), None, "its maximum value is 0 or missing"),
             ("a progressive JPEG of 101 scans (each a pass over the whole image: 20000 of them, 2 MB, held a "
              "thread 30 s)", os.path.join(ROOT, "tests", "data", "image-many-scans.jpg"), None, "101 scans",
              "over the limit"),
             ("the same JPEG after a fill byte (0xFF) before its SOI, which stb_image skips: its scans were not "
              "counted, and it was decoded", os.path.join(tmp, "fill-many-scans.jpg"),
              b"\xff" + open(os.path.join(ROOT, "tests", "data", "image-many-scans.jpg"), "rb").read(), "101 scans",
              "over the limit"),
             # stb_image 2.27 looks a BMP's pixels up in a palette of 256 entries on its stack, filling only the
             # file's: the rest was leftover stack memory (valgrind: 873 reads of uninitialised memory)
             ("an 8-bit BMP of 2 colours whose pixels are colours 0 to 255", os.path.join(tmp, "palette.bmp"),
              bmp8(28, 28, 2, bytes(range(256)) * 3 + bytes(16)), "a corrupt BMP: a pixel is colour 2 of a palette of 2"),
             ("an OS/2 BMP (12-byte header) whose pixel is colour 5 of 2", os.path.join(tmp, "os2.bmp"),
              b"BM" + struct.pack("<IHHI", 36, 0, 0, 32) + struct.pack("<IHHHH", 12, 4, 1, 1, 8) + bytes(6)
              + bytes([0, 5, 0, 1]), "a pixel is colour 5 of a palette of 2"),
             ("an 8-bit BMP whose pixels' offset (50) leaves no room for its palette",
              os.path.join(tmp, "no-palette.bmp"), bmp8(28, 28, 0, bytes(784), offset=50), "no room for its palette"),
             ("a PGM cut short", os.path.join(tmp, "cut.pgm"), b"P5\n# a comment\n64 64\n255\n" + bytes(100), "truncated"),
             ("a PGM whose width, 42949672988, stb_image 2.27 read as 28 (its int wrapped), 4 bytes of its pixels "
              "missing: the header's end was put 4 bytes early, and the missing pixels left uninitialised",
              os.path.join(tmp, "wrapped.pgm"), b"P5 42949672988 28 255\n" + bytes(780), "width is past 2^31"),
             ("a 16-bit PGM cut short", os.path.join(tmp, "cut16.pgm"), b"P5 8 8 65535\n" + bytes(127), "truncated"),
             # stb_image read a maximum value of 0 as 255, and one past 65535 as 16-bit
             ("a PGM whose maximum value is 0", os.path.join(tmp, "max0.pgm"), b"P5 28 28 0\n" + bytes(784),
              "a corrupt PNM: its maximum value is 0 or missing (1 to 65535 are)"),
             ("a PGM whose maximum value is 70000", os.path.join(tmp, "max70000.pgm"), b"P5 28 28 70000\n" + bytes(1568),
              "a corrupt PNM: its maximum value is over 65535 (1 to 65535 are)"),
             ("a TGA cut short", os.path.join(tmp, "cut.tga"),
              struct.pack("<BBBHHBHHHHBB", 0, 0, 3, 0, 0, 0, 0, 0, 64, 64, 8, 0) + bytes(1000), "truncated"),
             # headers alone, saying 8000x8000: stb_image decoded each in full, what is missing filled in
             # (0.8-1.5 s and 200-600 MB from 23 to 62 bytes)
             ("a BMP header alone", os.path.join(tmp, "head.bmp"), b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) +
              struct.pack("<IiiHHIIiiII", 40, 8000, 8000, 1, 24, 0, 0, 0, 0, 0, 0), "truncated", "192000054 bytes"),
             # OS/2's, 26 bytes: its size was not checked in a file shorter than the 34 bytes of a BMP
             # header of 40 (1.05 s and 200 MB)
             ("an OS/2 BMP header alone", os.path.join(tmp, "head-os2.bmp"), b"BM" + struct.pack("<IHHI", 26, 0, 0, 26) +
              struct.pack("<IHHHH", 12, 8000, 8000, 1, 24), "truncated", "192000026 bytes"),
             ("a JPEG header alone", os.path.join(tmp, "head.jpg"),
              bytes.fromhex("ffd8ffc00011081f401f4003011100021100031100ffd9"), "truncated", "at least 125000 bytes"),
             ("a GIF header alone", os.path.join(tmp, "head.gif"), b"GIF89a" + struct.pack("<HH", 8000, 8000) +
              b"\x80\0\0" + b"\0\0\0\xff\xff\xff," + struct.pack("<HHHH", 0, 0, 8000, 8000) + b"\0\x02\x02\x44\x01\0;",
              "truncated", "at least 23437 bytes"),
             # its signature alone: stb_image's info says 0x0 ("the image is 0x0")
             ("a GIF's signature alone", os.path.join(tmp, "sign.gif"), b"GIF89a", "its header says 0x0 pixels",
              "no picture in it", "cut short"),
             ("a run-length TGA header alone", os.path.join(tmp, "head.tga"),
              struct.pack("<BBBHHBHHHHBB", 0, 0, 10, 0, 0, 0, 0, 0, 8000, 8000, 24, 0) + bytes(10), "truncated",
              "at least 1000018 bytes"),
             # PNM kinds stb_image does not read were "not a PNG, JPEG, BMP, GIF, TGA or PNM image"
             ("a PBM", os.path.join(tmp, "bits.pbm"), b"P4\n8 8\n" + bytes(8), "a PBM image (P4)", "P5", "P6"),
             ("a plain PGM", os.path.join(tmp, "plain.pgm"), b"P2\n2 2\n255\n0 0\n0 0\n", "a plain PGM image (P2)"),
             ("a PAM", os.path.join(tmp, "some.pam"), b"P7\nWIDTH 1\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nENDHDR\n\0",
              "a PAM image (P7)"),
             # JPEG kinds stb_image does not read were "not a PNG, JPEG, BMP, GIF, TGA or PNM image" too
             ("an arithmetic-coded JPEG", os.path.join(tmp, "arith.jpg"),
              bytes.fromhex("ffd8ffc90011080010001003011100021100031100ffd9"), "arithmetic-coded, SOF9"),
             ("a lossless JPEG", os.path.join(tmp, "lossless.jpg"),
              bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffc300110800100010030111000211000311"
                            "00ffd9"), "lossless, SOF3"),
             ("a JPEG of 12 bits", os.path.join(tmp, "twelve.jpg"),
              bytes.fromhex("ffd8ffc000110c0010001003011100021100031100ffd9"), "a JPEG of 12 bits a sample"),
             ("an empty file", os.path.join(tmp, "empty.png"), b"", "empty"),
             ("a text file", os.path.join(tmp, "text.png"), b"not an image at all\n" * 4, "not a PNG"),
             ("a 10000x10000 PNG header", os.path.join(tmp, "huge.png"), png_header(10000, 10000), "over the limit"),
             ("a 100000x100000 PNG header (stb_image gives no size over 2^30 pixels)",
              os.path.join(tmp, "huger.png"), png_header(100000, 100000), "100000x100000", "over the limit"),
             # within the pixel limit, but a side past stb_image's 2^24: "not a PNG" ("unknown image type")
             ("a 16777217x1 PNG header", os.path.join(tmp, "long.png"), png_header(16777217, 1), "16777217x1",
              "a side over 16777216 pixels"),
             ("a 1x16777217 PGM header", os.path.join(tmp, "long.pgm"), b"P5 1 16777217 255\n",
              "1x16777217", "a side over 16777216 pixels"),
             ("a PNG cut short", os.path.join(tmp, "cut.png"), open(SAMPLE, "rb").read()[:300], "truncated"),
             ("a PNG whose second IDAT chunk says 1.8 GB (found by fuzz_number)",
              os.path.join(ROOT, "tests", "data", "image-idat-past-end.png"), None, "ends too early"),
             ("a missing file", os.path.join(tmp, "missing.png"), None, "No such file")]
    whole = os.path.join(tmp, "whole.pgm")  # the same sizes, whole: predicted
    with open(whole, "wb") as f:
        f.write(b"P5 8 8 65535\n" + bytes(range(128)))
    p = run("predict", "--model", model, "--preprocess", "lab", whole)
    check(p.returncode == 0, f"predict on a whole 16-bit PGM of 8x8: {p.stderr.strip()}")
    for label, path, content, *needles in cases:
        if content is not None:
            with open(path, "wb") as f:
                f.write(content)
        refused(f"predict on {label}", run("predict", "--model", model, path, timeout=60), 1, path, *needles)
    # a 239-byte PNG whose second IDAT chunk says 1.8 GB (found by fuzz_number): stb_image grew its buffer to hold
    # the chunk before it found the file too short, 2 GB of address space; with 1 GB, "out of memory" was said.
    # Refused as cut short from its chunks now. (Not under AddressSanitizer, which reserves terabytes.)
    cut = os.path.join(ROOT, "tests", "data", "image-idat-past-end.png")
    if not os.environ.get("ASAN_OPTIONS"):
        p = subprocess.run([MNIST, "predict", "--model", model, cut], capture_output=True, text=True, timeout=60,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, resource.RLIM_INFINITY)))
        refused("predict, in 1 GB of address space, on a PNG whose IDAT chunk says 1.8 GB and the file ends", p, 1,
                cut, "ends too early")
    dashed = os.path.join(tmp, "-3.png")  # a name that looks like a flag: after "--" it is a file
    shutil.copy(SAMPLE, dashed)
    p = subprocess.run([MNIST, "predict", "--model", model, "--", "-3.png"], capture_output=True, text=True, cwd=tmp)
    check(p.returncode == 0 and p.stdout.startswith("-3.png: "), f"predict -- -3.png reads the file: {p.stdout.strip()}")
    p = subprocess.run([MNIST, "predict", "--model", model, "-3.png"], capture_output=True, text=True, cwd=tmp)
    refused("predict -3.png without --", p, 2, "unknown flag '-3.png'")
    # a control character in a file's name is escaped in the text output (\n, \t, \xNN), so that
    # the error or the answer stays one line (a newline in it split the error in two); --json escapes
    # it as JSON does
    odd = os.path.join(tmp, "two\nlines\t\x1b.png")
    with open(odd, "wb") as f:
        f.write(b"not an image at all\n")
    shown = os.path.join(tmp, "two\\nlines\\t\\x1b.png")
    refused("predict on a file whose name holds a newline, a tab and ESC", run("predict", "--model", model, odd), 1,
            shown + ": not a PNG")
    p = run("predict", "--json", "--model", model, odd)
    check(p.returncode == 1 and json.loads(p.stdout)["file"] == odd,
          f"predict --json: the name as it is, JSON-escaped ({p.stdout.strip()!r})")
    shutil.copy(SAMPLE, odd)
    p = run("predict", "--model", model, odd)
    check(p.returncode == 0 and p.stdout.count("\n") == 1 and p.stdout.startswith(shown + ": "),
          f"predict on a good image whose name holds a newline: one line, the name escaped ({p.stdout!r})")
    # C1 controls in UTF-8 too: U+009B is a terminal's CSI (it began "\u009b31m", red, as the text went out raw),
    # U+0085 a next line
    c1 = os.path.join(tmp, "c1\u009b31m\u0085.png")
    shutil.copy(SAMPLE, c1)
    p = run("predict", "--model", model, c1)
    shown = os.path.join(tmp, "c1\\u009b31m\\u0085.png")
    check(p.returncode == 0 and p.stdout.startswith(shown + ": ") and "\u009b" not in p.stdout,
          f"predict on an image whose name holds U+009B and U+0085: the name escaped ({p.stdout!r})")
    p = run("predict", "--json", "--model", model, c1)  # JSON may escape any character: it went out raw there too
    check(p.returncode == 0 and "\u009b" not in p.stdout and "\u0085" not in p.stdout
          and 'c1\\u009b31m\\u0085.png"' in p.stdout and json.loads(p.stdout)["file"] == c1,
          f"predict --json on an image whose name holds U+009B and U+0085: the name escaped ({p.stdout[:120]!r})")
    # bytes that are no UTF-8: 0x9b alone is CSI to a terminal of 8-bit controls (it went out raw), a Latin-1 e-acute
    raw = os.path.join(os.fsencode(tmp), b"c1\x9b31m\xe9.png")
    shutil.copy(SAMPLE, raw)
    p = subprocess.run([MNIST, "predict", "--model", model, raw], capture_output=True)
    shown = os.fsencode(tmp) + b"/c1\\x9b31m\\xe9.png: "
    check(p.returncode == 0 and p.stdout.startswith(shown) and b"\x9b" not in p.stdout and b"\xe9" not in p.stdout,
          f"predict on an image whose name holds bytes 0x9b and 0xe9, no UTF-8: the name escaped ({p.stdout!r})")
    p = subprocess.run([MNIST, "predict", "--json", "--model", model, raw], capture_output=True)
    check(p.returncode == 0 and b"\x9b" not in p.stdout and json.loads(p.stdout)["file"].endswith("c1\ufffd31m\ufffd.png"),
          f"predict --json on that name: U+FFFD for each byte ({p.stdout[:120]!r})")
    # and so in every command's errors and notes that name a file (--model, --out, plot's FILE, --save): they
    # went out raw, a newline splitting the error in two and ESC reaching the terminal
    odd = os.path.join(tmp, "no\nsuch\x1b[2J")
    shown = os.path.join(tmp, "no\\nsuch\\x1b[2J")
    refused("eval --model with a newline and ESC in its name", run("eval", "--model", odd + ".safetensors"), 1,
            shown + ".safetensors: No such file")
    refused("plot of a file with a newline and ESC in its name", run("plot", odd + ".jsonl"), 1,
            shown + ".jsonl: No such file")
    refused("show --out in a folder with a newline and ESC in its name", run("show", "--out", odd + "/x.png"), 1,
            shown + "/x.png: cannot write in the folder " + shown)
    fifo = os.path.join(tmp, "image-fifo.png")
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    refused("predict on a FIFO", run("predict", "--model", model, fifo, timeout=20), 1, fifo, "regular file")


def test_file_size_limit(tmp, data):
    """A file-size limit (ulimit -f) that the command meets with SIGXFSZ left at its default action, as a shell
    starts it: the write fails as on a full disk, the previous file intact and no temporary file left. The
    signal ended the program, its temporary file (the limit's size of a checkpoint) left beside the file."""
    d = ["--data", data, "--no-verify", "--epochs", "1", "--batch", "2", "--layers", "784,64,10"]
    ckpt = os.path.join(tmp, "limited.ckpt")
    p = run("train", *d, "--checkpoint", ckpt)
    before = open(ckpt, "rb").read() if p.returncode == 0 else None

    def limited():  # SIGXFSZ as the shell leaves it: subprocess restores the default in the child
        resource.setrlimit(resource.RLIMIT_FSIZE, (100000, resource.RLIM_INFINITY))
    try:
        p = subprocess.run([MNIST, "train", *d, "--checkpoint", ckpt], capture_output=True, text=True, timeout=120,
                           preexec_fn=limited)
    except subprocess.TimeoutExpired:
        p = subprocess.CompletedProcess([], -1, "", "(still running after 120 s: killed)")
    refused("train --checkpoint past a file-size limit, SIGXFSZ at its default", p, 1, ckpt, "write failed")
    left = [f for f in os.listdir(tmp) if ".tmp-" in f]
    check(before is not None and open(ckpt, "rb").read() == before and not left,
          f"the previous checkpoint is intact and no temporary file is left beside it ({left})")


def test_diverged(tmp, data):
    """A run whose loss stops being finite after its --checkpoint was written says which file holds which epoch
    (it said 'nothing was saved from this run'); one that wrote none says nothing was saved, or, with --log, no
    model. Both name the records --log holds of the epochs that ended (they went unsaid). --save is not written
    either way."""
    ckpt, model = os.path.join(tmp, "diverged.ckpt"), os.path.join(tmp, "diverged.safetensors")
    log = os.path.join(tmp, "diverged.jsonl")
    # one step an epoch at lr 1e8: the first epochs end finite, a later one does not (after epoch 2 here)
    d = ["--data", data, "--no-verify", "--layers", "784,64,10", "--activation", "relu", "--batch", "6", "--lr", "1e8",
         "--threads", "1", "--epochs", "20", "--save", model]
    p = run("train", *d, "--checkpoint", ckpt, "--log", log)
    epochs = [int(e) for e in re.findall(r"^Epoch (\d+) in", p.stdout, re.M)]
    check(epochs and os.path.exists(ckpt), f"a run at lr 1e8 ends epochs {epochs} before it diverges")
    last = epochs[-1] if epochs else -1
    refused("a run that diverges after its checkpoints", p, 1, "probably too high",
            f"of this run only --checkpoint {ckpt} was saved, after epoch {last}; --log {log} holds the "
            f"{len(epochs)} epochs it finished")
    records = [json.loads(line)["epoch"] for line in open(log)] if os.path.exists(log) else []
    check(records == epochs, f"and --log holds those epochs: {records}")
    check(not os.path.exists(model), "and its --save is not written")
    # resumed, it is where the message says, and diverges again before a checkpoint: this run saved nothing
    p = run("train", "--data", data, "--no-verify", "--resume", ckpt, "--threads", "1", "--save", model)
    check(p.stdout.startswith(f"Resuming {ckpt} at epoch {last + 1}, step 0\n"),
          f"the checkpoint holds the run after epoch {last}: {p.stdout.splitlines()[:1]}")
    refused("the run resumed, diverging again", p, 1, "probably too high", "; nothing was saved from this run")
    os.remove(ckpt)
    p = run("train", *d)
    refused("a run that diverges without --checkpoint", p, 1, "probably too high", "; nothing was saved from this run")
    check(not os.path.exists(model), "and its --save is not written")
    p = run("train", *d, "--log", log)
    refused("a run that diverges with --log alone", p, 1, "probably too high",
            f"; no model was saved from this run; --log {log} holds the {len(epochs)} epochs it finished")
    # its --log's writing failing at the second record (EFBIG): the log holds the first, not the epochs it finished
    first = open(log).readline()

    p = run("train", *d, "--log", log, limit_bytes=len(first) + 10)
    said = p.stderr.strip().splitlines()
    check(p.returncode == 1 and len(epochs) >= 2 and len(said) == 2 and "writing failed" in said[0] and
          said[1].endswith(f"; no model was saved from this run; --log {log} holds the 1 epoch it finished before "
                           "writing it failed"),
          f"a run whose --log failed after its first record says the log holds that one: {said}")


def test_full_disk(tmp, data):
    """train --save on a disk that fills up (RLIMIT_FSIZE: writes past 1 MB fail with EFBIG)."""
    d = ["--data", data, "--no-verify"]
    target = os.path.join(tmp, "keep.safetensors")
    p = run("train", *d, "--epochs", "0", "--layers", "784,16,10", "--save", target)
    check(p.returncode == 0 and os.path.exists(target), f"save a small model: {p.stderr.strip()}")
    before = open(target, "rb").read()
    p = run("train", *d, "--epochs", "0", "--save", target, limit_bytes=1 << 20)  # 784-1024-1024-10: 7.5 MB
    refused("train --save on a full disk", p, 1, target, "write failed", "unchanged")
    check(open(target, "rb").read() == before, "the previous model file is intact, byte for byte")
    left = [f for f in os.listdir(tmp) if ".tmp-" in f]
    check(not left, f"no temporary file is left beside it: {left}")
    p = run("eval", *d, "--model", target)
    check(p.returncode == 0, "the previous model still evaluates")
    ckpt = os.path.join(tmp, "run.ckpt")
    p = run("train", *d, "--epochs", "1", "--batch", "2", "--layers", "784,16,10", "--checkpoint", ckpt)
    check(p.returncode == 0 and os.path.exists(ckpt), f"write a small checkpoint: {p.stderr.strip()}")
    before = open(ckpt, "rb").read()
    p = run("train", *d, "--epochs", "1", "--batch", "2", "--checkpoint", ckpt, limit_bytes=1 << 20)
    refused("train --checkpoint on a full disk", p, 1, ckpt, "write failed", "unchanged")
    check(open(ckpt, "rb").read() == before, "the previous checkpoint is intact, byte for byte")
    left = [f for f in os.listdir(tmp) if ".tmp-" in f]
    check(not left, f"no temporary file is left beside it: {left}")
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    p = run("train", *d, "--epochs", "0", "--layers", "784,16,10", "--save", fifo)
    refused("train --save over a FIFO", p, 1, fifo, "not a regular file")
    check(os.path.exists(fifo) and not os.path.isfile(fifo), "the FIFO is left as it was")
    svg = os.path.join(tmp, "curves.svg")
    p = run("train", *d, "--epochs", "1", "--batch", "2", "--save", target, "--plot", svg, limit_bytes=1 << 20)
    check(p.returncode == 1 and "write failed" in p.stderr and os.path.isfile(svg)
          and "Wrote the training curves" in p.stdout,
          f"a --save that fails still leaves --plot's curves of the finished training: exit {p.returncode}, "
          f"{p.stderr.strip()!r}")


def rewrite_metadata(src, dst, change):
    """Copy the safetensors file src to dst with change(metadata) applied to its __metadata__."""
    raw = open(src, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    change(header["__metadata__"])
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + raw[8 + n:])


def test_outputs(tmp, data):
    """The files a run writes are checked before it trains; what it writes must arrive."""
    d = ["--data", data, "--no-verify", "--layers", "784,16,10", "--batch", "2"]
    missing = os.path.join(tmp, "no-such-folder", "m.safetensors")
    for flag in ("--save", "--checkpoint", "--plot", "--log"):
        p = run("train", *d, "--epochs", "1", flag, missing)
        refused(f"train {flag} into a missing folder", p, 1, flag, missing, "No such file")
        check("Epoch" not in p.stdout, f"train {flag} into a missing folder: refused before training")
    p = run("train", *d, "--epochs", "1", "--save", tmp)
    refused("train --save onto a folder", p, 1, tmp, "is a folder")
    a = os.path.join(tmp, "same.safetensors")
    p = run("train", *d, "--epochs", "1", "--save", a, "--checkpoint", os.path.join(tmp, ".", "same.safetensors"))
    refused("train --save and --checkpoint naming one file", p, 2, "--save", "--checkpoint", "same file")
    # a --log that is a symbolic link to no file yet: opening it creates its target, which another
    # output's rename then replaced (the run went on, exit 0, its log lost); through two links too
    os.makedirs(os.path.join(tmp, "links"))
    for flag, target, hops in (("--save", "m.safetensors", 1), ("--plot", "p.svg", 1), ("--checkpoint", "c.ckpt", 2)):
        link = os.path.join(tmp, "links", f"log-{flag[2:]}.jsonl")
        os.symlink(target if hops == 1 else os.path.basename(link) + ".hop", link)
        if hops == 2:
            os.symlink(os.path.join("..", "links", target), link + ".hop")
        p = run("train", *d, "--epochs", "1", "--log", link, flag, os.path.join(tmp, "links", target))
        refused(f"train --log through {hops} symbolic link(s) to the file of {flag}", p, 2, "--log", flag, "same file")
        check(not os.path.exists(os.path.join(tmp, "links", target)), f"nothing written through the link of {flag}")
    ckpt = os.path.join(tmp, "outputs.ckpt")
    p = run("train", *d, "--epochs", "1", "--checkpoint", ckpt)
    check(p.returncode == 0, f"train a checkpoint of 1 epoch: {p.stderr.strip()}")
    p = run("train", "--data", data, "--no-verify", "--resume", ckpt, "--save", ckpt)
    refused("train --resume and --save naming one file", p, 2, "--save", "--resume", "same file")
    # with --checkpoint another file, the checkpoint resumed from is only read: no output may name it
    # (--log appended its lines to it, --save and --plot replaced it)
    before = open(ckpt, "rb").read()
    other = os.path.join(tmp, "other.ckpt")
    for flag in ("--log", "--save", "--plot"):
        p = run("train", "--data", data, "--no-verify", "--resume", ckpt, "--epochs", "2", "--checkpoint", other,
                flag, os.path.join(tmp, ".", "outputs.ckpt"))
        refused(f"train --resume X --checkpoint Y {flag} X", p, 2, "--resume", flag, "same file")
    check(open(ckpt, "rb").read() == before and not os.path.exists(other),
          "the checkpoint resumed from is left as it was, and nothing was trained")
    p = run("train", "--data", data, "--no-verify", "--resume", ckpt, "--checkpoint", os.path.join(tmp, ".", "outputs.ckpt"))
    check(p.returncode == 0, f"train --resume X --checkpoint X (the same file named twice) goes on: {p.stderr.strip()}")
    p = run("train", "--data", data, "--no-verify", "--resume", ckpt)
    check(p.returncode == 0 and "has trained its 1 epoch:" in p.stderr and "Training" not in p.stdout,
          f"resuming a finished run says so and trains nothing: {p.stderr.strip()}")
    # stopped part-way through the epoch after its last (a run given fewer --epochs on resuming): those
    # steps are trained, and said (it said "has trained its 1 epoch", and --save wrote the steps too)
    part = os.path.join(tmp, "part.ckpt")
    rewrite_metadata(ckpt, part, lambda m: m.update(train=re.sub('"step":[0-9]*', '"step":2', m["train"])))
    p = run("train", "--data", data, "--no-verify", "--resume", part)
    check(p.returncode == 0 and "has trained 1 epoch and 2 steps of epoch 1, past --epochs 1: nothing to do" in p.stderr
          and "Training" not in p.stdout, f"a run resumed past its --epochs says the steps it has trained: {p.stderr.strip()}")

    # a --batch or --validation that the data cannot fill: a usage error before the log is touched
    log = os.path.join(tmp, "kept.jsonl")
    with open(log, "w") as f:
        f.write("{\"epoch\":0}\n")
    # (--validation 5 with the default batch, 128: it named the batch alone, and "the 1 training examples")
    for extra, needle in ((["--batch", "7"], "batch size 7"), (["--validation", "6"], "validation of 6"),
                          (["--validation", "5"], "is more than the 1 training example the validation of 5 leaves")):
        p = run("train", "--data", data, "--no-verify", "--epochs", "1", "--log", log, *extra)
        refused(f"train {' '.join(extra)} on 6 training examples", p, 2, needle)
        check("Training" not in p.stdout, f"train {' '.join(extra)}: no banner before the error: {p.stdout!r}")
    check(open(log).read() == "{\"epoch\":0}\n", "the --log file of a refused run is left as it was")

    # checkpoints with a bad count or an unknown dataset
    for label, change, status, needles in (
            ("steps_done 12abc", lambda m: m.update(train=m["train"].replace('"steps_done":"', '"steps_done":"12abc')),
             1, ("steps_done",)),
            ("steps_done -5", lambda m: m.update(train=m["train"].replace('"steps_done":"', '"steps_done":"-5')),
             1, ("steps_done",)),
            # 2^64 - 1 made Adam's step 0 (a NaN loss blamed on the rate); a step count is at most 2^53
            ("steps_done 2^64-1", lambda m: m.update(train=re.sub('"steps_done":"[0-9]*"', '"steps_done":"18446744073709551615"', m["train"])),
             1, ("steps_done",)),
            ("steps_done 2^53+1", lambda m: m.update(train=re.sub('"steps_done":"[0-9]*"', '"steps_done":"9007199254740993"', m["train"])),
             1, ("steps_done",)),
            # a count that is not its position's: Adam's correction, the shifts and the masks went on from it
            ("steps_done 7", lambda m: m.update(train=re.sub('"steps_done":"[0-9]*"', '"steps_done":"7"', m["train"])),
             1, ("steps_done, 7, is not the 3 steps of its position (epoch 1, step 0, 3 steps per epoch)",)),
            ("dataset foo", lambda m: m.update(dataset="foo"), 1, ("dataset 'foo'",)),
            # a position past the epoch's steps: found by mnist_train, which knows no file name
            ("step 99", lambda m: m.update(train=re.sub('"step":[0-9]*', '"step":99', m["train"])), 1,
             ("position (epoch 1, step 99) does not fit 3 steps",))):
        bad = os.path.join(tmp, "bad.ckpt")
        rewrite_metadata(ckpt, bad, change)
        p = run("train", "--data", data, "--no-verify", "--resume", bad, "--epochs", "2")
        refused(f"train --resume of a checkpoint with {label}", p, status, bad, *needles)
        check("Resuming" not in p.stdout, f"train --resume of a checkpoint with {label}: refused before the banner")

    # plot --out naming the records it reads: refused before either is touched (it wrote the chart over
    # the log)
    records = os.path.join(tmp, "records.jsonl")
    with open(records, "w") as f:
        f.write('{"epoch":0,"seconds":1,"loss":2.3,"test_loss":2.2,"test_accuracy":0.2}\n')
    before = open(records).read()
    p = run("plot", records, "--out", os.path.join(tmp, ".", "records.jsonl"))
    refused("plot --out naming its own records file", p, 2, "--out", "records.jsonl", "records file itself")
    check(open(records).read() == before, "plot --out onto its records: the records are left as they were")
    p = run("plot", records, "--out", missing)
    refused("plot --out into a missing folder", p, 1, "--out", missing, "No such file")

    # eval's pictures: checked before the evaluation, never the model file or each other (--confusion
    # onto the model wrote an SVG over it)
    evm = os.path.join(tmp, "eval-outputs.safetensors")
    safetensors(evm, [784, 10])
    before = open(evm, "rb").read()
    pic = os.path.join(tmp, "pic.svg")
    for extra, status, needles in ((["--confusion", evm], 2, ("--model", "--confusion", "same file")),
                                   (["--errors", os.path.join(tmp, ".", "eval-outputs.safetensors")], 2,
                                    ("--model", "--errors", "same file")),
                                   (["--confusion", pic, "--errors", pic], 2, ("--confusion", "--errors", "same file")),
                                   (["--confusion", missing], 1, ("--confusion", missing, "No such file")),
                                   (["--errors", tmp], 1, ("--errors", tmp, "is a folder"))):
        p = run("eval", "--data", data, "--no-verify", "--model", evm, *extra)
        refused(f"eval {' '.join(extra)}", p, status, *needles)
        check("Test accuracy" not in p.stdout, f"eval {' '.join(extra)}: refused before the evaluation")
    check(open(evm, "rb").read() == before, "eval --confusion onto the model: the model is left as it was")

    # show --out: checked before the digits are drawn, naming the flag
    for target, needle in ((missing, "No such file"), (tmp, "is a folder")):
        p = run("show", "--data", data, "--no-verify", "--out", target)
        refused(f"show --out {target}", p, 1, "--out", target, needle)
        check(p.stdout == "", f"show --out {target}: refused before any digit is drawn: {p.stdout[:60]!r}")

    # long names: one of 250 bytes is written (its temporary name beside it, 12 bytes longer, was too long
    # for the folder: the run trained, then failed), one past the folder's 255 refused before training
    names = {flag: os.path.join(tmp, flag[2] * (250 - len(ext)) + ext)
             for flag, ext in (("--save", ".st"), ("--checkpoint", ".ckpt"), ("--plot", ".svg"))}
    p = run("train", *d, "--epochs", "1", *[x for kv in names.items() for x in kv])
    check(p.returncode == 0 and all(os.path.isfile(n) for n in names.values()),
          f"train --save, --checkpoint and --plot of 250-byte names write them: {p.stderr.strip()[-120:]!r}")
    long_png = os.path.join(tmp, "o" * 246 + ".png")
    p = run("show", "--data", data, "--no-verify", "--out", long_png)
    check(p.returncode == 0 and os.path.isfile(long_png),
          f"show --out a 250-byte name writes it: {p.stderr.strip()[-120:]!r}")
    check(not [f for f in os.listdir(tmp) if ".tmp-" in f], "no temporary file is left beside them")
    for n in list(names.values()) + [long_png]:
        if os.path.exists(n):
            os.remove(n)
    too_long = os.path.join(tmp, "x" * 253 + ".st")
    for flag in ("--save", "--checkpoint", "--plot", "--log"):
        p = run("train", *d, "--epochs", "1", flag, too_long)
        refused(f"train {flag} of a 256-byte name", p, 1, flag, "256 bytes", "longer than the 255")
        check("Epoch" not in p.stdout, f"train {flag} of a 256-byte name: refused before training")

    # an output onto a file of the data set the command reads (raw, or the .gz that a raw file beside it
    # would hide): refused before anything is read or trained (show --out wrote its PNG over the test
    # labels, train --save its model over the training images)
    before = [open(os.path.join(data, n), "rb").read() for n in NAMES]
    model = os.path.join(tmp, "data-outputs.safetensors")
    safetensors(model, [784, 10])
    for args, flag, name in ((["show", "--split", "test", "--out"], "--out", NAMES[3]),
                             (["show", "--out"], "--out", NAMES[0] + ".gz"),
                             (["eval", "--model", model, "--confusion"], "--confusion", NAMES[2]),
                             (["eval", "--model", model, "--errors"], "--errors", NAMES[3]),
                             (["train", *d[3:], "--epochs", "1", "--save"], "--save", NAMES[0]),
                             (["train", *d[3:], "--epochs", "1", "--log"], "--log", NAMES[1]),
                             (["train", *d[3:], "--epochs", "1", "--checkpoint"], "--checkpoint", NAMES[2] + ".gz"),
                             (["train", *d[3:], "--epochs", "1", "--plot"], "--plot", NAMES[3])):
        target = os.path.join(data, ".", name)
        p = run(args[0], "--data", data, "--no-verify", *args[1:], target)
        refused(f"{args[0]} {flag} onto the data file {name}", p, 2, flag, target, "data file")
        check(p.stdout == "", f"{args[0]} {flag} onto the data file {name}: refused before it began: {p.stdout[:60]!r}")
    check([open(os.path.join(data, n), "rb").read() for n in NAMES] == before and
          not any(os.path.exists(os.path.join(data, n + ".gz")) for n in NAMES),
          "the data files are left as they were, and no .gz was written beside them")

    # --log a FIFO that no process reads: refused, not waited on (it hung before training, forever);
    # one that is read takes the records
    fifo = os.path.join(tmp, "log-fifo")
    os.mkfifo(fifo)
    p = run("train", *d, "--epochs", "1", "--log", fifo, timeout=20)
    refused("train --log a FIFO that no one reads", p, 1, "--log", fifo, "no process is reading")
    reader = subprocess.Popen(["cat", fifo], stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)  # cat opens the FIFO
    p = run("train", *d, "--epochs", "1", "--log", fifo, timeout=20)
    got = reader.communicate(timeout=20)[0]
    check(p.returncode == 0 and got.startswith('{"epoch":0,'), f"train --log a FIFO that is read: {got[:40]!r}")
    # with --plot: drawn from the run's own epochs, as the FIFO gives nothing back (it failed after the
    # training, "--plot F: FIFO: not a regular file", status 1)
    svg = os.path.join(tmp, "fifo-log.svg")
    reader = subprocess.Popen(["cat", fifo], stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)
    p = run("train", *d, "--epochs", "2", "--log", fifo, "--plot", svg, timeout=20)
    got = reader.communicate(timeout=20)[0]
    check(p.returncode == 0 and p.stderr == "" and got.count('{"epoch":') == 2 and os.path.exists(svg)
          and "test, epoch 1:" in open(svg).read(),
          f"train --log a FIFO --plot: the chart of the run's 2 epochs (status {p.returncode}: {p.stderr.strip()!r})")

    # eval --errors when nothing is misread: said once, no picture, and no claim that one was written
    right = os.path.join(tmp, "all-right")
    dataset(right)
    with open(os.path.join(right, NAMES[3]), "wb") as f:
        f.write(idx(2049, [5], [0] * 5))
    flat = os.path.join(tmp, "flat.safetensors")
    safetensors(flat, [784, 10], value=0.0)  # every logit 0: all read as class 0
    pic = os.path.join(tmp, "errors.png")
    p = run("eval", "--data", right, "--no-verify", "--model", flat, "--errors", pic)
    check(p.returncode == 0 and "every test image right" in p.stderr and "Wrote" not in p.stdout
          and not os.path.exists(pic), f"eval --errors with nothing misread: no picture, none claimed: {p.stdout!r}")

    # writes that fail: a --log on a full disk, the standard output on a full device
    full = os.path.join(tmp, "full.jsonl")
    p = run("train", *d, "--epochs", "1", "--log", full, limit_bytes=16)
    check(p.returncode == 1 and f"--log {full}: writing failed" in p.stderr and "Test accuracy" in p.stdout,
          f"train --log on a full disk: trains on, says so once, exits 1: {p.stderr.strip()!r}")
    model = os.path.join(tmp, "outputs.safetensors")
    safetensors(model, [784, 10])
    with open("/dev/full", "w") as devfull:
        p = subprocess.run([MNIST, "eval", "--data", data, "--no-verify", "--model", model, "--json"],
                           stdout=devfull, stderr=subprocess.PIPE, text=True, timeout=60)
    refused("eval --json into a full device", p, 1, "standard output", "No space left")
    # an SVG that fails as it is written (past the file size limit, or a full disk): the reason said, the
    # previous chart kept (the charts said "write failed" and nothing more)
    chart = os.path.join(tmp, "confusion.svg")
    open(chart, "w").write("<svg/>\n")
    p = run("eval", "--data", data, "--no-verify", "--model", model, "--confusion", chart, limit_bytes=1000)
    refused("eval --confusion on a full disk", p, 1, chart, "write failed: File too large", "unchanged")
    check(open(chart).read() == "<svg/>\n" and not [f for f in os.listdir(tmp) if ".tmp-" in f],
          "the previous chart is kept, and no temporary file is left")

    # predict and train flush each line as it comes: the reason is the first failed flush's (the last
    # one, with nothing left to write, has none: "writing the standard output failed" and no why)
    for label, args in (("predict", ["predict", "--model", model, SAMPLE]), ("train", ["train", *d, "--epochs", "1"])):
        with open("/dev/full", "w") as devfull:
            p = subprocess.run([MNIST, *args], stdout=devfull, stderr=subprocess.PIPE, text=True, timeout=60)
        refused(f"{label} into a full device", p, 1, "standard output", "No space left")


def test_out_of_memory(tmp, data):
    """predict --json --show, eval and train with each of their allocations failing in turn (the shim tests/fail_alloc.c: the Nth of
    the program's own malloc, calloc and realloc calls returns NULL): each run says "out of memory" in one line and
    exits 1, or gives what it gives with the memory, its input to the network too (an allocation it can do
    without). Out of memory, a photo's first reading let the reading with paper added around it stand alone (a
    ruled page's 1 read otherwise); stb_image said "unknown image type"; a file's name was printed as ""; show
    --out's PNG writer (libstb's) aborted; and a small digit's resizing "failed". The shim counts libstb's and
    zlib's allocations as the program's: the PNG writer's, a small digit's resizing, a gzipped IDX file's inflate."""
    from PIL import Image, ImageDraw
    wrap = shim(tmp, "fail_alloc")
    if not wrap:
        return
    model = os.path.join(tmp, "oom.safetensors")
    safetensors(model, [784, 16, 10])
    # a 1 and a 0 cropped tight (their strokes meet the frame's sides: read again with paper around them), a 1
    # from top to bottom of a ruled page (read again so, it reads otherwise), and a 7 in a ring that touches it
    # (the ring held aside, the rest read again): grey paper, a little noise
    rng = __import__("random").Random(1)
    photos = [os.path.join(ROOT, "samples", n) for n in ("1-pen-photo.jpg", "5-app.png", "6-red-pen-shadow.jpg")]

    def ruled(d):
        for y in range(12, 200, 25):
            d.line([(0, y), (120, y)], fill=170, width=2)
        d.line([(65, 0), (55, 200)], fill=40, width=12)
    for name, (w, h), draw in (("small-1.png", (28, 28), lambda d: d.line([(14, 8), (13, 20)], fill=0, width=2)),
                               ("tight-1.png", (60, 200), lambda d: d.line([(36, 0), (24, 200)], fill=30, width=18)),
                               ("tight-0.png", (160, 200), lambda d: d.ellipse([4, 2, 156, 198], outline=30, width=20)),
                               ("ruled-1.png", (120, 200), ruled),
                               ("ringed-7.png", (96, 96), lambda d: (d.ellipse([8, 6, 87, 89], outline=30, width=6),
                                                                     d.line([(28, 24), (64, 24), (44, 84)], fill=30,
                                                                            width=8)))):
        im = Image.new("L", (w, h), 225)
        draw(ImageDraw.Draw(im))
        im.putdata([max(0, min(255, v + rng.randint(-6, 6))) for v in im.getdata()])
        photos.append(os.path.join(tmp, name))
        im.save(photos[-1])
    saved, picture, zipped = (os.path.join(tmp, n) for n in ("oom-trained.safetensors", "oom.png", "oom-gzipped"))
    os.makedirs(zipped, exist_ok=True)
    for n in NAMES:
        with open(os.path.join(data, n), "rb") as f, gzip.open(os.path.join(zipped, n + ".gz"), "wb") as g:
            g.write(f.read())

    def outcome(p, label):
        """what a run gave that must not change: its status and output; train's, its model file (its output
        holds times); show's, its picture too"""
        if label == "train":
            return p.returncode, open(saved, "rb").read() if os.path.exists(saved) else None
        if label == "show":
            return p.returncode, p.stdout, p.stderr, open(picture, "rb").read() if os.path.exists(picture) else None
        return p.returncode, p.stdout, p.stderr

    runs = [(f"predict {os.path.basename(f)}", ["predict", "--json", "--show", "--model", model, f]) for f in photos]
    runs += [("predict --preprocess fashion", ["predict", "--json", "--show", "--preprocess", "fashion", "--model", model,
                                               photos[0]]),
             ("eval", ["eval", "--data", data, "--no-verify", "--model", model]),
             ("eval gzipped", ["eval", "--data", zipped, "--no-verify", "--model", model]),
             ("train", ["train", "--data", data, "--no-verify", "--epochs", "2", "--batch", "2", "--layers", "784,16,10",
                        "--save", saved]),
             ("show", ["show", "--data", data, "--no-verify", "--count", "6", "--out", picture])]
    # a number, a 1 and a 0 apart with a 7 close beside the 0: read digit by digit (predict --number)
    im = Image.new("L", (300, 120), 225)
    d = ImageDraw.Draw(im)
    d.line([(40, 20), (36, 100)], fill=30, width=8)
    d.ellipse([110, 20, 170, 100], outline=30, width=8)
    d.line([(190, 20), (240, 20), (210, 100)], fill=30, width=8)
    im.save(os.path.join(tmp, "number.png"))
    runs.append(("predict --number", ["predict", "--number", "--json", "--show", "--model", model,
                                      os.path.join(tmp, "number.png")]))
    # the model's reading is swept once, with the first photo: the others' sweeps begin past it, the
    # fashion recipe's (runs[len(photos)]) too
    count = os.path.join(tmp, "count")
    subprocess.run([*wrap, f"COUNT_ALLOC={count}", MNIST, "predict", "--model", model, os.path.join(tmp, "none.png")],
                   capture_output=True, timeout=60)
    model_reading = int(open(count).read())
    def clear():
        for f in (saved, picture):
            if os.path.exists(f):
                os.remove(f)
    for r, (label, args) in enumerate(runs):  # predict --show: the input read, each number
        clear()
        want = subprocess.run([*wrap, f"COUNT_ALLOC={count}", MNIST, *args], capture_output=True, text=True,
                              timeout=60)
        want_outcome, n, odd = outcome(want, label), int(open(count).read()), []
        for i in range(model_reading + 1 if 0 < r <= len(photos) else 1, n + 1):  # the fashion run too (next)
            clear()
            p = subprocess.run([*wrap, f"FAIL_ALLOC={i}", MNIST, *args], capture_output=True, text=True, timeout=60)
            err = p.stderr.strip()  # the command's error, or the image's ({"file", "error"} on stdout)
            if not err and p.stdout.count("\n") == 1 and '"error":' in p.stdout:
                err = json.loads(p.stdout).get("error", "")
            said = p.returncode == 1 and "\n" not in err and "out of memory" in err and not any(map(os.path.exists, (saved, picture)))
            if not said and outcome(p, label) != want_outcome:
                odd.append(f"allocation {i}: status {p.returncode}, {(p.stdout + err)[:120]!r}")
        check(want.returncode == 0 and n > 10 and not odd,
              f"{label}, each of its {n} allocations failing in turn: out of memory in one line (and no model "
              f"file or picture), or what it gives with the memory ({len(odd)} otherwise{': ' if odd else ''}{'; '.join(odd[:3])})")


def test_no_blas(tmp, data):
    """OpenBLAS is opened by the commands that compute, not linked (src/blas.c): where it cannot be opened (here a
    libopenblas.so.0 that is no library, first on LD_LIBRARY_PATH) a command that needs it says so in one line and
    exits 1, and the others run: a linked build did not start at all, --version and --help neither."""
    good = os.path.join(tmp, "blas.safetensors")
    safetensors(good, [784, 16, 10])
    fake = os.path.join(tmp, "no-blas")
    os.makedirs(fake, exist_ok=True)
    open(os.path.join(fake, "libopenblas.so.0"), "wb").close()
    env = dict(os.environ, LD_LIBRARY_PATH=fake)

    def broken(*args, timeout=60):
        try:
            return subprocess.run([MNIST, *args], capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:  # serve, which ran (a build that did not check): killed
            return subprocess.CompletedProcess(args, -9, "", f"still running after {timeout} s")
    p = broken("--version")
    check(p.returncode == 0 and p.stdout.startswith("mnist "), f"--version without OpenBLAS: {p.stderr.strip()!r}")
    p = broken("--help")
    check(p.returncode == 0 and "predict" in p.stdout, f"--help without OpenBLAS: {p.stderr.strip()!r}")
    p = broken("predict", "--model", good, "--preprocess", "lab", SAMPLE)
    check(p.returncode == 0 and re.match(r".*: \d \(", p.stdout),
          f"predict --preprocess lab without OpenBLAS (one image: our own loops): {(p.stdout + p.stderr).strip()!r}")
    d = ["--data", data, "--no-verify"]
    for label, args in (("predict (a photo's fits)", ["predict", "--model", good, SAMPLE]),
                        ("predict --number", ["predict", "--model", good, "--number", SAMPLE]),
                        ("eval", ["eval", *d, "--model", good]),
                        ("train", ["train", *d, "--epochs", "1", "--batch", "2", "--layers", "784,8,10"]),
                        # at its start, not at every image it is sent (each was answered 400, naming a path)
                        ("serve", ["serve", "--model", good, "--port", "0"])):
        refused(f"{label} without OpenBLAS", broken(*args, timeout=20), 1, "libopenblas.so.0", "cannot be loaded",
                "install libopenblas0")


def test_blas_threads(tmp):
    """OpenBLAS starts no threads of its own (main.c sets OPENBLAS_NUM_THREADS=1 before it is opened): they are
    never used, every product runs on the thread that calls it, but as it opened it started one for each core but
    one, which spun (28 ms of CPU beside predict's 45 of samples/0, BENCHMARKS.md). predict of a photo, which opens
    it, starts as many threads with OPENBLAS_NUM_THREADS unset (or 4) as with it 1, and one at least (its own,
    which opens it); the build before, on 2 cores, 2 against 1. On one core OpenBLAS starts none either way."""
    if len(os.sched_getaffinity(0)) < 2:
        print("SKIP OpenBLAS's threads: this process may run on one core, where OpenBLAS starts none either way")
        return
    good = os.path.join(tmp, "threads.safetensors")
    safetensors(good, [784, 16, 10])
    prefix = shim(tmp, "count_threads")
    if not prefix:
        return
    counts = []
    for run, value in enumerate(("1", None, "4")):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        if value:
            env["OPENBLAS_NUM_THREADS"] = value
        env["COUNT_THREADS"] = os.path.join(tmp, f"threads-{run}.count")  # one a run: none left from the one before
        p = subprocess.run([*prefix, MNIST, "predict", "--model", good, SAMPLE], capture_output=True, text=True,
                           timeout=60, env=env)
        ok = p.returncode == 0 and os.path.exists(env["COUNT_THREADS"])
        counts.append(int(open(env["COUNT_THREADS"]).read()) if ok else -1)
    check(counts[0] >= 1 and counts[0] == counts[1] == counts[2],
          f"predict of a photo starts as many threads with OPENBLAS_NUM_THREADS 1, unset and 4: {counts}")


def test_make_help():
    """make help names every target the Makefile offers (it listed 7 of 19), without comment marks."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}  # make test's own: its jobserver
    p = subprocess.run(["make", "-s", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
                       env=env)
    phony = re.search(r"^\.PHONY:(.*)$", open(os.path.join(ROOT, "Makefile")).read(), re.M).group(1).split()
    words = set(re.findall(r"[a-z][a-z0-9-]*", p.stdout))
    missing = [t for t in phony if t != "all" and t not in words]
    check(p.returncode == 0 and not missing and "#" not in p.stdout, f"make help lists every target: missing {missing}")


def main():
    tmp = tempfile.mkdtemp(prefix="mnist-test-faults-")
    try:
        data = os.path.join(tmp, "data")
        dataset(data)
        test_flags(tmp, data)
        test_data(tmp)
        test_models(tmp, data)
        test_images(tmp)
        test_diverged(tmp, data)
        test_full_disk(tmp, data)
        test_file_size_limit(tmp, data)
        test_outputs(tmp, data)
        test_out_of_memory(tmp, data)
        test_no_blas(tmp, data)
        test_blas_threads(tmp)
        test_make_help()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return status()


if __name__ == "__main__":
    sys.exit(main())
