"""serve.py: `make bench-serve`. A real HTTP load on `mnist serve` over loopback: wrk (Debian's
package) with C connections for D seconds, each request a POST of an image of a digit, the whole
answer (digit, probabilities, the 784 inputs) read back. Prints, per kind of request, predictions
per second, latency percentiles and errors, and the server's resident memory after a warm-up and
after each run (flat means no leak).

usage: bench/serve.py [--connections C] [--seconds D] [--wrk-threads T] [--threads N] [--only png] [--close]
                      [--idle N]

--close: each request on a connection of its own (wrk sends Connection: close), what a server pays to take
a connection counted in. --idle N: N more connections held open, idle, meanwhile (from 127.0.0.2 to
127.0.0.201, the server's --connections 4095), as many clients that keep theirs.

The model is the lab's network (784-1024-1024-10) as initialised: the arithmetic of a prediction
does not depend on the weights. Other work on the machine shows in the numbers: the load average
before each run is printed beside it.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import digit_png  # noqa: E402

MNIST = os.environ.get("MNIST_BIN") or os.path.join(ROOT, "build", "mnist")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(model, prep, threads, idle):
    cmd = [MNIST, "serve", "--model", model, "--port", "0", "--preprocess", prep]
    if threads:
        cmd += ["--threads", str(threads)]
    if idle:
        cmd += ["--connections", "4095", "--timeout", "3600"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if "http://" not in line:
        sys.exit(f"bench-serve: mnist serve did not start: {line}")
    return p, line.split("http://")[1].split("/")[0], line.split("(")[1].split(" ")[0]


def hold(hostport, n):
    """n connections to the server, from 127.0.0.2 to 127.0.0.201 in turn, opened and left idle."""
    host, port = hostport.rsplit(":", 1)
    return [socket.create_connection((host, int(port)), source_address=(f"127.0.0.{2 + i % 200}", 0))
            for i in range(n)]


def wrk(url, body, ctype, a, seconds):
    env = dict(os.environ, BODY=body, TYPE=ctype, **({"CLOSE": "1"} if a.close else {}))
    cmd = ["wrk", f"-t{a.wrk_threads}", f"-c{a.connections}", f"-d{seconds}s", "--timeout", "5s",
           "-s", os.path.join(ROOT, "bench", "serve_post.lua"), url]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = next((l for l in p.stdout.splitlines() if l.startswith("RESULT ")), None)
    if p.returncode != 0 or not line:
        sys.exit(f"bench-serve: wrk failed:\n{p.stdout}{p.stderr}")
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="server threads (default: the server's, one per core, at most 64)")
    ap.add_argument("--only", choices=["png", "png-lab", "pixels"])
    ap.add_argument("--close", action="store_true", help="each request on a connection of its own")
    ap.add_argument("--idle", type=int, default=0, help="connections held open, idle, meanwhile (at most 4000)")
    a = ap.parse_args()
    if not 0 <= a.idle <= 4000:
        sys.exit("bench-serve: --idle must be between 0 and 4000")
    if a.idle:  # the open files of the idle connections and wrk's
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < a.idle + 256:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(a.idle + 256, hard), hard))
    if not shutil.which("wrk"):
        sys.exit("bench-serve: wrk not found: install it with 'apt-get install wrk'")

    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "lab.safetensors")
        p = subprocess.run([MNIST, "train", "--epochs", "0", "--save", model], capture_output=True, text=True)
        if p.returncode:
            sys.exit(f"bench-serve: making the model: {p.stderr}")
        png = os.path.join(tmp, "digit.png")
        digit_png.write(png, 0)  # a 7, 280x280 gray, as the page sends a drawing
        pixels = os.path.join(tmp, "pixels.json")

        kinds = [("png", "mnist", png, "image/png", "PNG 280x280, --preprocess mnist (the page's drawings)"),
                 ("png-lab", "lab", png, "image/png", "PNG 280x280, --preprocess lab"),
                 ("pixels", "mnist", pixels, "application/json", "JSON {\"pixels\": [784]}")]
        rows = []
        for key, prep, body, ctype, what in kinds:
            if a.only and key != a.only:
                continue
            proc, hostport, threads = start(model, prep, a.threads, a.idle)
            url = f"http://{hostport}/api/predict"
            idle = []
            try:
                idle = hold(hostport, a.idle)
                if key == "png" or not os.path.exists(pixels):
                    with open(png, "rb") as f:
                        r = subprocess.run(["curl", "-s", "--data-binary", "@-", "-H", "Content-Type: image/png", url],
                                           input=f.read(), capture_output=True)
                    with open(pixels, "w") as f:
                        json.dump({"pixels": json.loads(r.stdout)["input"]}, f)
                wrk(url, body, ctype, a, 2)  # warm-up
                before = rss_mb(proc.pid)
                load = os.getloadavg()[0]
                cpu0 = cpu_seconds(proc.pid)
                r = wrk(url, body, ctype, a, a.seconds)
                cpu1, mid = cpu_seconds(proc.pid), rss_mb(proc.pid)
                r2 = wrk(url, body, ctype, a, a.seconds)
                cpu2, after = cpu_seconds(proc.pid), rss_mb(proc.pid)
                r["cpu"], r2["cpu"] = cpu1 - cpu0, cpu2 - cpu1
            finally:
                for s in idle:
                    s.close()
                proc.send_signal(signal.SIGINT)
                proc.wait()
            for res, load_now, rss in ((r, load, mid), (r2, None, after)):
                errors = int(res["connect"] + res["read"] + res["write"] + res["status"] + res["timeout"])
                rows.append((what, res["requests"] / res["seconds"], res["p50"], res["p90"], res["p99"], res["p999"],
                             errors, int(res["requests"]), 1e3 * res["cpu"] / max(1, res["requests"]), before, rss,
                             load_now))
    print(f"mnist serve under wrk: {a.connections} connections{', a new one for each request' if a.close else ''}, "
          f"{a.seconds} s a run, two runs a kind, {a.wrk_threads} wrk thread(s), server threads {threads}"
          f"{f', {a.idle} more connections idle' if a.idle else ''}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average before each kind's first run in the last column")
    print("server CPU ms/request: the server's user + system CPU time over the run, per request (what a")
    print("prediction costs whatever else the machine is doing; 1000 / it is one core's capacity)")
    print()
    print(f"| request | predictions/s | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | requests | "
          f"server CPU ms/request | RSS after warm-up MB | RSS after run MB | load |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for what, rps, p50, p90, p99, p999, errors, n, cpu, before, rss, load in rows:
        print(f"| {what} | {rps:.0f} | {p50:.2f} | {p90:.2f} | {p99:.2f} | {p999:.2f} | {errors} | {n} | {cpu:.3f} | "
              f"{before:.1f} | {rss:.1f} | {'' if load is None else f'{load:.2f}'} |")


if __name__ == "__main__":
    main()
