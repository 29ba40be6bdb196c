"""testlib.py: what the Python tests share: the program under test, and check().

Each check prints "PASS name" or "FAIL name"; tests/run.sh counts those lines, and a test's exit
status (status()) is non-zero when any check failed."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.environ.get("MNIST_BIN") or os.path.join(ROOT, "build", "mnist")
_failed = 0


def check(ok, name):
    """Report one check; returns ok."""
    global _failed
    print(("PASS " if ok else "FAIL ") + name, flush=True)
    _failed += not ok
    return ok


def status():
    """The exit status of a test: 1 when any check failed."""
    return 1 if _failed else 0
