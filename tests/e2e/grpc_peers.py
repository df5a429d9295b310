"""gRPC peers for the end-to-end tests.

* The OpenTelemetry JS peers tests/peers/grpc-service.js (a @grpc/grpc-js server instrumented with
  @opentelemetry/instrumentation-grpc, optionally calling one downstream) and tests/peers/grpc-send.js
  (a grpc-js client: N calls on one channel): GrpcNodeService and grpc_send().
* A python3-grpcio (gRPC C-core) server and client, as scripts run with /usr/bin/python3 (Debian's
  python3-grpcio): generic handlers with raw-bytes (de)serializers, so no protoc and no generated
  code. C-core encodes application metadata such as `traceparent` as HPACK literals WITHOUT
  indexing and WITHOUT Huffman coding, which is a different encoding path from grpc-js/nghttp2
  (incremental indexing, Huffman). Both use the method /tracegap.test.Echo/Echo, like echo.proto.
"""
import json
import os
import subprocess

import tglib

PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers")


# ------------------------------------------------------------------------------------------------
# OpenTelemetry JS (grpc-js) peers

class GrpcNodeService:
    """tests/peers/grpc-service.js; its comm is "tg-" + name. `downstream` is "HOST:PORT"."""

    def __init__(self, name, mode="propagate", downstream=None, port=None):
        self.name, self.mode, self.downstream = name, mode, downstream
        self.port = port or tglib.free_port()

    def __enter__(self):
        cmd = ["node", os.path.join(PEERS, "grpc-service.js"), "--name", self.name,
               "--port", str(self.port), "--mode", self.mode]
        if self.downstream:
            cmd += ["--downstream", self.downstream]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"grpc-service {self.name} did not start: {line!r}")
        return self

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        return False


def grpc_send(target, count, *args, timeout=120):
    """tests/peers/grpc-send.js (comm tg-grpc-client): `count` sequential unary calls on one
    channel. Returns its JSON summary; raises if any call failed."""
    r = subprocess.run(["node", os.path.join(PEERS, "grpc-send.js"), "--target", target,
                        "--count", str(count), *args],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"grpc-send exited {r.returncode}: {r.stdout[-2000:]} {r.stderr[-2000:]}")
    return json.loads(r.stdout)


# ------------------------------------------------------------------------------------------------
# python3-grpcio (C-core) peers

# argv: PORT. Prints "ready" once serving. Replies to /tracegap.test.Echo/Echo with JSON bytes
# {"name", "pid", "received_traceparent" (null if none), "message"}. Exits 0 on SIGTERM.
PY_GRPC_SERVER = r"""
import ctypes, json, os, signal, sys, threading
from concurrent import futures
ctypes.CDLL(None).prctl(15, b"tg-pygrpc-srv", 0, 0, 0)  # PR_SET_NAME: the process comm
import grpc

port = int(sys.argv[1])

def echo(request, context):
    tps = [v for k, v in context.invocation_metadata() if k == "traceparent"]
    return json.dumps({"name": "pygrpc-srv", "pid": os.getpid(),
                       "received_traceparent": tps[0] if tps else None,
                       "message": request.decode("utf-8", "replace")}).encode()

# No serializers: requests and replies are raw bytes.
handler = grpc.method_handlers_generic_handler(
    "tracegap.test.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
if server.add_insecure_port(f"127.0.0.1:{port}") != port:
    sys.exit(f"pygrpc-srv: cannot listen on 127.0.0.1:{port}")
server.start()
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
signal.signal(signal.SIGINT, lambda *a: stop.set())
print("ready", flush=True)
while not stop.wait(1):
    pass
server.stop(0).wait(5)
"""

