"""test_signals.py: what a signal leaves behind. A save or a download interrupted by SIGINT,
SIGTERM or SIGHUP leaves no temporary file and the previous file as it was; the files written
get the modes that the umask (or the file they replace) asks for. On real MNIST (`make data`)."""
import glob
import os
import pty
import resource
import signal
import stat
import struct
import subprocess
import sys
import time

from testlib import MNIST, ROOT, check, hangup_default, temp_dir, shim, status

BIG = ["--layers", "784,8192,8192,10", "--epochs", "0", "--threads", "2"]  # a 294 MB model file


def temps(folder):
    return glob.glob(os.path.join(folder, ".*.tmp-*"))


def writing(folder):
    """The temporary files that hold bytes: the save's, not the empty one that the check of the
    outputs at the start makes and removes at once (cli_check_output)."""
    found = []
    for p in temps(folder):
        try:
            if os.path.getsize(p) > 0:
                found.append(p)
        except OSError:  # removed meanwhile
            pass
    return found


def train_saving(tmp, target):
    """Start the big training with --save target and wait for its save's temporary file to hold bytes: (the
    process, whether that was seen before it ended)."""
    proc = subprocess.Popen([MNIST, "train", *BIG, "--save", target], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=hangup_default)
    t0 = time.time()
    while proc.poll() is None and not writing(tmp) and time.time() - t0 < 60:
        time.sleep(0.001)
    return proc, proc.poll() is None and writing(tmp)


def signal_during_save(tmp, sig):
    """Send sig once the save's temporary file holds bytes (SIGINT again until the program ends: a first Ctrl-C
    lets the save end); False when the run ended first."""
    target = os.path.join(tmp, "big.safetensors")
    previous = struct.pack("<Q", 16) + b'{"previous":  1}'  # a safetensors file, as --save replaces only one
    with open(target, "wb") as f:
        f.write(previous)
    proc, seen = train_saving(tmp, target)
    if seen:
        proc.send_signal(sig)
        # Ctrl-C again and again until it ends: those sent during one write() arrive as one
        while sig == signal.SIGINT and proc.poll() is None:
            time.sleep(0.005)
            proc.send_signal(sig)
    proc.communicate(timeout=120)
    if not seen:
        return False
    name = signal.Signals(sig).name + (" again" if sig == signal.SIGINT else "")
    check(proc.returncode == -sig, f"{name} during a save ends the program by {name} (status {proc.returncode})")
    check(temps(tmp) == [], f"{name} during a save leaves no temporary file ({temps(tmp)})")
    check(open(target, "rb").read() == previous, f"{name} during a save leaves the previous file as it was")
    return True


def ctrl_c_during_save(tmp):
    """One Ctrl-C while the training's end is saved: the model is written (it ended the program, the model
    dropped, with nothing else to keep it), then status 130 and a line that says so (it was 0, as if no
    Ctrl-C had come); False when the run ended first."""
    target = os.path.join(tmp, "big.safetensors")
    for p in [target] + temps(tmp):
        os.remove(p)
    proc, seen = train_saving(tmp, target)
    if seen:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if not seen:
        return False
    size = os.path.getsize(target) if os.path.exists(target) else 0
    check(proc.returncode == 130 and b"interrupted as the run ended" in err and size > 294_000_000
          and temps(tmp) == [], f"one Ctrl-C during the save at the training's end: the model written, then status "
          f"130 (status {proc.returncode}, {size} bytes, {temps(tmp)}, {err.decode(errors='replace').strip()!r})")
    return True


def test_save(tmp):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        caught = any(signal_during_save(tmp, sig) for _ in range(3))
        check(caught, f"{signal.Signals(sig).name}: the save's temporary file was seen before the run ended")
    caught = any(ctrl_c_during_save(tmp) for _ in range(3))
    check(caught, "one Ctrl-C: the save's temporary file was seen before the run ended")


