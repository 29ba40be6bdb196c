"""test_cli.py: what the command says about itself and its edges: train --epochs 0, the --log of
train --resume, --version, the numbers a flag takes, a flag given twice, predict from standard
input, plot of a log cut short, the usage lines and their README headings, README's Layout, the
helps' wording, train's progress line within a terminal's width, fetch's on a terminal, and the data
folder a failed fetch leaves. Tiny data sets made here; nothing is downloaded (the fetches go through
a proxy that is not there, or from the local MNIST files)."""
import base64
import errno
import fcntl
import gzip
import http.server
import json
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import zlib

from testlib import MNIST, ROOT, check, docs_text, png_chunk, read_pty, shim, status

NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
SAMPLE = os.path.join(ROOT, "samples", "3-blue-pen.png")


def run(*args, stdin=None, env=None, timeout=120):
    try:
        return subprocess.run([MNIST, *args], input=stdin, capture_output=True, timeout=timeout,
                              env=env if env is None else {**os.environ, **env})
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, -1, b"", f"(still running after {timeout} s: killed)".encode())


def text(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else b


def one_line(p, status_want, *needles):
    """p exited with status_want and said one line on stderr holding every needle."""
    err = text(p.stderr).strip()
    return p.returncode == status_want and err and "\n" not in err and all(n in err for n in needles)


def real_mnist(name, what):
    """The folder of the real MNIST files ($MNIST_DATA, else ~/.cache/mnist) when it holds name's .gz; else None,
    saying that what is skipped."""
    mnist = os.environ.get("MNIST_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "mnist")
    if os.path.isfile(os.path.join(mnist, name + ".gz")):
        return mnist
    print(f"SKIP {what}: no {name}.gz in {mnist}")
    return None


def dataset(folder, n_train=6, n_test=5):
    os.makedirs(folder, exist_ok=True)
    px = 28 * 28

    def idx(magic, dims, body):
        return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(body)
    files = [idx(2051, [n_train, 28, 28], [(i * 37) % 256 for i in range(n_train * px)]),
             idx(2049, [n_train], [i % 10 for i in range(n_train)]),
             idx(2051, [n_test, 28, 28], [(i * 11) % 256 for i in range(n_test * px)]),
             idx(2049, [n_test], [(3 * i) % 10 for i in range(n_test)])]
    for name, b in zip(NAMES, files):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(b)


def test_epochs_zero(tmp, data):
    """--epochs 0 said nothing (and with --checkpoint alone wrote nothing): one line says no epoch was
    trained; --save writes the initial model; --plot draws nothing; --checkpoint the run at its start,
    which --resume trains on bit for bit as a run of those epochs from the start."""
    d = ["--data", data, "--no-verify", "--layers", "784,16,10", "--batch", "2", "--threads", "1",
         "--optimizer", "adam"]
    p = run("train", *d, "--epochs", "0")
    check(one_line(p, 0, "--epochs 0", "nothing trained") and text(p.stdout) == "",
          f"train --epochs 0: one line, nothing trained (status {p.returncode}: {text(p.stderr).strip()!r})")
    init = os.path.join(tmp, "init.safetensors")
    p = run("train", *d, "--epochs", "0", "--save", init)
    check(one_line(p, 0, "nothing trained", "--save") and os.path.exists(init),
          f"train --epochs 0 --save: the initial model, said so ({text(p.stderr).strip()!r})")
    ck = os.path.join(tmp, "start.ckpt")
    p = run("train", *d, "--epochs", "0", "--checkpoint", ck)
    check(one_line(p, 0, "nothing trained", ck, "--resume") and os.path.exists(ck),
          f"train --epochs 0 --checkpoint: the run's start, said so ({text(p.stderr).strip()!r})")
    # a run at its start that no resume could train (a batch larger than the data; dropout on a network
    # without a hidden layer) is refused, and no checkpoint written: it said the file held the run
    bad = os.path.join(tmp, "cannot.ckpt")
    for more, needle in ((["--batch", "7"], "batch size 7 is more than the 6"),
                         (["--layers", "784,10", "--dropout", "0.5"], "no hidden layer")):
        p = run("train", *d, "--epochs", "0", "--checkpoint", bad, *more)
        check(one_line(p, 2, needle, "would hold a run that cannot be resumed") and not os.path.exists(bad),
              f"train --epochs 0 --checkpoint {' '.join(more)}: refused, nothing written ({text(p.stderr).strip()!r})")
    # --plot has no epoch to draw: said in the one line, status 0, no chart written (it added a second
    # line, "--plot F: no epochs to draw", and exited 1)
    svg, log = os.path.join(tmp, "zero.svg"), os.path.join(tmp, "zero.jsonl")
    for more in ([], ["--log", log]):
        p = run("train", *d, "--epochs", "0", "--plot", svg, *more)
        check(one_line(p, 0, "nothing trained", "--plot drew nothing") and not os.path.exists(svg),
              f"train --epochs 0 --plot {' '.join(more)}: no chart, said in the one line ({text(p.stderr).strip()!r})")
    a, b = os.path.join(tmp, "fresh.safetensors"), os.path.join(tmp, "resumed.safetensors")
    p = run("train", *d, "--epochs", "2", "--save", a)
    q = run("train", "--data", data, "--no-verify", "--threads", "1", "--resume", ck, "--epochs", "2", "--save", b)
    same = p.returncode == 0 and q.returncode == 0 and open(a, "rb").read() == open(b, "rb").read()
    check(same, f"the 0-epoch checkpoint resumed for 2 epochs is bit for bit a 2-epoch run ({text(q.stderr).strip()!r})")
    # resumed with fewer --epochs than it has trained: its own count, not the flag's ("has trained its 1 epoch")
    p = run("train", "--data", data, "--no-verify", "--resume", ck, "--epochs", "1")
    check(one_line(p, 0, f"{ck} has trained 2 epochs, past --epochs 1: nothing to do", "more than 2"),
          f"a run of 2 epochs resumed with --epochs 1: its 2 epochs said ({text(p.stderr).strip()!r})")
    # a finished run resumed with --plot: drawn from its --log, else nothing, said in the note's line
    # (it added "--plot F: no epochs to draw" and exited 1)
    done, log = os.path.join(tmp, "done.ckpt"), os.path.join(tmp, "done.jsonl")
    run("train", *d, "--epochs", "1", "--checkpoint", done, "--log", log)
    again = ["train", "--data", data, "--no-verify", "--threads", "1", "--resume", done, "--epochs", "1", "--plot", svg]
    p = run(*again)
    check(one_line(p, 0, "nothing to do", "--plot drew nothing") and not os.path.exists(svg),
          f"a finished run resumed with --plot and no --log: one line, no chart ({text(p.stderr).strip()!r})")
    p = run(*again, "--log", log)
    check(one_line(p, 0, "nothing to do") and os.path.exists(svg),
          f"and with its --log: the run's chart ({text(p.stderr).strip()!r})")


def test_resume_log(tmp, data):
    """train --resume appends to its --log after cutting it back to the checkpoint's epochs: a last
    line cut off by a kill (no newline) and the records of epochs after the checkpoint's (a run that
    went on past it) are dropped, and one line says which; appended as they were, they left a broken
    line in the middle of the log, or its epochs twice. A log that ends where the checkpoint does is
    appended to in silence."""
    import json
    d = ["--data", data, "--no-verify", "--layers", "784,16,10", "--batch", "2", "--threads", "1"]
    start, ck, log = (os.path.join(tmp, name) for name in ("after1.ckpt", "work.ckpt", "resume.jsonl"))
    p = run("train", *d, "--epochs", "1", "--checkpoint", start, "--log", log)
    shutil.copy(start, ck)
    q = run("train", *d, "--resume", ck, "--epochs", "3", "--log", log)
    first = open(log).read().splitlines(keepends=True)[:1]

    def epochs():  # the log's epochs, or its text when it is not all records ending in a newline
        body = open(log).read()
        try:
            return [json.loads(line)["epoch"] for line in body.splitlines()] if body.endswith("\n") else body
        except ValueError:
            return body
    check(p.returncode == 0 and q.returncode == 0 and q.stderr == b"" and epochs() == [0, 1, 2],
          f"a log that ends at the checkpoint: appended to in silence ({epochs()}, {text(q.stderr).strip()!r})")
    cut = '{"epoch":1,"seconds":0.01,"lr":0.0'
    for label, body, said in (("2 records past the checkpoint", None, "dropped 2 records of epochs after the "
                               "checkpoint's (from epoch 1 on)"),
                              ("a cut-off last line", "".join(first) + cut, "dropped a cut-off last line"),
                              ("both", open(log).read() + cut, "dropped 2 records of epochs after the checkpoint's "
                               "(from epoch 1 on) and a cut-off last line")):
        if body is not None:
            with open(log, "w") as f:
                f.write(body)
        shutil.copy(start, ck)
        p = run("train", *d, "--resume", ck, "--epochs", "3", "--log", log)
        check(one_line(p, 0, f"--log {log}: {said}") and epochs() == [0, 1, 2],
              f"--resume with a log holding {label}: cut back, said ({epochs()!r}, {text(p.stderr).strip()!r})")
    # a whole last record without its newline (plot reads it) is kept, and the newline added
    with open(log, "w") as f:
        f.write("".join(first).rstrip("\n"))
    shutil.copy(start, ck)
    p = run("train", *d, "--resume", ck, "--epochs", "3", "--log", log)
    check(p.returncode == 0 and p.stderr == b"" and epochs() == [0, 1, 2],
          f"a log whose last record has no newline: kept, appended to ({epochs()!r}, {text(p.stderr).strip()!r})")
    # a file that is not the run's log: a line that is not a record where the cut would be stops the run,
    # and the file is left as it was (it was cut to the records, or to nothing); a line plot refuses is no
    # record here either ("epoch": 0.5 was read as epoch 0, two records on one line as the first, and a
    # line holding a NUL byte as what comes before it)
    for label, body, line in (("notes", "my notes\nimportant line\n", 1),
                              ("a record, then notes", "".join(first) + "my notes\n", 2),
                              ("notes without a newline", "my notes", 1),
                              ("an epoch 0.5", first[0].replace('"epoch":0,', '"epoch":0.5,', 1), 1),
                              ("two records on one line", first[0].rstrip("\n") + first[0], 1),
                              ("a record, a NUL byte, more", first[0].rstrip("\n") + "\0x\n", 1)):
        with open(log, "w") as f:
            f.write(body)
        shutil.copy(start, ck)
        p = run("train", *d, "--resume", ck, "--epochs", "3", "--log", log)
        check(one_line(p, 1, f"--log {log}: line {line} is not a record") and open(log).read() == body,
              f"--resume with a --log of {label}: refused, the file as it was ({text(p.stderr).strip()!r})")


def test_log_no_record(tmp, data):
    """A run that records no epoch leaves its --log as it was: one whose loss is NaN at its first step,
    a resume with nothing to do and --epochs 0 made an empty file where there was none, and a new run
    emptied the log there. A run that records an epoch replaces the log with its records."""
    d = ["--data", data, "--no-verify", "--layers", "784,16,10", "--batch", "2", "--threads", "1",
         "--activation", "relu"]
    ck, log = os.path.join(tmp, "norecord.ckpt"), os.path.join(tmp, "norecord.jsonl")
    old = '{"epoch":0,"seconds":1,"eval_seconds":1,"lr":0.5,"loss":1,"test_loss":1,"test_accuracy":0.5}\n'
    p = run("train", *d, "--epochs", "1", "--checkpoint", ck)
    for label, args, status_want in (("a NaN at the first step", ["--epochs", "1", "--init-scale", "1e30"], 1),
                                     ("--epochs 0", ["--epochs", "0"], 0),
                                     ("a resume with nothing to do", ["--resume", ck, "--epochs", "1"], 0)):
        for before in (None, old):
            if os.path.exists(log):
                os.remove(log)
            if before is not None:
                with open(log, "w") as f:
                    f.write(before)
            q = run("train", *d, *args, "--log", log)
            after = open(log).read() if os.path.exists(log) else None
            check(p.returncode == 0 and q.returncode == status_want and after == before,
                  f"train --log after {label}, the log {'a run' + chr(39) + 's' if before else 'not there'}: left "
                  f"as it was ({after!r}, status {q.returncode}: {text(q.stderr).strip()!r})")
    q = run("train", *d, "--epochs", "1", "--log", log)
    lines = open(log).read().splitlines()
    check(q.returncode == 0 and len(lines) == 1 and json.loads(lines[0])["loss"] != 1,
          f"train --log after an epoch: the log is replaced by its record ({lines!r})")


def test_closed_stdout(tmp, data):
    """A standard output closed by the caller (>&-) is not the --log: the log opened as descriptor 1 and
    took every line printed, its records among them; the output fails as a closed one does."""
    log = os.path.join(tmp, "closed-stdout.jsonl")
    p = subprocess.run([MNIST, "train", "--data", data, "--no-verify", "--layers", "784,16,10", "--batch", "2",
                        "--threads", "1", "--epochs", "2", "--log", log], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1), timeout=120)
    lines = open(log).read().splitlines() if os.path.exists(log) else []
    check(p.returncode == 1 and "writing the standard output failed" in text(p.stderr) and len(lines) == 2
          and all(line.startswith('{"epoch":') for line in lines),
          f"train --log with the standard output closed: the log holds its 2 records only, the output fails "
          f"(status {p.returncode}, log {lines[:3]!r}, {text(p.stderr).strip()!r})")


def test_broken_pipe(tmp, data):
    """train whose standard output is a pipe with no reader (| head, a pager quit) trains on to its --save and
    --checkpoint and fails at the end, as with a closed one: SIGPIPE ended it at its next line, silently,
    nothing saved. show --out writes its PNG so too."""
    model, ckpt = os.path.join(tmp, "piped.safetensors"), os.path.join(tmp, "piped.ckpt")
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([MNIST, "train", "--data", data, "--no-verify", "--layers", "784,16,10", "--batch", "2",
                            "--threads", "1", "--epochs", "2", "--save", model, "--checkpoint", ckpt], stdout=w,
                           stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(w)
    check(one_line(p, 1, "writing the standard output failed: Broken pipe") and os.path.exists(model)
          and os.path.exists(ckpt), f"train into a pipe with no reader: saved, then fails saying so "
          f"(status {p.returncode}, {text(p.stderr).strip()!r})")
    # --resume alone writes its checkpoint too (the file it resumes): it trains on to it as well
    before = open(ckpt, "rb").read() if os.path.exists(ckpt) else b""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([MNIST, "train", "--data", data, "--no-verify", "--threads", "1", "--resume", ckpt,
                            "--epochs", "3"], stdout=w, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(w)
    after = open(ckpt, "rb").read() if os.path.exists(ckpt) else b""
    check(one_line(p, 1, "writing the standard output failed: Broken pipe") and after != before,
          f"train --resume into a pipe with no reader: its checkpoint written, then fails saying so "
          f"(status {p.returncode}, {text(p.stderr).strip()!r})")
    # with no file to write, nothing is gained by training on: the run ends at its first line, as a filter does
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([MNIST, "train", "--data", data, "--no-verify", "--layers", "784,16,10", "--batch", "2",
                            "--threads", "1", "--epochs", "50"], stdout=w, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(w)
    check(p.returncode == -signal.SIGPIPE, f"train into a pipe with no reader, no file to write: ended by SIGPIPE "
          f"(status {p.returncode}, {text(p.stderr).strip()!r})")
    # show --out as well: its digits in the terminal (here 17 kB of them) came first, and SIGPIPE ended it there,
    # silently, its PNG not written
    more = os.path.join(tmp, "data-40")
    dataset(more, n_train=40)
    grid = os.path.join(tmp, "piped.png")
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([MNIST, "show", "--data", more, "--no-verify", "--count", "40", "--out", grid], stdout=w,
                           stderr=subprocess.PIPE, timeout=120, env={**os.environ, "COLUMNS": "30"})
    finally:
        os.close(w)
    check(one_line(p, 1, "writing the standard output failed: Broken pipe") and os.path.exists(grid),
          f"show --out into a pipe with no reader: the PNG written, then fails saying so "
          f"(status {p.returncode}, {text(p.stderr).strip()!r})")


def test_version():
    """mnist --version: the version (MNIST_VERSION of include/mnist.h) and what the build holds."""
    import re
    want = re.search(r'#define MNIST_VERSION "([^"]+)"', open(os.path.join(ROOT, "include", "mnist.h")).read())
    p = run("--version")
    lines = text(p.stdout).splitlines()
    facts = lines[1] if len(lines) == 2 else ""
    check(p.returncode == 0 and p.stderr == b"" and want and lines and lines[0] == f"mnist {want.group(1)}",
          f"mnist --version: 'mnist {want and want.group(1)}' first ({lines[:1]}, status {p.returncode})")
    check(all(re.search(k + r": (yes|no)\b", facts) for k in ("CUDA backend", "sparse first layer")),
          f"mnist --version: the build's facts on its second line: {facts!r}")
    cuda = "CUDA backend: yes" in facts
    q = run("eval", "--model", "none.safetensors", "--device", "cuda")
    check(cuda == ("has no CUDA backend" not in text(q.stderr)),
          f"--version's CUDA answer agrees with --device cuda's ({facts!r}; {text(q.stderr).strip()!r})")
    p = run("--help")
    check("--version" in text(p.stdout), "mnist --help names --version")
    # help's topics are its commands, help itself and --version (each said "unknown command")
    usage = text(run("--help").stdout)
    for topic in ("help", "--help", "-h"):
        p = run("help", topic)
        check(p.returncode == 0 and p.stderr == b"" and text(p.stdout) == usage,
              f"mnist help {topic}: the usage, as mnist --help ({p.returncode}: {text(p.stderr).strip()!r})")
    p = run("help", "--version")
    check(p.returncode == 0 and p.stderr == b"" and text(p.stdout).startswith("usage: mnist --version\n")
          and "CUDA backend" in text(p.stdout),
          f"mnist help --version: what --version prints ({p.returncode}: {text(p.stderr).strip()!r})")
    p = run("help", "nosuch")
    check(one_line(p, 2, "unknown command 'nosuch'"), f"mnist help nosuch: unknown ({text(p.stderr).strip()!r})")
    p = run("--version", "extra")
    check(one_line(p, 2, "--version"), f"mnist --version extra: a usage error ({text(p.stderr).strip()!r})")
    # output that cannot be written fails these too, as it fails each command (they said nothing, status 0)
    for args in (["--version"], ["--help"], ["help"], ["train", "--help"]):
        with open("/dev/full", "w") as full:
            p = subprocess.run([MNIST, *args], stdout=full, stderr=subprocess.PIPE, timeout=60)
        check(one_line(p, 1, "writing the standard output failed", "No space left"),
              f"mnist {' '.join(args)} > /dev/full: status 1 and one line ({p.returncode}: {text(p.stderr).strip()!r})")


def test_predict_stdin(tmp, data):
    """predict - reads one image from standard input, named "standard input" in every line; bounded
    as files are (1 GiB); '-' twice is a usage error."""
    import json
    model = os.path.join(tmp, "stdin.safetensors")
    run("train", "--data", data, "--no-verify", "--layers", "784,16,10", "--epochs", "0", "--save", model)
    png = open(SAMPLE, "rb").read()
    want = run("predict", "--model", model, SAMPLE)
    p = run("predict", "--model", model, "-", stdin=png)
    check(p.returncode == 0 and text(p.stdout) == text(want.stdout).replace(SAMPLE, "standard input", 1),
          f"predict - reads a PNG from standard input: {text(p.stdout).strip()!r} {text(p.stderr).strip()!r}")
    p = run("predict", "--json", "--model", model, SAMPLE, "-", stdin=png)
    lines = [json.loads(line) for line in text(p.stdout).splitlines()]
    check(p.returncode == 0 and len(lines) == 2 and lines[1]["file"] == "standard input" and
          lines[1]["probabilities"] == lines[0]["probabilities"],
          f"predict --json FILE -: the same answer, its file \"standard input\" ({[x.get('file') for x in lines]})")
    for label, stdin, needle in (("empty", b"", "empty"), ("garbage", b"not an image at all\n" * 4, "not a PNG")):
        p = run("predict", "--model", model, "-", stdin=stdin)
        check(one_line(p, 1, "standard input: ", needle), f"predict - with {label} input: one line naming standard "
              f"input ({text(p.stderr).strip()!r})")
        p = run("predict", "--json", "--model", model, "-", stdin=stdin)
        r = json.loads(text(p.stdout) or "{}")
        check(p.returncode == 1 and r.get("file") == "standard input" and needle in r.get("error", ""),
              f"predict --json - with {label} input: {{\"file\": \"standard input\", \"error\"}} ({r})")
    big = os.path.join(tmp, "big.png")  # sparse: a size past the limit, no disk taken
    with open(big, "wb") as f:
        f.truncate((1 << 30) + 1)
    with open(big, "rb") as f:
        p = subprocess.run([MNIST, "predict", "--model", model, "-"], stdin=f, capture_output=True, timeout=60)
    check(one_line(p, 1, "standard input: ", "too large", "limit 1024 MB"),
          f"predict - < a file over 1 GiB: refused from its size ({text(p.stderr).strip()!r})")
    os.remove(big)
    # a pipe says no size: read to a byte past the limit, then refused (1 GiB of memory for a second)
    feed = subprocess.Popen(["head", "-c", str((1 << 30) + 1), "/dev/zero"], stdout=subprocess.PIPE)
    p = subprocess.run([MNIST, "predict", "--model", model, "-"], stdin=feed.stdout, capture_output=True, timeout=120)
    feed.stdout.close()
    feed.wait()
    check(one_line(p, 1, "standard input: ", "too large", "1024 MB"),
          f"predict - from a pipe of 1 GiB and a byte: refused at the limit ({text(p.stderr).strip()!r})")
    p = run("predict", "--model", model, "-", "-", stdin=png)
    check(one_line(p, 2, "'-'", "twice"), f"predict - -: a usage error ({text(p.stderr).strip()!r})")
    # /dev/stdin fed by a pipe is refused as any pipe given as a file is; the line says that '-' reads it (it
    # said only "not a regular file"), and says so only of standard input, a pipe: not of another FIFO, nor of
    # /dev/stdin when standard input is a file, which is read
    p = run("predict", "--model", model, "/dev/stdin", stdin=png)
    check(one_line(p, 1, "/dev/stdin: not a regular file", "standard input, a pipe: '-' reads it"),
          f"predict /dev/stdin from a pipe: '-' suggested ({text(p.stderr).strip()!r})")
    p = run("predict", "--model", model, "--number", "/dev/stdin", stdin=png)
    check(one_line(p, 1, "/dev/stdin: not a regular file", "standard input, a pipe: '-' reads it"),
          f"predict --number /dev/stdin from a pipe: '-' suggested too ({text(p.stderr).strip()!r})")
    fifo = os.path.join(tmp, "image.fifo")
    os.mkfifo(fifo)
    p = run("predict", "--model", model, fifo, stdin=png)
    check(one_line(p, 1, f"{fifo}: not a regular file") and "'-'" not in text(p.stderr),
          f"predict FIFO, standard input another pipe: no '-' suggested ({text(p.stderr).strip()!r})")
    os.remove(fifo)
    with open(SAMPLE, "rb") as f:
        p = subprocess.run([MNIST, "predict", "--model", model, "/dev/stdin"], stdin=f, capture_output=True, timeout=60)
    check(p.returncode == 0 and text(p.stdout) == text(want.stdout).replace(SAMPLE, "/dev/stdin", 1),
          f"predict /dev/stdin < FILE: read as the file ({text(p.stdout).strip()!r} {text(p.stderr).strip()!r})")


def test_predict_ahead(tmp, data):
    """predict prepares images ahead on threads of their own, the first while the model loads (--number's once it
    has loaded): each image's line is the one it gets alone, in the order given, past the 16 prepared ahead at most
    and with standard input among them (which the command's own thread reads in its turn); where the model cannot be
    read, only the model's error is said, however the images would have read."""
    model = os.path.join(tmp, "ahead.safetensors")
    run("train", "--data", data, "--no-verify", "--layers", "784,16,10", "--epochs", "0", "--save", model)
    photo, marker = os.path.join(ROOT, "samples", "0-pencil-small.jpg"), os.path.join(ROOT, "samples", "2-marker.png")
    blank = os.path.join(tmp, "blank.png")
    with open(blank, "wb") as f:  # a grey page, 40x40: no ink
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 40, 40, 8, 0, 0, 0, 0)) +
                png_chunk(b"IDAT", zlib.compress((b"\x00" + b"\x80" * 40) * 40)) + png_chunk(b"IEND", b""))
    files = [photo, blank, marker] * 7
    files[10] = "-"  # a marker's bytes on standard input
    for flags in ([], ["--number"]):
        alone = {}
        for path in (photo, blank, marker):
            p = run("predict", "--model", model, "--json", "--show", *flags, path)
            alone[path] = text(p.stdout).replace(path, "PATH")
        check(all(alone.values()) and '"input"' in alone[photo] and '"error"' in alone[blank],
              f"{' '.join(['predict', *flags])} of each image alone: a line each")
        with open(marker, "rb") as f:
            p = subprocess.run([MNIST, "predict", "--model", model, "--json", "--show", *flags, *files], stdin=f,
                               capture_output=True, timeout=120)
        rows, want = text(p.stdout).splitlines(), []
        for path in files:
            name = "standard input" if path == "-" else path
            want.append(alone[marker if path == "-" else path].replace("PATH", name).rstrip("\n"))
        same = sum(a == b for a, b in zip(rows, want))
        check(p.returncode == 1 and len(rows) == len(files) and same == len(files),
              f"{' '.join(['predict', *flags])} of {len(files)} images, standard input the 11th: each line as alone, in "
              f"order ({same} of {len(rows)} lines, status {p.returncode})")
    p = run("predict", "--model", os.path.join(tmp, "none.safetensors"), photo, blank)
    check(one_line(p, 1, "none.safetensors") and not text(p.stdout) and "blank" not in text(p.stderr),
          f"predict with no model: the model's error alone ({text(p.stderr).strip()!r})")


def test_predict_decode_budget(tmp, data):
    """predict's threads decode two large images at once only within a budget (1 GB, as serve's): two 8192x8192
    RGBA PNGs (600 MB each to decode, by mnist_image_decode_bytes) take one's memory, not twice it (953 MB of two
    against 539 MB of one, before the budget), also where one is standard input's, which the command's own thread
    reads beside the threads, and where one is a 268 MB BMP, whose bytes are read only once there is room."""
    if len(os.sched_getaffinity(0)) < 2:
        print("SKIP predict decodes large images one at a time: one core here, one thread")
        return
    model = os.path.join(tmp, "budget.safetensors")
    run("train", "--data", data, "--no-verify", "--layers", "784,4,10", "--epochs", "0", "--save", model)
    c, row = zlib.compressobj(9), b"\0" + b"\xff\xff\xff\x00" * 8192  # white, transparent
    body = b"".join(c.compress(row) for _ in range(8192)) + c.flush()
    files = [os.path.join(tmp, f"large-{i}.png") for i in range(2)]
    for path in files:
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8192, 8192, 8, 6, 0, 0, 0)) +
                    png_chunk(b"IDAT", body) + png_chunk(b"IEND", b""))
    peak = "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); " \
           "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    # a BMP of as many pixels, 268 MB, after the first PNG: its bytes were read whole before it waited for room
    bmp = os.path.join(tmp, "large.bmp")
    with open(bmp, "wb") as f:
        f.write(b"BM" + struct.pack("<IHHI", 54 + 8192 * 8192 * 4, 0, 0, 54) +
                struct.pack("<IiiHHIIiiII", 40, 8192, 8192, 1, 32, 0, 8192 * 8192 * 4, 2835, 2835, 0, 0))
        row = b"\xff" * (8192 * 4)
        for _ in range(8192):
            f.write(row)
    got = []  # standard input's image first: the command reads it while a thread decodes the file after it
    for some, given in ((files[:1], None), (files, None), (["-", files[1]], files[0]), ([files[0], bmp], None)):
        with open(given or os.devnull, "rb") as stdin:
            p = subprocess.run([sys.executable, "-c", peak, MNIST, "predict", "--model", model, *some], stdin=stdin,
                               capture_output=True, text=True, timeout=300)
        got.append([int(v) for v in p.stdout.split()] if p.returncode == 0 else [None, None])
    (one_status, one), (two_status, two), (std_status, std), (bmp_status, with_bmp) = got
    check(one_status == two_status == 1 and one and two and two <= 1.25 * one,
          f"predict of two 8192x8192 PNGs: peak memory {two} KB against {one} KB for one (status {two_status}, {one_status})")
    check(std_status == 1 and one and std and std <= 1.25 * one,
          f"predict of two 8192x8192 PNGs, the first from standard input: peak memory {std} KB against {one} KB "
          f"for one (status {std_status})")
    # (1.6 times: the file's bytes were read beside the PNG's decode, 268 MB of 536)
    check(bmp_status == 1 and one and with_bmp and with_bmp <= 1.25 * one,
          f"predict of an 8192x8192 PNG and a 268 MB BMP of as many pixels: peak memory {with_bmp} KB against {one} KB "
          f"for the PNG alone (status {bmp_status})")
    for path in files + [bmp]:
        os.remove(path)


