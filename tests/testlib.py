"""testlib.py: what the Python tests share: the program under test, check(), temp_dir(), shim(), png_chunk()
and docs_text().

Each check prints "PASS name" or "FAIL name"; tests/run.sh counts those lines, and a test's exit
status (status()) is non-zero when any check failed."""
import atexit
import glob
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.environ.get("MNIST_BIN") or os.path.join(ROOT, "build", "mnist")
_failed = 0


def check(ok, name):
    """Report one check; returns ok."""
    global _failed
    print(("PASS " if ok else "FAIL ") + name, flush=True)
    _failed += not ok
    return ok


def temp_dir(prefix):
    """A new temporary folder, removed when the test exits (an interrupt too: Ctrl-C, or tests/run.sh's SIGINT)."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, tmp, True)
    return tmp


def status():
    """The exit status of a test: 1 when any check failed."""
    return 1 if _failed else 0


def hangup_default():
    """preexec_fn for a program a test sends SIGHUP: SIGHUP at its default there, as a terminal's hangup finds
    it, whatever the suite was started with (nohup make test ignores it, and the program keeps ignoring what it
    was started ignoring). tests/run.sh resets SIGINT for the whole suite."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def shim(tmp, name, *env):
    """The command prefix that runs the program with tests/NAME.c built as an LD_PRELOAD shim (and env, VAR=value
    strings), or None when it does not build. A sanitized build's runtime must come first among the libraries;
    the shim comes before it here."""
    so = os.path.join(tmp, name + ".so")
    p = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", so, os.path.join(ROOT, "tests", name + ".c"), "-ldl"],
                       capture_output=True, text=True)
    if not check(p.returncode == 0, f"the shim {name} builds ({p.stderr.strip()[-200:]})"):
        return None
    asan = os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    return ("env", "LD_PRELOAD=" + so, *env, "ASAN_OPTIONS=" + asan)


def read_pty(master):
    """All that a program wrote to the terminal whose master end is given, until it ended; the end closed."""
    out = b""
    while True:
        try:
            got = os.read(master, 1 << 16)
        except OSError:  # EIO: the program has ended, and its terminal with it
            break
        if not got:
            break
        out += got
    os.close(master)
    return out


def png_chunk(kind, data):
    """A PNG chunk of kind (4 bytes) holding data, its length before and its CRC after."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def docs_text():
    """README.md and the reference in docs/*.md, one text: what a user can read of the program (README gives
    each command's summary, docs/ its details, moved there from README)."""
    files = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    return "\n\n".join(open(f).read() for f in files)
