"""Real services for the end-to-end tests: the OpenTelemetry JS peers under tests/peers, a
thread-per-request Python server, and nghttp2's HTTP/2 server and client."""
import os
import shutil
import subprocess
import tempfile

import tglib

PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers")


def ensure_node_modules():
    have = lambda m: os.path.isdir(os.path.join(PEERS, "node_modules", m))
    if not all(have(m) for m in ("@opentelemetry", "amqplib", "ws", "nats", "kafkajs")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEERS,
                       check=True, stdout=subprocess.DEVNULL)


class NodeService:
    """tests/peers/http-service.js; its comm is "tg-" + name."""

    def __init__(self, name, mode="propagate", downstream=None):
        self.name, self.mode, self.downstream = name, mode, downstream
        self.port = tglib.free_port()

    def __enter__(self):
        cmd = ["node", os.path.join(PEERS, "http-service.js"), "--name", self.name,
               "--port", str(self.port), "--mode", self.mode]
        if self.downstream:
            cmd += ["--downstream", self.downstream]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"{self.name} did not start: {line!r}")
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    @property
    def pid(self):
        return self.proc.pid

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        return False


def node_send(url, count, *args):
    """tests/peers/send.js (comm tg-client): `count` sequential GETs."""
    subprocess.run(["node", os.path.join(PEERS, "send.js"), "--url", url, "--count", str(count), *args],
                   check=True, stdout=subprocess.DEVNULL, timeout=60)


# A thread-per-request server (ThreadingHTTPServer). Each request waits until `batch` requests are
# in flight, then calls the downstream from its own thread. In "crosswire" mode, every other
# request sends the trace id of ANOTHER in-flight request (the classic thread-pool context bug):
# only exact per-thread attribution calls those `restarted`.
PY_THREADED_SERVER = r"""
import ctypes, http.client, http.server, os, sys, threading, secrets
ctypes.CDLL(None).prctl(15, b"tg-pythreads", 0, 0, 0)
port, down_port, mode, batch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
lock = threading.Condition()
seen = []  # every trace of the batch, kept: a thread that wakes late still has others to pick
seq = [0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        tp = self.headers.get("traceparent")
        trace = tp.split("-")[1]
        with lock:
            seq[0] += 1
            me = seq[0]
            seen.append(trace)
            lock.notify_all()
            lock.wait_for(lambda: len(seen) >= batch, timeout=5)
            others = [t for t in seen if t != trace]
        use = trace
        if mode == "crosswire" and me % 2 == 0 and others:
            use = others[0]
        c = http.client.HTTPConnection("127.0.0.1", down_port)
        c.request("GET", "/", headers={"traceparent": f"00-{use}-{secrets.token_hex(8)}-01"})
        c.getresponse().read()
        c.close()
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""

# `n` concurrent clients, each with its own new trace.
PY_CONCURRENT_CLIENT = r"""
import http.client, secrets, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
def one():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", "/", headers={"traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"})
    c.getresponse().read()
ts = [threading.Thread(target=one) for _ in range(n)]
[t.start() for t in ts]
[t.join() for t in ts]
"""


class Nghttpd:
    """nghttpd (nghttp2-server) without TLS on 127.0.0.1:port, serving a one-file directory.
    comm "nghttpd"."""

    def __init__(self):
        self.port = tglib.free_port()
        self.dir = tempfile.mkdtemp(prefix="tg-nghttpd-")

    def __enter__(self):
        with open(os.path.join(self.dir, "index.html"), "w") as f:
            f.write("ok\n")
        self.proc = subprocess.Popen(["nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", self.dir, str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tglib.wait_port(self.port)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def nghttp(url, count, *headers):
    """nghttp (nghttp2-client, comm "nghttp"): one connection with HTTP/2 prior knowledge, `count`
    requests for `url` (concurrent streams on that connection), each with `headers`. Returns its
    pid."""
    cmd = ["nghttp", "-n", "-t", "10", "-m", str(count)]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    if rc != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {rc}")
    return proc.pid


def build_go_peer(source, name, ldflags=None):
    """Builds tests/peers/go/<source> with Debian's Go and Go libraries (GO111MODULE=off, GOPATH
    /usr/share/gocode) into a temp dir; returns the binary's path, named `name` (its comm).
    ldflags="-s -w" builds it stripped."""
    out = os.path.join(tempfile.mkdtemp(prefix="tg-go-"), name)
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode",
           "GOCACHE": os.path.join(os.path.dirname(out), "cache"), "GOFLAGS": ""}
    flags = ["-ldflags", ldflags] if ldflags else []
    r = subprocess.run(["go", "build", *flags, "-o", out, os.path.join(PEERS, "go", source)], env=env,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"go build {source} failed:\n{r.stderr}")
    return out