def test_pixel_limit(tmp, data):
    """README gives predict's limit on an image's pixels in the megapixels its error counts (a million
    pixels each): it said 64 megapixels, of 2^20, where the error says '81.0 megapixels' of a 9000x9000
    PNG, and a 66.0-megapixel image is read."""
    path = os.path.join(tmp, "huge.png")
    with open(path, "wb") as f:  # a PNG's header of 9000x9000 gray pixels, refused before its data is read
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 9000, 9000, 8, 0, 0, 0, 0)) +
                png_chunk(b"IDAT", zlib.compress(b"\0" * 10)) + png_chunk(b"IEND", b""))
    model = os.path.join(tmp, "pixels.safetensors")
    run("train", "--data", data, "--no-verify", "--layers", "784,4,10", "--epochs", "0",
        "--save", model)
    p = run("predict", "--model", model, path)
    # (the limit was said in pixels: "81.0 megapixels, over the limit of 67108864 pixels")
    m = re.search(r"is 81\.0 megapixels, over the limit of ([0-9.]+)$", text(p.stderr).strip())
    check(p.returncode == 1 and m, f"predict of a 9000x9000 PNG: refused, in megapixels ({text(p.stderr).strip()!r})")
    # just past the limit, to as many places as tell the two apart (it was "67.1 megapixels, over the limit of 67.1")
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8192, 8193, 8, 0, 0, 0, 0)) +
                png_chunk(b"IDAT", zlib.compress(b"\0" * 10)) + png_chunk(b"IEND", b""))
    p2 = run("predict", "--model", model, path)
    check(p2.returncode == 1 and text(p2.stderr).strip().endswith("8192x8193 is 67.12 megapixels, over the limit of 67.11"),
          f"predict of an 8192x8193 PNG: its size and the limit told apart ({text(p2.stderr).strip()!r})")
    readme = " ".join(docs_text().split())
    limit = f"larger than {m.group(1)} megapixels" if m else "(no limit said)"
    check(limit in readme, f"README or docs/: predict's limit in the error's megapixels, {limit!r}")


