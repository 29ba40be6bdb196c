"""fault_server.py: an HTTP server on 127.0.0.1 for test_fetch, serving the folder given as its
argument, with faults chosen by the first part of the path:

  /ok/PATH     the file, or 404
  /slow/PATH   the file after 0.2 s (two fetches at once overlap)
  /cut/PATH    headers announce the whole file, half of it comes, then the connection closes
  /cutstream/PATH  the same without a length: half the file, then the connection closes
  /stall/PATH  headers and 4 bytes, then nothing for 60 s
  /mute/PATH   nothing at all for 60 s (the connection taken, no answer)
  /trickle/PATH  headers announcing a megabyte, then 200 bytes every 0.1 s (2000 bytes/s, above
               the low-speed limit of 1000) for 30 s
  /big/PATH    another file of 4 MiB, its length announced
  /bigstream/PATH  the same without a length: the body ends when the connection closes
  /noloc/PATH  302 without a Location, and an empty body
  /tofile/PATH  302 to file:///etc/hostname (a scheme a mirror's redirect may not lead to)
  /html/PATH   200 with a web page (a login's, a captive portal's) instead of the file
  /empty/PATH  200 with an empty body

/cut/, /cutstream/, /stall/, /mute/, /trickle/, /big/ and /bigstream/ serve only the files in FAULTY: test_fetch's
tr-img.gz, and the first file that `mnist fetch` asks for; other files 404 there.

It prints "port N" once it listens, and serves until killed."""
import http.server
import os
import sys
import time

ROOT = os.path.abspath(sys.argv[1])
FAULTY = ("tr-img.gz", "train-images-idx3-ubyte.gz")  # the files that /cut/, /stall/ and /trickle/ spoil
FAULTS = ("cut", "cutstream", "stall", "mute", "trickle", "big", "bigstream")
BIG = 4 << 20
TRICKLE_BYTES, TRICKLE_EVERY, TRICKLE_FOR = 200, 0.1, 30


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode, _, rest = self.path.lstrip("/").partition("/")
        path = os.path.normpath(os.path.join(ROOT, rest))
        faulty = mode in FAULTS
        if (not path.startswith(ROOT + "/") or not os.path.isfile(path) or mode not in ("ok", "slow", "noloc", "tofile", "html", "empty", *FAULTS)
                or (faulty and os.path.basename(path) not in FAULTY)):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode in ("noloc", "tofile"):
            self.send_response(302)
            if mode == "tofile":
                self.send_header("Location", "file:///etc/hostname")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode in ("html", "empty"):
            page = b"\n  <!DOCTYPE html><html><body>Sign in to continue</body></html>\n" if mode == "html" else b""
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        body = open(path, "rb").read()
        if mode in ("big", "bigstream"):
            self.send_response(200)
            if mode == "big":
                self.send_header("Content-Length", str(BIG))
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(BIG >> 16):
                    self.wfile.write(b"\1" * (1 << 16))
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should
            self.close_connection = True
            return
        if mode == "mute":
            time.sleep(60)
            self.close_connection = True
            return
        if mode == "cutstream":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if mode == "slow":
            time.sleep(0.2)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(1 << 20 if mode == "trickle" else len(body)))
        self.end_headers()
        if mode == "cut":
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif mode == "stall":
            self.wfile.write(body[:4])
            self.wfile.flush()
            time.sleep(60)
            self.close_connection = True
        elif mode == "trickle":
            try:
                for _ in range(int(TRICKLE_FOR / TRICKLE_EVERY)):
                    self.wfile.write(b"\0" * TRICKLE_BYTES)
                    self.wfile.flush()
                    time.sleep(TRICKLE_EVERY)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should
            self.close_connection = True
        else:
            self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
print("port", srv.server_address[1], flush=True)
srv.serve_forever()
