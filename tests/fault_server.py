"""fault_server.py: an HTTP server on 127.0.0.1 for test_fetch, serving the folder given as its
argument, with faults chosen by the first part of the path:

  /ok/PATH     the file, or 404
  /slow/PATH   the file after 0.2 s (two fetches at once overlap)
  /cut/PATH    headers announce the whole file, half of it comes, then the connection closes
  /stall/PATH  headers and 4 bytes, then nothing for 60 s

/cut/ and /stall/ serve only the files in FAULTY: test_fetch's tr-img.gz, and the first file that
`mnist fetch` asks for; other files 404 there.

It prints "port N" once it listens, and serves until killed."""
import http.server
import os
import sys
import time

ROOT = os.path.abspath(sys.argv[1])
FAULTY = ("tr-img.gz", "train-images-idx3-ubyte.gz")  # the files that /cut/ and /stall/ spoil


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode, _, rest = self.path.lstrip("/").partition("/")
        path = os.path.normpath(os.path.join(ROOT, rest))
        faulty = mode in ("cut", "stall")
        if (not path.startswith(ROOT + "/") or not os.path.isfile(path) or mode not in ("ok", "slow", "cut", "stall")
                or (faulty and os.path.basename(path) not in FAULTY)):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = open(path, "rb").read()
        if mode == "slow":
            time.sleep(0.2)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
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
        else:
            self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
print("port", srv.server_address[1], flush=True)
srv.serve_forever()