def test_plot_cut_short(tmp):
    """A log whose last line was cut short as it was written (a run killed) is drawn without that line,
    with one warning naming the file and the line; every other bad line still refuses the log."""
    good = ('{"epoch":0,"seconds":1,"loss":2.3,"test_loss":2.2,"test_accuracy":0.2}\n'
            '{"epoch":1,"seconds":1,"loss":1.3,"test_loss":1.2,"test_accuracy":0.6}\n')
    cut = '{"epoch":2,"seconds":1,"loss":0.9,"test_lo'
    log, svg = os.path.join(tmp, "cut.jsonl"), os.path.join(tmp, "cut.svg")
    with open(log, "w") as f:
        f.write(good + cut)
    p = run("plot", log, "--out", svg)
    check(one_line(p, 0, "warning", log, "line 3", "cut short") and "Wrote 2 epochs" in text(p.stdout)
          and os.path.exists(svg), f"plot of a log whose last line is cut short: drawn, one warning "
          f"({text(p.stderr).strip()!r}, {text(p.stdout).strip()!r})")
    for label, body, needle in (("a cut line ended by a newline", good + cut + "\n", "line 3"),
                                ("a cut line in the middle", good.replace("\n", "\n" + cut + "\n", 1), "line 2"),
                                ("a last line that is JSON but no record", good + '{"foo":1}', "line 3"),
                                ("a log of one cut line", cut, "no records")):
        with open(log, "w") as f:
            f.write(body)
        p = run("plot", log, "--out", svg)
        check(one_line(p, 1, log, needle) and "warning" not in text(p.stderr),
              f"plot of {label}: refused ({text(p.stderr).strip()!r})")


def test_plot_not_record(tmp):
    """A line of a log that is no record is refused saying why: every such line was said to have no "epoch",
    a line of broken JSON and an "epoch" of -1 among them, and an "epoch" of 0.5 was read as 0; two records on
    one line (a newline lost) were read as the first alone. Such a last line with no newline was cut short as
    it was written: skipped with a warning, as a last line that is no JSON is."""
    good = '{"epoch":0,"seconds":1,"loss":2.3,"test_loss":2.2,"test_accuracy":0.2}\n'
    log, svg = os.path.join(tmp, "bad.jsonl"), os.path.join(tmp, "bad.svg")
    for line, why in (('{"epoch":1,"loss":', "not JSON"), ("[1, 2]", "not a JSON object"),
                      ('{"loss":1.3}', 'no "epoch"'), ('{"epoch":"1","loss":1.3}', 'its "epoch" is not a whole number'),
                      ('{"epoch":-1,"loss":1.3}', 'its "epoch" is not a whole number'),
                      ('{"epoch":0.5,"loss":1.3}', 'its "epoch" is not a whole number'),
                      ('{"epoch":1,"loss":1.3}{"epoch":2,"loss":1.2}', "more after its JSON value"),
                      # cJSON skipped a control character outside a string as white space: JSON has none there
                      ('{"epoch":1,\x01"loss":1.3}', "not JSON (it holds a raw control character)"),
                      ('{"epoch":1,"loss":\x0b1.3}', "not JSON (it holds a raw control character)"),
                      # cJSON refuses past 1000 levels as it refuses broken JSON: said as it is
                      ('{"epoch":1,"x":' + "[" * 1000 + "]" * 1000 + "}", "its arrays and objects nest too deep"),
                      ('{"epoch":1,"x":"' + "[" * 1000 + '"}{', "more after its JSON value")):  # brackets in a string
        with open(log, "w") as f:
            f.write(good + line + "\n" + good)
        p = run("plot", log, "--out", svg)
        check(one_line(p, 1, f"{log}: line 2 is not a record of 'mnist train --log' ({why}"),
              f"plot of a log with the line {line}: refused, saying why ({text(p.stderr).strip()!r})")
    with open(log, "w") as f:
        f.write(good + '{"epoch":1,"loss":1.3}{"epoch":2,"lo')
    p = run("plot", log, "--out", svg)
    # the line is JSON, with more after its value: "not JSON" was said of it
    check(one_line(p, 0, "warning", "line 2 is cut short (no newline, not one JSON record)")
          and "Wrote 1 epoch " in text(p.stdout),
          f"plot of a log whose last line holds a record and a record cut short: skipped with a warning "
          f"({text(p.stderr).strip()!r}, {text(p.stdout).strip()!r})")


def test_plot_default_out(tmp):
    """plot without --out writes curves.svg in the current folder, as its --help says, and the README says it
    too (it named no default)."""
    folder = os.path.join(tmp, "plot-here")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "l.jsonl"), "w") as f:
        f.write('{"epoch":0,"seconds":1,"loss":2.3,"test_loss":2.2,"test_accuracy":0.2}\n')
    p = subprocess.run([MNIST, "plot", "l.jsonl"], capture_output=True, cwd=folder, timeout=60)
    readme = " ".join(open(os.path.join(ROOT, "README.md")).read().split())
    check(p.returncode == 0 and os.path.exists(os.path.join(folder, "curves.svg"))
          and "by default `curves.svg` in the current folder" in readme,
          f"plot without --out: curves.svg, as the README says ({text(p.stderr).strip()!r})")


def test_device_unknown(data):
    """A --device that is neither cpu nor cuda: one line naming the choices, status 2, in each command
    that takes the flag (their three copies of the message are one, cli_device)."""
    model = os.path.join(ROOT, "build", "no-such-model.safetensors")
    for args in (["train", "--data", data, "--no-verify", "--epochs", "0"], ["eval", "--model", model],
                 ["predict", "--model", model, SAMPLE]):
        p = run(*args, "--device", "gpu")
        check(p.returncode == 2 and text(p.stderr) == f"mnist {args[0]}: --device 'gpu' is not one of: cpu cuda\n",
              f"{args[0]} --device gpu: one line, status 2 (status {p.returncode}: {text(p.stderr)!r})")


def test_flag_twice(data):
    """A flag given twice takes its last value, as with GNU tools, and the general help says so."""
    import re
    h = " ".join(text(run("--help").stdout).split())
    check(re.search(r"flag given twice takes its last value", h), f"mnist --help says a flag given twice takes its "
          f"last value ({h[-160:]!r})")
    p = run("train", "--data", data, "--no-verify", "--layers", "784,16,10", "--epochs", "3", "--epochs=0")
    check(one_line(p, 0, "--epochs 0: nothing trained"), f"train --epochs 3 --epochs=0: the last, 0 epochs "
          f"({text(p.stderr).strip()!r})")