# argv: PORT WITH WITHOUT [AFTER]. On ONE channel: WITH calls, each with a fresh valid traceparent,
# then WITHOUT calls with no traceparent. Then it prints one JSON line
# {"ok", "failed", "errors", "traceparents_sent", "received"} (received: the server's
# received_traceparent for each call) and exits, 0 if every call succeeded.
# With AFTER (a number, >= 0), it prints "waiting" after the first calls instead, blocks until a
# line arrives on stdin, makes AFTER more calls with a fresh valid traceparent on the SAME channel
# (the same HTTP/2 connection), prints the JSON line (covering all calls), and keeps the channel
# open until stdin reaches end-of-file; then it exits.
PY_GRPC_CLIENT = r"""
import ctypes, json, secrets, sys
ctypes.CDLL(None).prctl(15, b"tg-pygrpc-cli", 0, 0, 0)  # PR_SET_NAME: the process comm
import grpc

port, n_with, n_without = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
n_after = int(sys.argv[4]) if len(sys.argv) > 4 else None

def nonzero_hex(n):
    while True:
        h = secrets.token_hex(n)
        if h.strip("0"):
            return h

channel = grpc.insecure_channel(f"127.0.0.1:{port}")
echo = channel.unary_unary("/tracegap.test.Echo/Echo")  # no (de)serializers: raw bytes
summary = {"ok": 0, "failed": 0, "errors": [], "traceparents_sent": [], "received": []}

def call(i, with_tp):
    md = []
    if with_tp:
        tp = f"00-{nonzero_hex(16)}-{nonzero_hex(8)}-01"
        md.append(("traceparent", tp))
        summary["traceparents_sent"].append(tp)
    try:
        reply = json.loads(echo(f"call {i}".encode(), metadata=md, timeout=15))
        summary["ok"] += 1
        summary["received"].append(reply["received_traceparent"])
    except grpc.RpcError as e:
        summary["failed"] += 1
        summary["errors"].append(f"{e.code()}: {e.details()}")

i = 0
for _ in range(n_with):
    call(i, True); i += 1
for _ in range(n_without):
    call(i, False); i += 1
if n_after is not None:
    print("waiting", flush=True)
    sys.stdin.readline()
    for _ in range(n_after):
        call(i, True); i += 1
print(json.dumps(summary), flush=True)
if n_after is not None:
    sys.stdin.read()  # the connection stays open until the parent closes our stdin
channel.close()
sys.exit(0 if summary["failed"] == 0 else 1)
"""


class PyGrpcServer:
    """PY_GRPC_SERVER on a free port (comm tg-pygrpc-srv)."""

    def __init__(self, port=None):
        self.port = port or tglib.free_port()

    def __enter__(self):
        self.proc = subprocess.Popen([tglib.PYTHON, "-c", PY_GRPC_SERVER, str(self.port)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"python gRPC server did not start: {line!r}")
        return self

    @property
    def pid(self):
        return self.proc.pid

    def __exit__(self, *exc):
        tglib.stop(self.proc)
        self.proc.stdout.close()
        return False


def py_grpc_client(port, with_tp, without_tp, timeout=60):
    """PY_GRPC_CLIENT (comm tg-pygrpc-cli): with_tp calls with a traceparent, then without_tp
    without, on one channel. Returns its JSON summary; raises if any call failed."""
    r = subprocess.run([tglib.PYTHON, "-c", PY_GRPC_CLIENT, str(port), str(with_tp), str(without_tp)],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"python gRPC client exited {r.returncode}: {r.stdout[-2000:]} {r.stderr[-2000:]}")
    return json.loads(r.stdout)


class PyGrpcLongClient:
    """PY_GRPC_CLIENT kept running (comm tg-pygrpc-cli): on entry, `first` calls with a traceparent
    on a new channel, then it waits; resume() makes `after` more calls on the same channel (the same
    HTTP/2 connection) and returns the summary, with the connection still open; leaving the context
    closes it and ends the process."""

    def __init__(self, port, first, after):
        self.port, self.first, self.after = port, first, after

    def __enter__(self):
        self.proc = subprocess.Popen([tglib.PYTHON, "-c", PY_GRPC_CLIENT, str(self.port),
                                      str(self.first), "0", str(self.after)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "waiting":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"python gRPC client did not make its first calls: {line!r}")
        return self

    @property
    def pid(self):
        return self.proc.pid

    def resume(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()  # the calls have 15 s deadlines each
        if not line:
            self.proc.wait(timeout=10)
            raise AssertionError(f"python gRPC client exited {self.proc.returncode} without a summary")
        return json.loads(line)

    def __exit__(self, *exc):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        return False