def test_fetch(tmp):
    """Ctrl-C while a mirror stalls: the download stops, its partial file goes, and the folder it made, status 130.
    SIGTERM and SIGHUP end it by the signal, and leave nothing either (the folder stayed, empty); so does SIGPIPE,
    its standard error a pipe whose reader is gone (mnist fetch 2>&1 | head -c 1), at its first line."""
    served = os.path.join(tmp, "served")
    os.makedirs(served)
    with open(os.path.join(served, "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(b"\x1f\x8b" + bytes(4096))
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "fault_server.py"), served],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(server.stdout.readline().split()[1])
        data = os.path.join(tmp, "data", "mnist")  # two folders made
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            name = signal.Signals(sig).name
            proc = subprocess.Popen([MNIST, "fetch", "--data", data, "--mirror", f"http://127.0.0.1:{port}/stall/"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=hangup_default)
            t0 = time.time()
            while proc.poll() is None and not temps(data) and time.time() - t0 < 30:
                time.sleep(0.01)
            seen = proc.poll() is None and bool(temps(data))
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=60)
            check(seen, f"{name}: fetch from a stalling mirror: the download's temporary file appears")
            if sig == signal.SIGINT:
                check(proc.returncode == 130 and "interrupted" in err,
                      f"Ctrl-C stops fetch with status 130 and says so (status {proc.returncode}: {err.strip()[-200:]})")
            else:
                check(proc.returncode == -sig, f"{name} ends fetch by {name} (status {proc.returncode})")
            # nothing is left: not the partial file, nor the folders this fetch made for it (left empty)
            top = os.path.join(tmp, "data")
            check(not os.path.exists(top), f"{name}: the interrupted download leaves nothing, not even the data folders "
                  f"it made ({os.path.exists(top) and [w[:2] for w in os.walk(top)]})")
        # the reader of its standard error gone: SIGPIPE at its first line, "Downloading ..."
        proc = subprocess.Popen([MNIST, "fetch", "--data", data, "--mirror", f"http://127.0.0.1:{port}/stall/"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        proc.stderr.close()
        proc.wait(timeout=60)
        top = os.path.join(tmp, "data")
        check(proc.returncode == -signal.SIGPIPE and not os.path.exists(top),
              f"fetch whose standard error's reader is gone: ended by SIGPIPE, it leaves no data folder "
              f"(status {proc.returncode}, {os.path.exists(top) and [w[:2] for w in os.walk(top)]})")
        # SIGTERM while the temporary file is made and not yet listed (a shim holds mkstemp 0.5 s there): it came
        # on another thread of the process (OpenBLAS's), which removed what was listed and ended it, the file left
        wrap = shim(tmp, "slow_mkstemp")
        if wrap:
            proc = subprocess.Popen([*wrap, MNIST, "fetch", "--data", data, "--mirror",
                                     f"http://127.0.0.1:{port}/stall/"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            t0 = time.time()
            while proc.poll() is None and not temps(data) and time.time() - t0 < 30:
                time.sleep(0.01)
            threads = len(os.listdir(f"/proc/{proc.pid}/task")) if proc.poll() is None else 0
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            check(proc.returncode == -signal.SIGTERM and not os.path.exists(top),
                  f"SIGTERM while the temporary file is made, not yet listed (fetch has {threads} threads): "
                  f"nothing is left (status {proc.returncode}, {os.path.exists(top) and list(os.walk(top))})")
    finally:
        server.kill()
        server.wait()


def test_train_plot(tmp):
    """Ctrl-C in a run's first epoch with --plot: status 130 and the one line that says so (it was
    status 1 and a second line, --plot's "no records"), and that --plot drew nothing (it said nothing of
    it); the checkpoint it wrote evaluates."""
    ckpt, svg, log = (os.path.join(tmp, n) for n in ("first.ckpt", "first.svg", "first.jsonl"))
    proc = subprocess.Popen([MNIST, "train", "--layers", "784,256,10", "--batch", "1", "--epochs", "2", "--threads",
                             "1", "--checkpoint", ckpt, "--log", log, "--plot", svg], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    banner = proc.stdout.readline()  # training begins: its first epoch takes seconds (60000 steps)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    check(banner.startswith("Training") and "Epoch" not in out, f"the signal came in the first epoch: {out!r}")
    check(proc.returncode == 130 and err.strip().count("\n") == 0 and "interrupted" in err
          and "--plot drew nothing (no epoch ended)" in err,
          f"Ctrl-C in the first epoch with --plot: status 130 and one line, that says --plot drew nothing "
          f"(status {proc.returncode}: {err.strip()!r})")
    check(not os.path.exists(svg), "no chart is drawn of no epochs")
    p = subprocess.run([MNIST, "eval", "--model", ckpt, "--threads", "1"], capture_output=True, text=True)
    check(p.returncode == 0 and "Test accuracy" in p.stdout, f"the checkpoint written at Ctrl-C loads: {p.stderr.strip()}")
    # with neither --save nor --checkpoint, the line says that nothing was kept, and how to keep a run
    proc = subprocess.Popen([MNIST, "train", "--layers", "784,16,10", "--batch", "1", "--epochs", "1", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    banner = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    check(banner.startswith("Training") and proc.returncode == 130 and err.strip().count("\n") == 0
          and "interrupted; no model was saved (--save FILE" in err,
          f"Ctrl-C with nothing to save: status 130 and one line that says so (status {proc.returncode}: {err.strip()!r})")


def test_train_save_fails(tmp):
    """Ctrl-C in a run's first epoch, then its --save fails (a file-size limit): status 1, not 130, which said
    the run had stopped as asked, its model written."""
    model = os.path.join(tmp, "limited.safetensors")

    def limited():  # a write past 100 kB fails with EFBIG: the 784-256-10 model is 814 kB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
    proc = subprocess.Popen([MNIST, "train", "--layers", "784,256,10", "--batch", "1", "--epochs", "2", "--threads",
                             "1", "--save", model], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=limited)
    banner = proc.stdout.readline()  # training begins: its first epoch takes seconds (60000 steps)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    check(banner.startswith("Training") and "Epoch" not in out, f"the signal came in the first epoch: {out!r}")
    check(proc.returncode == 1 and "interrupted" in err and model in err and "File too large" in err
          and not os.path.exists(model), f"Ctrl-C, then a --save that fails: status 1, the failure said "
          f"(status {proc.returncode}: {err.strip()!r})")


def read_terminal(master, shown, until):
    """shown with what the program writes to the terminal whose master is master added, until it holds until (None:
    until the program ends)."""
    while until is None or until not in shown:
        try:
            got = os.read(master, 1 << 16)
        except OSError:  # EIO: the program has ended
            break
        if not got:
            break
        shown += got
    return shown


def test_train_late(tmp):
    """Ctrl-C after the last step, in the last epoch's evaluation: too late to stop the run, which goes to its
    end, its log's record, checkpoint and model written, then status 130 and a line that says so (it was 0 and
    nothing said, as if no Ctrl-C had come)."""
    ckpt, model, log = (os.path.join(tmp, n) for n in ("late.ckpt", "late.safetensors", "late.jsonl"))
    master, slave = pty.openpty()  # on a terminal: the progress bar says when the last step is done
    # 10 steps of 100 examples, then the evaluation of 70000 (59000 held out, and the test set): seconds
    proc = subprocess.Popen([MNIST, "train", "--layers", "784,1024,1024,10", "--batch", "100", "--validation",
                             "59000", "--epochs", "1", "--threads", "1", "--checkpoint", ckpt, "--log", log, "--save",
                             model], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    shown = read_terminal(master, b"", b" 10/10 ")  # the bar's last update: the training pass has ended
    proc.send_signal(signal.SIGINT)
    shown = read_terminal(master, shown, None)
    os.close(master)
    out = proc.communicate(timeout=120)[0].decode()
    err = shown.decode(errors="replace")
    check(b" 10/10 " in shown, f"the bar showed the last step before the signal: {err[-200:]!r}")
    check(proc.returncode == 130 and "interrupted as the run ended" in err,
          f"Ctrl-C in the last epoch's evaluation: status 130, said (status {proc.returncode}: {err[-200:]!r})")
    records = open(log).read().splitlines() if os.path.exists(log) else []
    check("Test accuracy" in out and f"Saved the model to {model}" in out and len(records) == 1,
          f"and the run went to its end: its epoch, its log's record, its model ({out!r}, {len(records)} records)")
    p = subprocess.run([MNIST, "train", "--resume", ckpt, "--threads", "1"], capture_output=True, text=True)
    check(p.returncode == 0 and "has trained its 1 epoch: nothing to do" in p.stderr,
          f"its checkpoint holds the run's end: {p.stderr.strip()!r}")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_modes(tmp):
    small = ["--layers", "784,4,10", "--epochs", "0"]
    target = os.path.join(tmp, "m.safetensors")
    for mask, want in ((0o077, 0o600), (0o022, 0o644), (0o002, 0o664)):
        if os.path.exists(target):
            os.remove(target)
        p = subprocess.run([MNIST, "train", *small, "--save", target], capture_output=True, text=True,
                           preexec_fn=lambda: os.umask(mask))
        check(p.returncode == 0 and mode(target) == want,
              f"with umask {mask:03o} a new model file gets mode {want:03o} (it got {mode(target):03o})")
    os.chmod(target, 0o640)
    p = subprocess.run([MNIST, "train", *small, "--save", target], capture_output=True, text=True,
                       preexec_fn=lambda: os.umask(0o022))
    check(p.returncode == 0 and mode(target) == 0o640, f"a replaced file keeps its mode 640 (got {mode(target):03o})")


def main():
    tmp = temp_dir("mnist-test-signals-")
    test_modes(tmp)
    test_save(tmp)
    test_fetch(tmp)
    test_train_plot(tmp)
    test_train_save_fails(tmp)
    test_train_late(tmp)
    return status()


if __name__ == "__main__":
    sys.exit(main())