def test_numbers():
    """A number flag takes what a user writes for one: digits, and for a real a fraction and an
    exponent ("5", ".5", "5.", "1e-3"). strtol and strtod also took blanks around it, a '+', hex
    ("--lr 0x10" was 16), "inf" and "nan"; those are refused as not a valid number, and a number
    past the flag's range is still said to be too large. A value is read before a later --help
    answers, so each is tried without data."""
    for flag, value in (("--lr", "5"), ("--lr", ".5"), ("--lr", "5."), ("--lr", "1e-3"), ("--lr", "2.5E+2"),
                        ("--lr", "1e-310"), ("--epochs", "007"), ("--epochs", "0"), ("--epochs", "-0"),
                        ("--seed", "4294967295"), ("--top", "1"), ("--momentum", "0.999")):
        p = run("predict" if flag == "--top" else "train", flag, value, "--help")
        check(p.returncode == 0 and p.stderr == b"", f"{flag} {value!r} is a number ({text(p.stderr).strip()!r})")
    real, whole = "is not a valid non-negative number", "is not a valid non-negative whole number"
    for flag, value, needle in (("--lr", " 3", real), ("--lr", "3 ", real), ("--lr", "+3", real),
                                ("--lr", "0x10", real), ("--lr", "inf", real), ("--lr", "infinity", real),
                                ("--lr", "nan", real), ("--lr", "1e", real), ("--lr", "e5", real), ("--lr", ".", real),
                                ("--lr", "1.2.3", real), ("--lr", "--3", real), ("--lr", "1e+", real),
                                ("--epochs", " 3", whole), ("--epochs", "+3", whole), ("--epochs", "3.0", whole),
                                ("--epochs", "0x10", whole), ("--epochs", "-", whole), ("--epochs", "1e3", whole),
                                ("--seed", "+3", whole), ("--seed", "\t3", whole), ("--top", " 3", whole)):
        p = run("predict" if flag == "--top" else "train", flag, value, "--help")
        shown = value.replace("\t", "\\t")  # a control character is written escaped
        check(one_line(p, 2, f"{flag} '{shown}' {needle}"), f"{flag} {value!r} is refused ({text(p.stderr).strip()!r})")
    # a value too small to hold is what strtod makes of it (0, or the nearest), which the flag's range
    # judges (it was 'not a valid non-negative number'). A value below the range, negative or not, is said
    # too small in the words of one past it: -1 was 'not a valid non-negative number', 0 'learning rate
    # must be positive', and --top had three wordings
    for cmd, flag, value, least in (("train", "--lr", "1e-999", "must be above 0"), ("train", "--lr", "0", "must be above 0"),
                                    ("train", "--lr", "-1", "must be above 0"), ("train", "--momentum", "-0.5", "at least 0"),
                                    ("train", "--batch", "0", "at least 1"), ("train", "--batch", "-5", "at least 1"),
                                    ("train", "--seed", "-1", "at least 0"), ("predict", "--top", "0", "at least 1"),
                                    ("predict", "--top", "-1", "at least 1"), ("show", "--count", "0", "at least 1"),
                                    ("serve", "--timeout", "0", "at least 1"), ("serve", "--connections", "-3", "at least 1"),
                                    ("train", "--lr", "-0", "must be above 0"), ("predict", "--top", "-0", "at least 1")):
        p = run(cmd, flag, value, "--help")
        check(one_line(p, 2, f"mnist {cmd}: {flag} '{value}' is too small ({least})"),
              f"{cmd} {flag} {value}: too small, its range said ({text(p.stderr).strip()!r})")
    # and a range open at its top in the same words (--momentum 2 was 'momentum 2 is outside [0, 1)')
    for flag in ("--momentum", "--dropout"):
        for value in ("1", "2"):
            p = run("train", flag, value, "--help")
            check(one_line(p, 2, f"mnist train: {flag} '{value}' is too large (must be below 1)"),
                  f"train {flag} {value}: too large, its range said ({text(p.stderr).strip()!r})")
    # positive in double, 0 in float32, which the steps compute in: it trained nothing
    p = run("train", "--lr", "1e-310", "--epochs", "0")  # refused before the data: nothing trained before the fix
    check(one_line(p, 2, "learning rate 1e-310 is below float32's smallest normal"),
          f"--lr 1e-310: 0 in float32, refused ({text(p.stderr).strip()!r})")
    # below 1 in double, 1 in float32: the step's decay 1 - lr W was 0, and every weight was zeroed at each step
    p = run("train", "--lr", "1", "--weight-decay", "0.99999999", "--epochs", "0")
    check(one_line(p, 2, "weight decay 0.99999999 times the learning rate 1 is 1 in float32"),
          f"--lr 1 --weight-decay 0.99999999: 1 in float32, refused ({text(p.stderr).strip()!r})")
    for flag, value, most in (("--lr", "1e31", "1e30"), ("--lr", "1e999", "1e30"),
                              ("--epochs", "99999999999999999999", "1073741824"),
                              ("--seed", "4294967296", "4294967295")):
        p = run("train", flag, value, "--help")
        check(one_line(p, 2, f"{flag} '{value}' is too large (at most {most})"),
              f"{flag} {value!r} is too large ({text(p.stderr).strip()!r})")
    # a flag whose largest value is below INT_MAX says it, also to a value past INT_MAX (that was told
    # 'at most 2147483647', and 2147483647 then the flag's own limit)
    for cmd, flag, most in (("serve", "--port", 65535), ("serve", "--threads", 256), ("serve", "--timeout", 86400),
                            ("serve", "--deadline", 86400), ("serve", "--connections", 4095),
                            ("serve", "--per-address", 4095),
                            ("train", "--threads", 256), ("eval", "--threads", 256), ("predict", "--top", 10),
                            ("train", "--shift", 8), ("train", "--epochs", 1 << 30)):
        for value in ("99999999999", "2147483647", str(most + 1)):
            p = run(cmd, flag, value, "--help")
            check(one_line(p, 2, f"mnist {cmd}: {flag} '{value}' is too large (at most {most})"),
                  f"{cmd} {flag} {value}: too large, its own limit said ({text(p.stderr).strip()!r})")
        p = run(cmd, flag, str(most), "--help")
        check(p.returncode == 0 and p.stderr == b"", f"{cmd} {flag} {most} is taken ({text(p.stderr).strip()!r})")


def test_show_picture_cap(tmp, data):
    """show --out of more digits than one picture holds names the --index to go on from: --index plus
    the cap, which past INT_MAX overflowed (a negative --index said; UBSan: signed overflow), and is
    not named past INT_MAX, which --index refuses (2147493647 was advised)."""
    out = os.path.join(tmp, "many.png")
    p = run("show", "--index", "2147483647", "--count", "10001", "--out", out)
    check(one_line(p, 2, "at most 10000 digits in one picture, not 10001") and "--index" not in text(p.stderr)
          and not os.path.exists(out),
          f"show --index INT_MAX --count 10001 --out: no --index past INT_MAX advised ({text(p.stderr).strip()!r})")
    p = run("show", "--index", "5", "--count", "10001", "--out", out)
    check(one_line(p, 2, "at most 10000 digits in one picture, not 10001; draw the others with --index 10005")
          and not os.path.exists(out),
          f"show --index 5 --count 10001 --out: the next --index, 10005 ({text(p.stderr).strip()!r})")
    # one digit is "1 digit", as plot's "1 epoch" (it said "Wrote 1 digits")
    for count, word in (("1", "1 digit to"), ("2", "2 digits to")):
        p = run("show", "--data", data, "--no-verify", "--count", count, "--out", out)
        lines = text(p.stdout).strip().splitlines()
        check(p.returncode == 0 and lines[-1:] == [f"Wrote {word} {out}"], f"show --count {count} --out: {lines[-1:]}")
        # each digit's label in the same words, one or more (several said "train[0]: 5", one "train[0]: label 5")
        heads = re.findall(r"train\[(\d)\]: label (\d)", lines[0] if lines else "")
        check(len(heads) == int(count), f"show --count {count}: 'train[N]: label L' for each ({lines[:1]})")


def test_show_fashion_words(tmp):
    """show of Fashion-MNIST says images, not digits: "Wrote 12 digits" was said of 12 pieces of clothing."""
    out = os.path.join(tmp, "fashion.png")
    p = run("show", "--dataset", "fashion", "--count", "10001", "--out", out)
    check(one_line(p, 2, "at most 10000 images in one picture, not 10001"),
          f"show --dataset fashion --count 10001 --out: images, not digits ({text(p.stderr).strip()!r})")
    fashion = "/usr/share/datasets/fashion-mnist"
    if not os.path.isdir(fashion):
        print(f"SKIP show --dataset fashion --out: {fashion} is not here (Debian's dataset-fashion-mnist)")
        return
    for count, word in (("12", "12 images to"), ("1", "1 image to")):
        p = run("show", "--dataset", "fashion", "--data", fashion, "--count", count, "--out", out)
        lines = text(p.stdout).strip().splitlines()
        check(p.returncode == 0 and lines[-1:] == [f"Wrote {word} {out}"],
              f"show --dataset fashion --count {count} --out: {lines[-1:]}")


def test_one_input(tmp):
    """A model of 1 input and 1 output is refused in the singular: "maps 1 inputs to 1 outputs" was said."""
    header, blobs = {"__metadata__": {"layers": "1,1", "activation": "tanh", "dataset": "mnist"}}, []
    for name, n in (("layers.0.kernel", [1, 1]), ("layers.0.bias", [1])):
        header[name] = {"dtype": "F32", "shape": n, "data_offsets": [4 * len(blobs), 4 * len(blobs) + 4]}
        blobs.append(struct.pack("<f", 0.5))
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    model = os.path.join(tmp, "one-input.safetensors")
    with open(model, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    png = os.path.join(ROOT, "samples", "2-marker.png")
    for cmd in (("predict", "--model", model, png), ("serve", "--model", model, "--port", "0")):
        p = run(*cmd, timeout=20)
        check(one_line(p, 1, "the model maps 1 input to 1 output; images need 784 to 10"),
              f"{cmd[0]} of a model of 1 input and 1 output: {text(p.stderr).strip()!r}")


def test_resume_threads(tmp, data):
    """train --resume with --threads past its range: the command's own flag, refused at once as a usage
    error (status 2), as in a new run; it was found once the data were loaded, said as the checkpoint's
    fault ("CK: threads 257 is outside ..."), status 1."""
    ck = os.path.join(tmp, "threads.ckpt")
    d = ["--data", data, "--no-verify", "--layers", "784,4,10", "--batch", "2", "--threads", "1"]
    p = run("train", *d, "--epochs", "0", "--checkpoint", ck)
    check(p.returncode == 0 and os.path.exists(ck), f"a checkpoint to resume ({text(p.stderr).strip()!r})")
    p = run("train", "--data", data, "--no-verify", "--resume", ck, "--epochs", "1", "--threads", "257")
    check(one_line(p, 2, "--threads '257' is too large (at most 256)") and ck not in text(p.stderr),
          f"train --resume --threads 257: a usage error of the flag (status {p.returncode}: {text(p.stderr).strip()!r})")


def test_resume_no_train_eval(tmp, data):
    """train --resume --no-train-eval: what is measured after an epoch, not how the run trains, so a resumed run
    takes it (it was refused as a recipe flag that differs: '--no-train-eval on: the run of X has off')."""
    ck = os.path.join(tmp, "train-eval.ckpt")
    d = ["--data", data, "--no-verify", "--layers", "784,4,10", "--batch", "2", "--threads", "1"]
    p = run("train", *d, "--epochs", "1", "--checkpoint", ck)
    check(p.returncode == 0 and os.path.exists(ck), f"a checkpoint to resume ({text(p.stderr).strip()!r})")
    p = run("train", "--data", data, "--no-verify", "--resume", ck, "--epochs", "2", "--no-train-eval", "--json")
    lines = [json.loads(s) for s in text(p.stdout).splitlines() if s.startswith("{")]
    check(p.returncode == 0 and [r["epoch"] for r in lines] == [1] and "train_accuracy" not in lines[0]
          and "test_accuracy" in lines[0],
          f"train --resume --no-train-eval: resumed, epoch 1 without the training set's accuracy "
          f"(status {p.returncode}: {text(p.stderr).strip()[:200]!r})")
    p = run("train", "--data", data, "--no-verify", "--resume", ck, "--epochs", "2", "--nesterov")
    check(one_line(p, 2, "--nesterov: the run of " + ck + " has it off; a resumed run keeps its checkpoint's recipe"),
          f"train --resume --nesterov, the run without it: refused ({text(p.stderr).strip()!r})")


def test_resume_checkpoints(tmp, data):
    """train --resume FILE without --checkpoint goes on checkpointing into FILE, and with it into its file,
    FILE left as it was; --help and README say so (they said 'continue the run of a checkpoint' alone, and a
    user could not tell that FILE is written again)."""
    ck, other = os.path.join(tmp, "goes-on.ckpt"), os.path.join(tmp, "goes-on-2.ckpt")
    d = ["--data", data, "--no-verify", "--layers", "784,4,10", "--batch", "2", "--threads", "1"]
    p = run("train", *d, "--epochs", "1", "--checkpoint", ck)
    check(p.returncode == 0 and os.path.exists(ck), f"a checkpoint to resume ({text(p.stderr).strip()!r})")
    first = open(ck, "rb").read()
    p = run("train", "--data", data, "--no-verify", "--resume", ck, "--epochs", "2", "--checkpoint", other)
    check(p.returncode == 0 and open(ck, "rb").read() == first and os.path.exists(other),
          f"train --resume FILE --checkpoint OTHER: OTHER written, FILE as it was ({text(p.stderr).strip()!r})")
    p = run("train", "--data", data, "--no-verify", "--resume", ck, "--epochs", "2")
    check(p.returncode == 0 and open(ck, "rb").read() != first,
          f"train --resume FILE: its checkpoints go into FILE ({text(p.stderr).strip()!r})")
    h = " ".join(text(run("train", "--help").stdout).split())
    resume = re.search(r"--resume FILE (.*?) --log", h)
    check(resume and "checkpointing into FILE" in resume.group(1),
          f"train --help: --resume says it checkpoints into FILE: {resume and resume.group(1)!r}")
    readme = open(os.path.join(ROOT, "README.md")).read()
    row = next((r for r in readme.splitlines() if r.startswith("| `--resume FILE`")), "")
    check("checkpointing after every epoch into FILE" in row, f"README: --resume says it checkpoints into FILE: {row[:120]!r}")


def test_progress_width(data):
    """On a terminal, train's progress line fits the terminal's width, less a column: a wider one wrapped,
    and each update's \\r went back to its last row only, leaving a row behind each time (on 80 columns
    the lab's line is about 90, so a run filled the screen with them)."""
    for cols in (80, 40):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
        p = subprocess.Popen([MNIST, "train", "--data", data, "--no-verify", "--layers", "784,4,10", "--batch", "1",
                              "--threads", "1", "--epochs", "2"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=slave)
        os.close(slave)
        out = read_pty(master)
        p.wait(timeout=60)
        bars = [b.replace(b"\x1b[K", b"") for b in re.split(rb"[\r\n]", out) if b" of 2)" in b]
        widest = max(bars, key=len, default=b"")
        check(p.returncode == 0 and bars and len(widest) <= cols - 1,
              f"train's progress on a terminal of {cols} columns: {len(bars)} updates, each within {cols - 1} "
              f"columns (status {p.returncode}; widest {len(widest)}: {text(widest)!r})")


def test_folder_takes_no_file(tmp, data):
    """An output in a folder whose mode bits allow writing but which takes no new file (/proc, for
    root, whom access() lets through) is refused before the run, naming the flag: train trained
    and then failed to --save; each command's output is tried so."""
    if not os.path.isdir("/proc/self"):
        print("SKIP outputs in /proc: no /proc here")
        return
    if os.geteuid() != 0:
        print("  (not root: access() refuses /proc already, so these check the refusal, not the probe)")
    d = ["--data", data, "--no-verify"]
    cases = (("train", *d, "--layers", "784,4,10", "--batch", "2", "--epochs", "1", "--save", "/proc/x.safetensors"),
             ("train", *d, "--layers", "784,4,10", "--batch", "2", "--epochs", "1", "--checkpoint", "/proc/x.ckpt"),
             ("train", *d, "--layers", "784,4,10", "--batch", "2", "--epochs", "1", "--plot", "/proc/x.svg"),
             ("show", *d, "--out", "/proc/x.png"))
    for args in cases:
        p = run(*args)
        check(one_line(p, 1, f"{args[-2]} {args[-1]}:") and "Epoch" not in text(p.stdout),
              f"{args[0]} {args[-2]} {args[-1]}: refused before the run (status {p.returncode}: "
              f"{text(p.stderr).strip()!r}, {text(p.stdout).strip()[-80:]!r})")
    ok = os.path.join(tmp, "probed.png")
    p = run("show", *d, "--out", ok)
    check(p.returncode == 0 and os.path.exists(ok) and not [n for n in os.listdir(tmp) if ".tmp-" in n],
          f"a folder that takes files: the probe leaves no temporary file ({text(p.stderr).strip()!r})")


def test_folder_is_a_file(tmp, data):
    """An output whose folder is a file (a model's name, a script's) is refused before the run, saying so:
    it said "cannot write in the folder ...: Permission denied" (access() of a file), and of an executable
    one, "cannot create a temporary file beside it"."""
    d = ["--data", data, "--no-verify"]
    plain, script = os.path.join(tmp, "plain.bin"), os.path.join(tmp, "script.sh")
    for name, mode in ((plain, 0o644), (script, 0o755)):
        with open(name, "wb") as f:
            f.write(b"#!/bin/sh\n")
        os.chmod(name, mode)
        for args in (("train", *d, "--layers", "784,4,10", "--batch", "2", "--epochs", "1", "--save"),
                     ("show", *d, "--out")):
            out = os.path.join(name, "x")
            p = run(*args, out)
            check(one_line(p, 1, f"{args[-1]} {out}: {name} is a file, not a folder") and "Epoch" not in text(p.stdout),
                  f"{args[0]} {args[-1]} {out}: refused, saying {name} is a file (status {p.returncode}: "
                  f"{text(p.stderr).strip()!r})")
    # a data folder that is a file, the data not verified: said to be no folder, as when verified (it was said to lack
    # the dataset's files, and to be fetched into)
    for args in (("train", "--epochs", "1"), ("show",)):
        p = run(*args, "--data", plain, "--no-verify")
        check(one_line(p, 1, f"{plain}: the data folder exists but is not a folder"),
              f"{args[0]} --data FILE --no-verify: said to be no folder (status {p.returncode}: {text(p.stderr).strip()!r})")


def test_xdg_relative(tmp, data):
    """An XDG_CACHE_HOME that is not an absolute path is ignored, as the XDG Base Directory spec says: the
    data folder is $HOME/.cache/mnist then. It was taken relative to the current folder."""
    home = os.path.join(tmp, "home")
    shutil.copytree(data, os.path.join(home, ".cache", "mnist"), dirs_exist_ok=True)
    env = {**os.environ, "HOME": home, "XDG_CACHE_HOME": "cache", "MNIST_DATA": ""}
    p = subprocess.run([MNIST, "show", "--no-verify"], capture_output=True, cwd=tmp, env=env, timeout=60)
    check(p.returncode == 0 and "train[0]" in text(p.stdout) and not os.path.exists(os.path.join(tmp, "cache")),
          f"XDG_CACHE_HOME=cache: ignored, the data read from $HOME/.cache/mnist (status {p.returncode}: "
          f"{text(p.stderr).strip()!r})")


def test_home_empty(tmp):
    """With no MNIST_DATA or XDG_CACHE_HOME and HOME set but empty, the error says HOME is not set or empty: it
    said only 'not set', of a variable that was."""
    env = {k: v for k, v in os.environ.items() if k not in ("MNIST_DATA", "XDG_CACHE_HOME")}
    p = subprocess.run([MNIST, "show", "--no-verify"], capture_output=True, cwd=tmp, env={**env, "HOME": ""},
                       timeout=60)
    check(p.returncode == 1 and "HOME is not set or empty" in text(p.stderr),
          f"HOME='': the error says HOME is not set or empty (status {p.returncode}: {text(p.stderr).strip()!r})")


def test_predict_many(tmp):
    """predict of more images than one command takes (8192) is a usage error that says so, and the README
    says it: it said "at most 8192 arguments", of a limit documented nowhere."""
    p = run("predict", "--model", os.path.join(tmp, "none.safetensors"), *[SAMPLE] * 8193)
    readme = " ".join(open(os.path.join(ROOT, "README.md")).read().split())
    check(one_line(p, 2, "mnist predict: at most 8192 files in one command", "xargs -n 8192")
          and "One command takes at most 8192 images" in readme,
          f"predict of 8193 images: refused, saying how to split them ({text(p.stderr).strip()!r})")


def test_data_not_made(tmp):
    """A data folder that cannot be made names the way to give another: it said to set MNIST_DATA, which
    does nothing while --data is given (it named the --data folder it could not make)."""
    plain = os.path.join(tmp, "plain-file")
    with open(plain, "w") as f:
        f.write("x")
    folder = os.path.join(plain, "data")
    for args in (["fetch"], ["show"]):
        p = run(*args, "--data", folder, timeout=60)
        check(one_line(p, 1, f"{folder}: cannot create the data folder", "(--data DIR, or MNIST_DATA)"),
              f"{args[0]} --data {folder}: one line, naming --data ({text(p.stderr).strip()!r})")


def test_data_missing_advice(tmp, data):
    """A file missing from a --no-verify folder names the fetch that fills that folder with that dataset: it
    said "run 'mnist fetch'", which fetches MNIST into the default folder."""
    folder = os.path.join(tmp, "three-files")
    shutil.copytree(data, folder, dirs_exist_ok=True)
    os.remove(os.path.join(folder, NAMES[0]))
    for dataset in ("mnist", "fashion"):
        p = run("show", "--data", folder, "--no-verify", "--dataset", dataset)
        check(one_line(p, 1, f"{NAMES[0]} not found", f"'mnist fetch --dataset {dataset} --data {folder}'"),
              f"show --dataset {dataset} --no-verify, a file missing: names the fetch for that folder "
              f"({text(p.stderr).strip()!r})")


def test_log_not_ours(tmp, data):
    """A new run empties its --log: a file there whose first line is no record of mnist train (a model
    named as --log by a slip) is refused before the training and kept as it was; it was emptied and
    overwritten with the records. A previous run's log is still emptied and written again."""
    d = ["--data", data, "--no-verify", "--layers", "784,4,10", "--batch", "2", "--threads", "1"]
    model, log = os.path.join(tmp, "kept.safetensors"), os.path.join(tmp, "again.jsonl")
    p = run("train", *d, "--epochs", "0", "--save", model)
    before = open(model, "rb").read()
    for victim, content in ((model, before), (log, b"some notes\n{\"epoch\": 0}\n")):
        if victim == log:
            with open(log, "wb") as f:
                f.write(content)
        p = run("train", *d, "--epochs", "1", "--log", victim)
        check(one_line(p, 1, f"--log {victim}: its first line is not a record of mnist train") and
              "Epoch" not in text(p.stdout) and open(victim, "rb").read() == content,
              f"train --log on a file that is not a log: refused, the file kept (status {p.returncode}: "
              f"{text(p.stderr).strip()!r})")
    with open(log, "wb") as f:
        f.write(b'\n{"epoch": 0, "loss": 1.5}\n{"epoch": 1, "loss": 1.2}\n')
    p = run("train", *d, "--epochs", "1", "--log", log)
    lines = open(log).read().splitlines()
    check(p.returncode == 0 and len(lines) == 1 and '"epoch":0' in lines[0],
          f"a previous run's log is emptied and written again ({text(p.stderr).strip()!r}, {lines})")
    with open(log, "wb") as f:  # a run killed while it wrote its first record (refused as not a log before)
        f.write(b'{"epoch":0,"seconds":0.490,"eval_sec')
    p = run("train", *d, "--epochs", "1", "--log", log)
    lines = open(log).read().splitlines()
    check(p.returncode == 0 and len(lines) == 1 and '"epoch":0' in lines[0],
          f"a log cut off in its first record is emptied and written again ({text(p.stderr).strip()!r}, {lines})")


def test_empty_argument(tmp):
    """An empty argument where a file is named (an unset "$f") is a usage error, as a flag's empty
    value is; plot and predict said "mnist plot: : No such file or directory", status 1."""
    model = os.path.join(tmp, "empty-arg.safetensors")
    run("train", "--epochs", "0", "--layers", "784,4,10", "--save", model, "--data", os.path.join(tmp, "data"),
        "--no-verify")
    for args in (("plot", ""), ("predict", "--model", model, SAMPLE, ""), ("predict", "--model", model, "--", "")):
        p = run(*args)
        check(one_line(p, 2, f"mnist {args[0]}: an empty argument is no file's name") and p.stdout == b"",
              f"{args[0]} with an empty argument: a usage error (status {p.returncode}: {text(p.stderr).strip()!r})")


def test_mirror_not_url(tmp):
    """fetch --mirror with a folder's path or a bare word, which is no URL: a usage error at once, before
    the data folder is made; curl said "URL using bad/illegal format" for each file, and the next mirrors
    were tried."""
    data = os.path.join(tmp, "mirror-data")
    offline = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
               "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": "", "MNIST_DATA": ""}
    for value in (tmp + "/", "mirror.example", "://x"):
        p = run("fetch", "--data", data, "--mirror", value, env=offline)
        check(one_line(p, 2, f"--mirror '{value}' is not a URL", "file:///") and not os.path.exists(data),
              f"fetch --mirror {value!r}: a usage error (status {p.returncode}: {text(p.stderr).strip()[-200:]!r})")
    for value in ("ftp://127.0.0.1:9/", "gopher://127.0.0.1:9/"):  # URLs curl may not take: it said so per file
        p = run("fetch", "--data", data, "--mirror", value, env=offline)
        check(one_line(p, 2, f"--mirror '{value}': --mirror takes http://HOST/PATH/, https://... or, for a folder, "
                       f"file:///PATH/, not {value[:value.index(':')]}://") and not os.path.exists(data),
              f"fetch --mirror {value!r}: a usage error (status {p.returncode}: {text(p.stderr).strip()[-200:]!r})")
    # no host, or a folder's path without its first '/' ("tmp" taken for a host): curl said "Could not resolve
    # host: train-images-idx3-ubyte.gz" or "URL using bad/illegal format" per file, and the next mirrors were tried
    for value, needle in (("http://", "no host"), ("https:///mnist/", "no host"),
                          ("file:/" + tmp + "/none/", "file:///PATH/ (three slashes)"), ("file://", "three slashes")):
        p = run("fetch", "--data", data, "--mirror", value, env=offline)
        check(one_line(p, 2, f"--mirror '{value}': ", needle) and not os.path.exists(data),
              f"fetch --mirror {value!r}: a usage error (status {p.returncode}: {text(p.stderr).strip()[-200:]!r})")
    # a query or a fragment: the file names were put after it (http://h/p/?token=1train-images-idx3-ubyte.gz), and
    # curl dropped it from a file:// URL, which read the folder without it
    for value in ("file://" + tmp + "/?x", "file://" + tmp + "/#frag/", "http://127.0.0.1:9/p/?token=1"):
        p = run("fetch", "--data", data, "--mirror", value, env=offline)
        check(one_line(p, 2, f"--mirror '{value}': has a query or a fragment") and not os.path.exists(data),
              f"fetch --mirror {value!r}: a usage error (status {p.returncode}: {text(p.stderr).strip()[-200:]!r})")
    # a space or a control character, which curl refused per file ("URL using bad/illegal format"), the next mirrors
    # tried
    os.makedirs(os.path.join(tmp, "my mnist"), exist_ok=True)
    for value in ("file://" + tmp + "/my mnist/", "http://127.0.0.1:9/a\tb/", "http://127.0.0.1:9/a\x7f/"):
        p = run("fetch", "--data", data, "--mirror", value, env=offline)
        check(one_line(p, 2, "holds a space or a control character", "%20") and not os.path.exists(data),
              f"fetch --mirror {value!r}: a usage error (status {p.returncode}: {text(p.stderr).strip()[-200:]!r})")
    p = run("fetch", "--data", data, "--mirror", "ftp://user:pw@127.0.0.1:9/", env=offline)
    check(one_line(p, 2, "--mirror 'ftp://user:***@127.0.0.1:9/'") and b"pw" not in p.stderr,
          f"fetch --mirror with a password refused: the password not said ({text(p.stderr).strip()[-200:]!r})")
    for value in ("file://" + tmp + "/none/", "file://localhost" + tmp + "/none/", "HTTP://127.0.0.1:9/"):  # URLs: tried, and fail offline
        p = run("fetch", "--data", data, "--mirror", value, env=offline)
        check(p.returncode == 1 and "is not a URL" not in text(p.stderr),
              f"fetch --mirror {value!r} is a URL (status {p.returncode}: {text(p.stderr).strip()[-200:]!r})")


def test_mirror_password(tmp):
    """A mirror's password (http://user:pw@HOST/) is sent, but said nowhere: each progress line and the error
    named the URL with it. A server on 127.0.0.1 that answers 404 notes the Authorization it gets."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    offline = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
               "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1", "MNIST_DATA": ""}
    try:
        p = run("fetch", "--data", os.path.join(tmp, "password-data"), "--mirror",
                f"http://user:pw@127.0.0.1:{server.server_address[1]}/m/", env=offline)
    finally:
        server.shutdown()
        server.server_close()
    out = text(p.stdout + p.stderr)
    check(p.returncode == 1 and seen and seen[0] == "Basic " + base64.b64encode(b"user:pw").decode(),
          f"fetch from a mirror with a password: the password sent ({seen[:1]}, status {p.returncode})")
    check("user:***@127.0.0.1" in out and "no mirror could provide it: http://user:***@" in out and ":pw@" not in out,
          f"fetch from a mirror with a password: said as user:*** in its progress and its error ({out[-300:]!r})")
    p = run("fetch", "--data", os.path.join(tmp, "at-data"), "--mirror", "http://user:p@ss@127.0.0.1:9/m/", env=offline)
    # curl said "URL using bad/illegal format" of each file, and the next mirrors were tried
    check(p.returncode == 2 and text(p.stderr) == "mnist fetch: --mirror 'http://user:***@127.0.0.1:9/m/': its user or "
          "password holds an '@', which a URL writes as %40\n" and not os.path.exists(os.path.join(tmp, "at-data")),
          f"fetch from a mirror whose password holds an '@': refused, the password not said ({text(p.stderr)!r})")


def test_fetch_lines_escaped(tmp):
    """A fetch's lines ("Downloading URL to FILE...", "FILE: present, verified") escape a control character in the
    data folder's name or a mirror's, as its error and every other command's lines do: they went out raw, ESC
    reaching the terminal and a newline splitting a line in two. From the real MNIST files of $MNIST_DATA as a
    file:// mirror; skipped without them."""
    mnist = real_mnist(NAMES[0], "fetch's lines escaped")
    if not mnist:
        return
    offline = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
               "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1", "MNIST_DATA": ""}
    data = os.path.join(tmp, "odd\x1b[2J\nfolder")
    shown = os.path.join(tmp, "odd\\x1b[2J\\nfolder")
    for what in ("a download", "files present"):
        p = run("fetch", "--data", data, "--mirror", "file://" + os.path.abspath(mnist) + "/", env=offline)
        err = text(p.stderr)
        said = "Downloading file://" if what == "a download" else ": present, verified"
        check(p.returncode == 0 and "\x1b" not in err and said in err and shown + "/" + NAMES[0] in err
              and all(line.startswith(("Downloading", tmp)) for line in err.splitlines()),
              f"fetch into a folder whose name holds ESC and a newline, {what}: its lines escape them "
              f"(status {p.returncode}: {err[:300]!r})")


def test_fetch_set_aside_race(tmp):
    """Two fetches into one folder at once, where a file there fails verification: each sets it aside, and the
    second's rename found it gone, "setting it aside as NAME.unverified failed: No such file or directory", its
    fetch failed (status 1: two trains at once on one folder). The second looks again now, and downloads it too.
    tests/slow_set_aside.c holds the first's rename 0.5 s, the second started meanwhile. On the real MNIST files of
    $MNIST_DATA, skipped without them."""
    mnist = real_mnist(NAMES[0], "two fetches setting aside one file")
    wrap = mnist and shim(tmp, "slow_set_aside")
    if not wrap:
        return
    data = os.path.join(tmp, "set-aside-race")
    os.makedirs(data)
    for name in NAMES[1:]:
        shutil.copyfile(os.path.join(mnist, name + ".gz"), os.path.join(data, name + ".gz"))
    damaged = bytearray(gzip.open(os.path.join(mnist, NAMES[0] + ".gz")).read())
    damaged[1000] ^= 1
    with open(os.path.join(data, NAMES[0]), "wb") as f:
        f.write(damaged)
    offline = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
               "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1", "MNIST_DATA": ""}
    cmd = [*wrap, MNIST, "fetch", "--data", data, "--mirror", "file://" + os.path.abspath(mnist) + "/"]
    env = {**os.environ, **offline}
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.1)
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    said = [text(b"".join(p.communicate(timeout=120))).strip() for p in (first, second)]
    aside = os.path.join(data, NAMES[0] + ".unverified")
    kept = open(aside, "rb").read() if os.path.exists(aside) else b""
    check(first.returncode == 0 and second.returncode == 0 and kept == damaged
          and sorted(os.listdir(data)) == sorted([n + ".gz" for n in NAMES] + [NAMES[0] + ".unverified"]),
          f"two fetches at once into a folder holding a damaged {NAMES[0]}: both succeed, the damaged file set aside "
          f"as it was (status {first.returncode}, {second.returncode}: {said[0][-200:]!r}; {said[1][-200:]!r}; "
          f"{sorted(os.listdir(data))})")


def test_fetch_progress(tmp):
    """On a terminal, each download's progress line is ended once, by the line after it: it was ended where it
    reached 100%, which curl reports several times (each file's "100% of" line came 4 or 5 times), and not at
    all for a download cut short (the line saying so ran on after it), nor for one of unknown length. From the
    real MNIST files of $MNIST_DATA, the training images first from a server that cuts them short
    (tests/fault_server.py), then through a file:// mirror; skipped without them."""
    mnist = real_mnist(NAMES[0], "fetch's progress on a terminal")
    if not mnist:
        return
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "fault_server.py"), mnist],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(server.stdout.readline().split()[1])
        master, slave = pty.openpty()
        p = subprocess.Popen([MNIST, "fetch", "--data", os.path.join(tmp, "progress-data"), "--mirror",
                              f"http://127.0.0.1:{port}/cut/", "--mirror", "file://" + os.path.abspath(mnist) + "/"],
                             stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
        os.close(slave)
        out = read_pty(master)
        p.wait(timeout=120)
    finally:
        server.kill()
        server.wait()
    lines = out.replace(b"\r\n", b"\n").split(b"\n")
    shown = [line.split(b"\r")[-1].replace(b"\x1b[K", b"") for line in lines]  # what stays on the screen
    full = [line for line in shown if b"100% of" in line]
    run_on = [line for line in shown if b" MB" in line and b"://" in line]
    check(p.returncode == 0 and len(full) == 4 and not run_on,
          f"fetch on a terminal: one line at 100% per file ({len(full)} of 4), no line run on after a progress line "
          f"({text(run_on[0][:160]) if run_on else 'none'!r}; status {p.returncode})")
    # the labels files, 29.8 and 4.7 kB, were "100% of 0.0 MB"
    sizes = sorted({text(line.split(b" of ")[-1]) for line in full})
    check(len(sizes) == 4 and not any(size.startswith("0.0 ") for size in sizes),
          f"fetch on a terminal: each file's size as a person reads it ({sizes})")


def test_mirror_other_dataset(tmp):
    """A mirror that serves the other dataset's files (MNIST's, given to fetch --dataset fashion) is said to,
    as the data folder's reader says of such a file: it said "SHA-256 mismatch: got ..., want ...". On the
    real MNIST files of $MNIST_DATA, skipped without them."""
    mnist = real_mnist(NAMES[0], "a mirror of the other dataset")
    if not mnist:
        return
    data = os.path.join(tmp, "fashion-from-mnist")
    offline = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
               "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": "", "MNIST_DATA": ""}
    p = run("fetch", "--dataset", "fashion", "--data", data, "--mirror", "file://" + os.path.abspath(mnist) + "/",
            env=offline, timeout=120)
    last = text(p.stderr).strip().splitlines()[-1:]
    whose = "this is the mnist dataset's train-images-idx3-ubyte (by its SHA-256), not the fashion dataset's"
    if p.returncode == 0:  # Debian's dataset-fashion-mnist is installed: its files were fetched after the mirror's
        said = [line for line in text(p.stderr).splitlines() if whose in line]
        check(len(said) == 1 and said[0].startswith("file://") and "SHA-256 mismatch" not in said[0],
              f"fetch --dataset fashion from an MNIST mirror, then from Debian's files: says whose the mirror's file is "
              f"({said[:1]!r})")
        return
    check(last and "this is the mnist dataset's train-images-idx3-ubyte (by its SHA-256), not the fashion dataset's"
          in last[0] and "SHA-256 mismatch" not in last[0],
          f"fetch --dataset fashion from an MNIST mirror: says whose the file is ({last[0][:300] if last else ''!r})")


def test_folder_of_other_dataset(tmp):
    """fetch --dataset fashion of a folder holding MNIST's training images refuses the file as MNIST's, as the
    data's reader does, and leaves it as it was: it said 'fails verification ...; it will be replaced' and
    downloaded Fashion-MNIST's over it from the first mirror that answered. train, which fetches a missing
    file, says the same. On the real MNIST files of $MNIST_DATA, skipped without them."""
    mnist = real_mnist(NAMES[0], "a folder of the other dataset")
    if not mnist:
        return
    data = os.path.join(tmp, "fashion-holds-mnist")
    os.makedirs(data)
    mine = os.path.join(data, NAMES[0] + ".gz")
    shutil.copyfile(os.path.join(mnist, NAMES[0] + ".gz"), mine)
    before = open(mine, "rb").read()
    offline = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
               "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": "", "MNIST_DATA": ""}
    whose = (f"{mine}: this is the mnist dataset's {NAMES[0]} (by its SHA-256), not the fashion dataset's: "
             "--dataset mnist reads this folder")
    for args in (("fetch",), ("train", "--epochs", "0")):
        p = run(*args, "--dataset", "fashion", "--data", data, env=offline, timeout=120)
        err = text(p.stderr).strip()
        check(p.returncode == 1 and err.splitlines()[-1:] == [f"mnist {args[0]}: {whose}"]
              and "Downloading" not in text(p.stdout) + err and open(mine, "rb").read() == before,
              f"{args[0]} --dataset fashion of a folder holding MNIST's {NAMES[0]}: refused as MNIST's, not replaced "
              f"(status {p.returncode}: {(text(p.stdout) + err).strip()[-300:]!r})")


def test_output_dash(tmp, data):
    """An output named '-', which other tools read as standard output, is refused as a usage error: show
    --out - wrote a PNG named '-' in the current folder (and train, eval and plot would have too)."""
    model, log = os.path.join(tmp, "dash.safetensors"), os.path.join(tmp, "dash.jsonl")
    d = ["--data", data, "--no-verify"]
    small = ["--layers", "784,4,10", "--batch", "2", "--epochs", "1"]
    run("train", *d, *small, "--save", model, "--log", log)
    cases = [("show", *d, "--out"), ("plot", log, "--out"), ("eval", *d, "--model", model, "--confusion"),
             ("eval", *d, "--model", model, "--errors")]
    cases += [("train", *d, *small, flag) for flag in ("--save", "--checkpoint", "--log", "--plot")]
    for args in cases:
        p = subprocess.run([MNIST, *args, "-"], capture_output=True, cwd=tmp, timeout=120)
        check(one_line(p, 2, f"{args[-1]} -: the output is written to a file, not to standard output")
              and not os.path.exists(os.path.join(tmp, "-")),
              f"{args[0]} {args[-1]} -: refused, no file '-' (status {p.returncode}: {text(p.stderr).strip()!r})")
        if os.path.exists(os.path.join(tmp, "-")):
            os.remove(os.path.join(tmp, "-"))


def test_output_named_otherwise(tmp, data):
    """An output whose name says another kind of picture is refused as a usage error, nothing written: show
    --out x.svg and eval --errors x.jpg wrote a PNG under that name, and eval --confusion, plot --out and train
    --plot x.png an SVG. Its own extension in capitals, and a name with none, are taken."""
    model, log = os.path.join(tmp, "named.safetensors"), os.path.join(tmp, "named.jsonl")
    d = ["--data", data, "--no-verify"]
    small = ["--layers", "784,4,10", "--batch", "2", "--epochs", "1"]
    run("train", *d, *small, "--save", model, "--log", log)
    cases = [(("show", *d, "--out"), "PNG", "x.svg"), (("eval", *d, "--model", model, "--errors"), "PNG", "x.jpg"),
             (("eval", *d, "--model", model, "--confusion"), "SVG", "x.png"), (("plot", log, "--out"), "SVG", "x.PNG"),
             (("train", *d, *small, "--plot"), "SVG", "x.gif")]
    for args, kind, name in cases:
        path = os.path.join(tmp, name)
        p = run(*args, path)
        own = ".png" if kind == "PNG" else ".svg"
        check(one_line(p, 2, f"{args[-1]} {path}: {args[-1]} writes a{'n' if kind == 'SVG' else ''} {kind} file",
                       f"give it a {own} name") and not os.path.exists(path),
              f"{args[0]} {args[-1]} {name}: refused, nothing written (status {p.returncode}: {text(p.stderr).strip()!r})")
        for ok in ("x" + own.upper(), "x"):
            path = os.path.join(tmp, ok)
            p = run(*args, path)
            check(p.returncode == 0 and os.path.getsize(path) > 0,
                  f"{args[0]} {args[-1]} {ok}: written (status {p.returncode}: {text(p.stderr).strip()!r})")
            os.remove(path)


def test_output_not_ours(tmp, data):
    """A file that an output replaces whole must be empty or of the output's kind, as --log empties
    only a log: train --checkpoint, --save and --plot wrote over notes.txt (--plot after the training),
    and so did show --out, plot --out and eval's pictures. Refused before anything is done, in one
    line naming the flag and the file, which is kept; an empty file and one of its kind are replaced."""
    model, log = os.path.join(tmp, "kind.safetensors"), os.path.join(tmp, "kind.jsonl")
    d = ["--data", data, "--no-verify"]
    small = ["--layers", "784,4,10", "--batch", "2", "--epochs", "1"]
    run("train", *d, *small, "--save", model, "--log", log)
    kinds = {"safetensors": struct.pack("<Q", 16) + b'{"previous":  1}', "SVG": b"<svg xmlns='http://www.w3.org/2000/svg'/>\n",
             "PNG": open(SAMPLE, "rb").read()}
    cases = [(("train", *d, *small, "--save"), "safetensors"), (("train", *d, *small, "--checkpoint"), "safetensors"),
             (("train", *d, *small, "--plot"), "SVG"), (("show", *d, "--out"), "PNG"), (("plot", log, "--out"), "SVG"),
             (("eval", *d, "--model", model, "--confusion"), "SVG"), (("eval", *d, "--model", model, "--errors"), "PNG")]
    notes = os.path.join(tmp, "notes.txt")
    for args, kind in cases:
        with open(notes, "wb") as f:
            f.write(b"notes\n")
        p = run(*args, notes)
        check(one_line(p, 1, f"{args[-1]} {notes}: it is not a{'n' if kind == 'SVG' else ''} {kind} file")
              and text(p.stdout) == "" and open(notes, "rb").read() == b"notes\n",
              f"{args[0]} {args[-1]} over a text file: refused before it began, the file kept (status {p.returncode}: "
              f"{text(p.stderr).strip()!r})")
        # a file of its kind cut short (a copy stopped early), even within its first bytes, is the output's own
        for before, what in ((b"", "an empty file"), (kinds[kind], f"a file of its kind, {kind}"),
                             (kinds[kind][:3], f"{kind} cut to 3 bytes"), (kinds[kind][:5], f"{kind} cut to 5 bytes")):
            with open(notes, "wb") as f:
                f.write(before)
            p = run(*args, notes)
            check(p.returncode == 0 and open(notes, "rb").read() != before,
                  f"{args[0]} {args[-1]} over {what}: replaced (status {p.returncode}: {text(p.stderr).strip()!r})")
        if kind == "SVG":  # as an editor or a drawing tool begins one
            for before in (b"\xef\xbb\xbf<svg/>\n", b"\n  <svg/>\n", b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN">\n<svg/>\n'):
                with open(notes, "wb") as f:
                    f.write(before)
                p = run(*args, notes)
                check(p.returncode == 0 and open(notes, "rb").read() != before,
                      f"{args[0]} {args[-1]} over an SVG begun {before[:12]!r}: replaced (status {p.returncode}: "
                      f"{text(p.stderr).strip()!r})")


def test_long_path(tmp, data):
    """A file's name longer than a message holds (PATH_MAX and more) cut the message before its
    problem ("mnist eval: /tmp/aaaa...aaaa", and nothing after): its middle now gives way to "...",
    and the line ends with the problem."""
    path = os.path.join(tmp, "a" * 250, *(["b" * 200] * 25), "x.safetensors")
    reason = os.strerror(errno.ENAMETOOLONG)
    for args in (("eval", "--model", path), ("predict", "--model", path, SAMPLE), ("plot", path),
                 ("train", "--resume", path)):
        p = run(*args)
        err = text(p.stderr).strip()
        check(one_line(p, 1, "...", "x.safetensors: " + reason) and err.endswith(reason) and len(err) < 1100,
              f"{args[0]} {args[1] if args[1].startswith('--') else 'FILE'} of {len(path)} bytes: the line ends with "
              f"the problem ({len(err)} bytes: "
              f"{err[:40]!r}...{err[-60:]!r})")
    # --epochs 0 names its --checkpoint twice in one line, which was cut at 4199 bytes
    deep = os.path.join(tmp, *(["d" * 200] * 14))
    os.makedirs(deep, exist_ok=True)
    ck = os.path.join(deep, "start.ckpt")
    p = run("train", "--data", data, "--no-verify", "--layers", "784,4,10", "--batch", "2", "--epochs", "0",
            "--checkpoint", ck, "--plot", os.path.join(tmp, "none.svg"))
    check(one_line(p, 0, f"--checkpoint {ck} holds the run at its start (--resume {ck} --epochs N trains it); --plot "
                   "drew nothing"), f"train --epochs 0 --checkpoint of {len(ck)} bytes: the whole line said "
          f"({text(p.stderr).strip()[-60:]!r})")
    # an output's folder was judged by its name cut to PATH_MAX bytes, another folder's: 'cannot write in
    # the folder /tmp/bbbb...bbbb: No such file or directory', though it was there
    deep = os.path.join(tmp, *(["b" * 200] * 19))
    os.makedirs(deep, exist_ok=True)
    path = os.path.join(deep, *(["c" * 200] * 6), "x.svg")
    for args in (("train", "--save"), ("train", "--log"), ("plot", os.devnull, "--out"), ("show", "--out")):
        p = run(*args, path)
        check(one_line(p, 1, f"{args[-1]} {path}: its name is {len(path)} bytes, longer than the ", " a path may have"),
              f"{args[0]} {args[-1]} of {len(path)} bytes: its length said ({text(p.stderr).strip()[-80:]!r})")


COMMANDS = ("fetch", "train", "eval", "plot", "predict", "show", "serve")


def test_usage_lines():
    """Each command's usage line (the first of its --help) lists every flag it takes, or says [flags]
    (naming the required ones all the same), and README's heading of the command is that line."""
    import re
    readme = open(os.path.join(ROOT, "README.md")).read()
    for cmd in COMMANDS:
        help_text = text(run(cmd, "--help").stdout)
        usage = help_text.splitlines()[0] if help_text else ""
        rest = usage[len("usage: "):]
        flags = [line.split()[0] for line in help_text.splitlines()[1:] if line.startswith("  --")]
        required = [line.split()[0] for line in help_text.splitlines() if line.startswith("  --") and
                    "required" in line]
        named = set(re.findall(r"--[a-z][a-z0-9-]*", rest))
        missing = [f for f in flags if f != "--help" and f not in named]
        check(("[flags]" in rest or not missing) and all(f in named for f in required),
              f"mnist {cmd}: its usage line names its flags or says [flags]: {rest!r} (missing {missing})")
        check(f"### `{rest}`" in readme, f"README's heading of {cmd} is its usage line: {rest!r}")


def test_no_verify_help():
    """--no-verify skips the hashes of the dataset read, Fashion-MNIST's too: every command says so
    (show's help said 'not MNIST's hashes', though it shows --dataset fashion as well)."""
    for cmd in ("train", "eval", "show"):
        line = next((x for x in text(run(cmd, "--help").stdout).splitlines() if "--no-verify" in x), "")
        check("the dataset's hashes" in line, f"{cmd} --help: --no-verify skips the dataset's hashes: {line.strip()!r}")


def test_data_help():
    """--data's help names Fashion-MNIST's default folder, 'fashion' inside MNIST's, in every command that
    takes it: fetch's did, and train's, eval's and show's named MNIST's folder alone, though with --dataset
    fashion (eval: a model of it) they read the one inside."""
    for cmd in ("fetch", "train", "eval", "show"):
        line = next((x for x in text(run(cmd, "--help").stdout).splitlines() if x.startswith("  --data ")), "")
        check("fashion in its 'fashion'" in line, f"{cmd} --help: --data names Fashion-MNIST's folder: {line.strip()!r}")


def test_threads_help():
    """--threads' default is all cores or $OMP_NUM_THREADS, as the code takes it (cpu_threads) and README
    says; train's and eval's --help said 'all cores' alone."""
    for cmd in ("train", "eval"):
        line = next((x for x in text(run(cmd, "--help").stdout).splitlines() if x.startswith("  --threads ")), "")
        check("OMP_NUM_THREADS" in line, f"{cmd} --help: --threads names OMP_NUM_THREADS: {line.strip()!r}")


def test_errors_help():
    """eval --errors draws the first 100 misread images (MAX_ERRORS), as README says; --help said 'the
    misread test images', all of them."""
    line = next((x for x in text(run("eval", "--help").stdout).splitlines() if x.startswith("  --errors ")), "")
    check("first 100 misread" in line, f"eval --help: --errors draws the first 100: {line.strip()!r}")


def test_plot_help():
    """plot --help names the curves it draws as README does, the batch loss too (plot.c draws it; the help
    named train, validation and test only)."""
    h = " ".join(text(run("plot", "--help").stdout).split())
    check("(train, validation, test, and the batch loss)" in h, f"plot --help: the curves drawn: {h[:140]!r}")


def test_train_help():
    """train --help: Ctrl-C writes a checkpoint only with --checkpoint (it said it always did); --recipe
    best also turns off the training-set accuracy (it did not say so); --seed's shifts and mirroring are
    hashed from it too (it named dropout only); --shift and --flip need square images, here and in README
    (neither said so)."""
    import re
    h = " ".join(text(run("train", "--help").stdout).split())
    ctrl_c = re.search(r"Ctrl-C[^.]*\.", h)
    check(ctrl_c and "checkpoint" in ctrl_c.group(0) and "--checkpoint" in ctrl_c.group(0),
          f"train --help: Ctrl-C writes the checkpoint with --checkpoint: {ctrl_c and ctrl_c.group(0)!r}")
    recipe = re.search(r"--recipe lab\|best (.*?) --layers", h)
    check(recipe and "training-set accuracy" in recipe.group(1),
          f"train --help: --recipe best says it skips the training-set accuracy: {recipe and recipe.group(1)!r}")
    seed = re.search(r"--seed N (.*?) --optimizer", h)
    check(seed and "dropout" in seed.group(1) and "augmentation" in seed.group(1),
          f"train --help: --seed also seeds the augmentation, as README says: {seed and seed.group(1)!r}")
    # --shift and --flip need square images (mnist_train_fits refuses others): neither said so
    for flag, after in (("--shift N", "--flip"), ("--flip", "--batch")):
        said = re.search(re.escape(flag) + r" (.*?) " + after, h)
        check(said and "square" in said.group(1), f"train --help: {flag} needs square images: {said and said.group(1)!r}")
    readme = open(os.path.join(ROOT, "README.md")).read()
    row = next((r for r in readme.splitlines() if r.startswith("| `--shift N`, `--flip`")), "")
    check("square" in row, f"README: --shift and --flip need square images: {row!r}")


def test_train_help_defaults():
    """Every flag of train --help that takes a value says its default, as README's table does (--validation
    said none; it is 0), but the files, whose default is none."""
    told = ("--save", "--checkpoint", "--resume", "--log", "--plot")
    for line in text(run("train", "--help").stdout).splitlines():
        m = re.match(r"  (--\S+) (\S+)\s{2,}(.*)", line)
        if m and m.group(1) not in told:
            check("default" in m.group(3), f"train --help: {m.group(1)} says its default: {m.group(3)!r}")


def test_numbers_meaning(data):
    """README's 'What the numbers mean' names every field of a train --json record (the accuracies under
    **accuracy**): it said nothing of "epoch", "eval_seconds", "lr" and "validation_loss"."""
    import json
    p = run("train", "--data", data, "--no-verify", "--layers", "784,4,10", "--batch", "2", "--threads", "1",
            "--epochs", "1", "--validation", "2", "--json")
    lines = text(p.stdout).splitlines()
    keys = json.loads(lines[0]).keys() if p.returncode == 0 and lines else []
    check(keys, f"train --json: a record ({text(p.stderr).strip()!r})")
    readme = open(os.path.join(ROOT, "README.md")).read()
    section = readme[readme.index("## What the numbers mean"):readme.index("With the defaults the test accuracies")]
    unnamed = [k for k in keys if f"**{k}**" not in section and f"`{k}`" not in section and
               not (k.endswith("_accuracy") and "**accuracy**" in section)]
    check(not unnamed, f"README's 'What the numbers mean' names every field of train --json: not {unnamed}")


def test_train_table():
    """README's table of train's flags holds every flag of train --help, each with the same argument, and
    no other: help said '--log FILE' where the table says '--log FILE.jsonl'."""
    import re
    readme = open(os.path.join(ROOT, "README.md")).read()
    table = readme[readme.index("### `mnist train [flags]`"):readme.index("Output reads like the lab's")]
    documented = set()
    for row in table.splitlines():
        if row.startswith("| `--"):  # the first cell: `--flag ARG`, `--other` (a | in ARG written \|)
            cell = row.replace("\\|", "\0").split("|")[1].replace("\0", "|")
            documented |= set(re.findall(r"`([^`]*)`", cell))
    helped = set()
    for line in text(run("train", "--help").stdout).splitlines():
        m = re.match(r"  (--\S+(?: \S+)?)\s{2,}", line)  # --flag ARG, then two spaces or more, then its help
        if m and m.group(1) != "--help":
            helped.add(m.group(1))
    check(documented == helped, f"README's table of train's flags is train --help's: only in README "
          f"{sorted(documented - helped)}, only in --help {sorted(helped - documented)}")


def test_serve_help():
    """serve --help: --threads' default is one per core, at most 64, as the code takes it (it said 'all
    cores'), and N may be up to 256, which --help did not say (it read as a cap of 64 on N); README says the
    same, and 257 is refused."""
    import re
    h = " ".join(text(run("serve", "--help").stdout).split())
    threads = re.search(r"--threads N (.*?) --timeout", h)
    check(threads and "at most 256 (default 0: one per core, at most 64)" in threads.group(1),
          f"serve --help: --threads says its limit of 256 and its default's cap of 64: {threads and threads.group(1)!r}")
    readme = " ".join(docs_text().split())
    check("`--threads N` (at most 256; default 0: one per core, at most 64)" in readme,
          "README or docs/: serve's --threads limit, and its default capped at 64")
    p = run("serve", "--model", "none.safetensors", "--threads", "257")
    check(p.returncode == 2 and "at most 256" in text(p.stderr), f"serve --threads 257 is refused: {text(p.stderr)!r}")


def test_fetch_leaves_no_folder(tmp, data):
    """A failed fetch, automatic (train, eval, show: data missing, no mirror answers) or fetch's own,
    removes the empty data folder it created, with the folders it created above it, and its advice
    says to make the folder to place the files there by hand; a folder that was there stays, and so
    does anything in it. The mirrors are reached through a proxy that is not there."""
    offline = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
               "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": "", "MNIST_DATA": ""}
    model = os.path.join(tmp, "fetch.safetensors")
    run("train", "--data", data, "--no-verify", "--layers", "784,16,10", "--epochs", "0", "--save", model)
    top = os.path.join(tmp, "made")
    # its advice, to place the files by hand, says to make the folder (it named one no longer there)
    make = f"make the folder {os.path.join(top, 'a', 'b')} if it is not there and place the files"
    # fetch itself left the folder it made (the cleanup was the automatic fetch's only)
    for args in (["train", "--epochs", "1", "--layers", "784,16,10"], ["eval", "--model", model], ["show"], ["fetch"]):
        p = run(*args, "--data", os.path.join(top, "a", "b"), env=offline, timeout=60)
        last = text(p.stderr).strip().splitlines()[-1:]
        check(p.returncode == 1 and last and "no mirror could provide it" in last[0] and not os.path.exists(top),
              f"{' '.join(args[:3])}: a failed fetch into a new folder leaves none ({last}, "
              f"{os.path.exists(top) and os.listdir(top)})")
        # eval's are the test set's two, show's (of the training set) the training set's
        names = ", ".join({"eval": NAMES[2:], "show": NAMES[:2]}.get(args[0], NAMES))
        check(last and make in last[0] and f"place the files {names} (raw" in last[0],
              f"{' '.join(args[:3])}: and says to make it to place the files by hand "
              f"({last[0][last[0].find('. ') :] if last else ''!r})")
    # the default folder, $XDG_CACHE_HOME/mnist: what this run made of it goes
    xdg = os.path.join(tmp, "xdg")
    p = run("eval", "--model", model, env={**offline, "XDG_CACHE_HOME": xdg}, timeout=60)
    check(p.returncode == 1 and not os.path.exists(xdg), f"eval: a failed fetch into a new default folder leaves "
          f"none ({os.path.exists(xdg) and os.listdir(xdg)})")
    p = run("fetch", env={**offline, "XDG_CACHE_HOME": xdg}, timeout=60)
    check(p.returncode == 1 and not os.path.exists(xdg), f"fetch: a failed fetch into a new default folder leaves "
          f"none ({os.path.exists(xdg) and os.listdir(xdg)})")
    there = os.path.join(tmp, "there")
    os.makedirs(there)
    for args in (["eval", "--model", model], ["fetch"]):
        p = run(*args, "--data", there, env=offline, timeout=60)
        check(p.returncode == 1 and os.path.isdir(there), f"{args[0]}: a data folder that was there stays")
    # a path through '..': the folders made are those that were not there, whatever the name says
    # (a/../b left a; c/../b removed b, empty but not made by it, and left c)
    up, was, new = (os.path.join(tmp, n) for n in ("up", "was", "new"))
    for args in (["fetch"], ["train", "--epochs", "1", "--layers", "784,16,10"]):
        os.makedirs(was, exist_ok=True)
        p = run(*args, "--data", os.path.join(up, "..", "was"), env=offline, timeout=60)
        check(p.returncode == 1 and os.path.isdir(was) and not os.path.exists(up),
              f"{args[0]} --data up/../was: the folder that was there stays, the one made goes "
              f"(was: {os.path.isdir(was)}, up: {os.path.exists(up)})")
        p = run(*args, "--data", os.path.join(up, "..", "new"), env=offline, timeout=60)
        check(p.returncode == 1 and not os.path.exists(up) and not os.path.exists(new),
              f"{args[0]} --data up/../new: a failed fetch leaves neither folder "
              f"(up: {os.path.exists(up)}, new: {os.path.exists(new)})")
    os.makedirs(os.path.join(there, "kept"))
    with open(os.path.join(there, "kept", "note"), "w") as f:
        f.write("mine")
    p = run("eval", "--model", model, "--data", os.path.join(there, "kept", "new"), env=offline, timeout=60)
    check(p.returncode == 1 and os.listdir(there) == ["kept"] and sorted(os.listdir(os.path.join(there, "kept")))
          == ["note"], f"eval: only the folder it made goes ({os.listdir(os.path.join(there, 'kept'))})")


def test_test_set_only(tmp, data):
    """eval and show --split test read only the test set's two files: a folder holding only those works,
    with --no-verify and, on the real MNIST files of $MNIST_DATA, verified; they loaded all four and, one
    missing, fetched them all (the 47 MB training images too). The fetch goes through a proxy that is
    not there, so a fetch fails the run."""
    offline = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
               "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": "", "MNIST_DATA": ""}
    model = os.path.join(tmp, "test-only.safetensors")
    run("train", "--data", data, "--no-verify", "--layers", "784,4,10", "--epochs", "0", "--save", model)
    folder = os.path.join(tmp, "test-only")
    os.makedirs(folder)
    for name in NAMES[2:]:
        shutil.copy(os.path.join(data, name), folder)
    for args in (["eval", "--model", model], ["show", "--split", "test"]):
        p = run(*args, "--data", folder, "--no-verify", env=offline, timeout=60)
        check(p.returncode == 0 and sorted(os.listdir(folder)) == NAMES[2:],
              f"{args[0]} --no-verify of a folder with only the test files: works, nothing fetched "
              f"(status {p.returncode}: {text(p.stderr).strip()[-200:]!r})")
    mnist = real_mnist(NAMES[2], "eval of the real test files alone")
    if not mnist:
        return
    real = os.path.join(tmp, "real-test-only")
    os.makedirs(real)
    for name in NAMES[2:]:
        shutil.copy(os.path.join(mnist, name + ".gz"), real)
    for args in (["eval", "--model", model], ["show", "--split", "test"]):
        p = run(*args, "--data", real, env=offline, timeout=60)
        check(p.returncode == 0 and len(os.listdir(real)) == 2,
              f"{args[0]} of a folder with only the real test files, verified: works, nothing fetched "
              f"(status {p.returncode}: {text(p.stderr).strip()[-200:]!r})")


def test_data_trailing_slash(tmp):
    """--data DIR/ (a trailing '/', as a shell's completion leaves it): the files are named DIR/FILE in
    messages, not DIR//FILE."""
    folder = os.path.join(tmp, "slashed")
    dataset(folder)
    with open(os.path.join(folder, NAMES[0]), "wb") as f:
        f.write(b"junk")
    want = os.path.join(folder, NAMES[0])
    p = run("show", "--data", folder + "/", "--no-verify")
    check(one_line(p, 1, want + ":", "bad magic") and "//" not in text(p.stderr),
          f"show --data DIR/: its file is DIR/FILE in the message ({text(p.stderr).strip()!r})")
    out = os.path.join(folder, NAMES[3])
    p = run("show", "--data", folder + "//", "--no-verify", "--out", out)
    check(one_line(p, 2, f"is the data file {out},") and "//" not in text(p.stderr),
          f"show --data DIR// --out a data file: named DIR/FILE ({text(p.stderr).strip()!r})")


def test_layout():
    """README's Layout names every C file of src/, by its path or by its folder's line (src/cli/, src/cuda/):
    src/stb_zlib.c, stb_image's inflate for a PNG that zlib does not read whole, went unnamed."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    layout = readme[readme.index("## Layout"):]
    named = set(re.findall(r"^    (src/\S+)", layout, re.M))
    unnamed = []
    for folder, _, files in os.walk(os.path.join(ROOT, "src")):
        rel = os.path.relpath(folder, ROOT) + "/"
        unnamed += [rel + f for f in sorted(files) if f.endswith((".c", ".cu")) and rel + f not in named and
                    rel not in named]
    check(not unnamed, f"README's Layout names every C file of src/: not {unnamed}")


def test_output_example(data):
    """README's example of train's output has the lines train prints, numbers aside: it began at the first
    epoch's, without the line before it that says what is trained ('Training 784-1024-1024-10 (tanh) on ...')."""
    p = run("train", "--data", data, "--no-verify", "--layers", "784,4,10", "--batch", "2", "--threads", "1",
            "--epochs", "2", "--no-progress")
    readme = open(os.path.join(ROOT, "README.md")).read()
    block = readme[readme.index("Output reads like the lab's"):]
    example = re.search(r"\n\n((?:    .*\n)+)", block).group(1).splitlines()

    def shape(line):  # numbers, layer sizes (784-4-10) and times alike
        return re.sub(r"\d[\d.,-]*", "N", line.strip())
    printed = [shape(line) for line in text(p.stdout).splitlines()[:len(example)]]
    check(p.returncode == 0 and printed == [shape(line) for line in example],
          f"README's example of train's output is what train prints: {printed} ({text(p.stderr).strip()!r})")


def main():
    tmp = tempfile.mkdtemp(prefix="mnist-test-cli-")
    try:
        data = os.path.join(tmp, "data")
        dataset(data)
        test_epochs_zero(tmp, data)
        test_resume_log(tmp, data)
        test_log_no_record(tmp, data)
        test_closed_stdout(tmp, data)
        test_broken_pipe(tmp, data)
        test_version()
        test_numbers()
        test_output_dash(tmp, data)
        test_output_not_ours(tmp, data)
        test_output_named_otherwise(tmp, data)
        test_long_path(tmp, data)
        test_empty_argument(tmp)
        test_log_not_ours(tmp, data)
        test_folder_takes_no_file(tmp, data)
        test_folder_is_a_file(tmp, data)
        test_xdg_relative(tmp, data)
        test_home_empty(tmp)
        test_predict_many(tmp)
        test_data_not_made(tmp)
        test_data_missing_advice(tmp, data)
        test_resume_threads(tmp, data)
        test_resume_no_train_eval(tmp, data)
        test_resume_checkpoints(tmp, data)
        test_progress_width(data)
        test_show_picture_cap(tmp, data)
        test_show_fashion_words(tmp)
        test_one_input(tmp)
        test_flag_twice(data)
        test_device_unknown(data)
        test_predict_stdin(tmp, data)
        test_predict_ahead(tmp, data)
        test_predict_decode_budget(tmp, data)
        test_plot_cut_short(tmp)
        test_pixel_limit(tmp, data)
        test_plot_not_record(tmp)
        test_plot_default_out(tmp)
        test_usage_lines()
        test_train_help()
        test_train_table()
        test_train_help_defaults()
        test_numbers_meaning(data)
        test_layout()
        test_output_example(data)
        test_no_verify_help()
        test_data_help()
        test_threads_help()
        test_errors_help()
        test_plot_help()
        test_serve_help()
        test_fetch_leaves_no_folder(tmp, data)
        test_mirror_not_url(tmp)
        test_mirror_password(tmp)
        test_fetch_lines_escaped(tmp)
        test_fetch_set_aside_race(tmp)
        test_fetch_progress(tmp)
        test_mirror_other_dataset(tmp)
        test_folder_of_other_dataset(tmp)
        test_data_trailing_slash(tmp)
        test_test_set_only(tmp, data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return status()


if __name__ == "__main__":
    sys.exit(main())
