"""End to end: tracegapd counts HTTP/1 requests of real clients and servers, per process and
direction, with the right trace-context verdict. Exact counts per label set."""
import subprocess
import unittest

import tglib
from tglib import MAL, MALFORMED, REQ, VALID_TP, curl, run_python



# Writes a request's headers in two send() calls, 50 ms apart, then reads the response.
SPLIT_WRITER = r"""
import socket, sys, time
port, tp = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /split HTTP/1.1\r\nHost: localhost\r\n")
time.sleep(0.05)
s.sendall(b"traceparent: " + tp.encode() + b"\r\nConnection: close\r\n\r\n")
while s.recv(4096):
    pass
"""

# A byte-by-byte writer: the kernel sees 1-byte sends.
BYTE_WRITER = r"""
import socket, sys
port, tp = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
req = b"GET /bytes HTTP/1.1\r\nHost: localhost\r\ntraceparent: " + tp.encode() + b"\r\nConnection: close\r\n\r\n"
for i in range(len(req)):
    s.send(req[i:i+1])
while s.recv(4096):
    pass
"""

# Python's own client library: urllib with a traceparent, then http.client POSTing a body.
URLLIB_CLIENT = r"""
import http.client, sys, urllib.request
port, tp = int(sys.argv[1]), sys.argv[2]
for _ in range(2):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/u", headers={"traceparent": tp})
    urllib.request.urlopen(req).read()
c = http.client.HTTPConnection("127.0.0.1", port)
c.request("POST", "/p?secret=1", body=b"x" * 100, headers={"Content-Type": "text/plain"})
c.getresponse().read()
"""

# A python3 HTTP server (ThreadingHTTPServer) answering GET and POST.
PY_SERVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _reply(self):
        n = int(self.headers.get("Content-Length", 0))
        if n: self.rfile.read(n)
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    do_GET = do_POST = _reply
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

# One connection, served with a peek first (MSG_PEEK: the bytes are read again, and counted once),
# then recvmsg; the answer goes out with sendmsg of two iovecs. Prints "ok" when done.
PEEKING_SERVER = r"""
import socket, sys
srv = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
conn, _ = srv.accept()
import time
while b"\r\n\r\n" not in conn.recv(65536, socket.MSG_PEEK):  # the whole request, peeked
    time.sleep(0.01)
data = b""
while b"\r\n\r\n" not in data:
    data += conn.recvmsg(65536)[0]
conn.sendmsg([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", b"Connection: close\r\n\r\nok"])
conn.close()
print("ok", flush=True)
"""

# The client side: the request in one sendmsg of three iovecs.
IOVEC_CLIENT = r"""
import socket, sys
port, tp = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.sendmsg([b"GET /iov HTTP/1.1\r\nHost: localhost\r\n", b"traceparent: " + tp.encode() + b"\r\n",
           b"Connection: close\r\n\r\n"])
while s.recv(4096):
    pass
"""


class Http1Capture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = tglib.Daemon().__enter__()
        cls.nginx = tglib.Nginx().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.nginx.__exit__(None, None, None)
        cls.daemon.__exit__(None, None, None)
        assert cls.daemon.exit_code == 0, f"tracegapd exited {cls.daemon.exit_code}"

    def url(self, host="127.0.0.1", path="/"):
        return f"http://{host}:{self.nginx.port}{path}"

    def counts(self, before, after, comm, direction):
        return {ctx: after.delta(before, REQ, comm=comm, direction=direction, context=ctx, protocol="http1")
                for ctx in ("valid", "missing", "malformed", "unknown")}

    def test_curl_to_nginx_ipv4_and_ipv6(self):
        before = self.daemon.scrape()
        for host in ("127.0.0.1", "[::1]"):
            extra = ("-g",) if host.startswith("[") else ()
            for _ in range(3):
                curl(self.url(host), f"traceparent: {VALID_TP}", extra=extra)
            for _ in range(2):
                curl(self.url(host), extra=extra)
            for tp, _ in MALFORMED:
                curl(self.url(host), f"traceparent: {tp}", extra=extra)
            # Two traceparent fields: invalid as a whole.
            curl(self.url(host), f"traceparent: {VALID_TP}", f"traceparent: {VALID_TP}", extra=extra)
        want = {"valid": 6, "missing": 4, "malformed": 2 * (len(MALFORMED) + 1), "unknown": 0}
        after = self.daemon.wait_for(
            lambda m: self.counts(before, m, tglib.Nginx.COMM, "inbound") == want
            and self.counts(before, m, "curl", "outbound") == want)
        self.assertEqual(self.counts(before, after, "curl", "outbound"), want)
        self.assertEqual(self.counts(before, after, tglib.Nginx.COMM, "inbound"), want)
        for direction, comm in (("outbound", "curl"), ("inbound", tglib.Nginx.COMM)):
            for _, reason in MALFORMED:
                self.assertEqual(after.delta(before, MAL, comm=comm, direction=direction,
                                             header="traceparent", reason=reason), 2, reason)
            self.assertEqual(after.delta(before, MAL, comm=comm, direction=direction,
                                         header="traceparent", reason="duplicate"), 2)

    def test_body_text_is_never_parsed_as_headers(self):
        before = self.daemon.scrape()
        body = f"traceparent: {VALID_TP}\r\n\r\nGET / HTTP/1.1\r\ntraceparent: {VALID_TP}\r\n\r\n"
        for _ in range(3):
            curl(self.url(path="/post"), "Content-Type: text/plain", data=body)
        want = {"valid": 0, "missing": 3, "malformed": 0, "unknown": 0}
        after = self.daemon.wait_for(lambda m: self.counts(before, m, tglib.Nginx.COMM, "inbound") == want)
        self.assertEqual(self.counts(before, after, "curl", "outbound"), want)
        self.assertEqual(self.counts(before, after, tglib.Nginx.COMM, "inbound"), want)

    def test_headers_split_over_syscalls(self):
        before = self.daemon.scrape()
        run_python(SPLIT_WRITER, self.nginx.port, VALID_TP)
        run_python(BYTE_WRITER, self.nginx.port, VALID_TP)
        want = {"valid": 2, "missing": 0, "malformed": 0, "unknown": 0}
        after = self.daemon.wait_for(lambda m: self.counts(before, m, tglib.Nginx.COMM, "inbound") == want)
        self.assertEqual(self.counts(before, after, "python3", "outbound"), want)
        self.assertEqual(self.counts(before, after, tglib.Nginx.COMM, "inbound"), want)

    def test_python_client_and_server(self):
        port = tglib.free_port()
        server = subprocess.Popen([tglib.PYTHON, "-c", PY_SERVER, str(port)])
        try:
            tglib.wait_port(port)
            before = self.daemon.scrape()
            run_python(URLLIB_CLIENT, port, VALID_TP)
            want = {"valid": 2, "missing": 1, "malformed": 0, "unknown": 0}
            after = self.daemon.wait_for(lambda m: self.counts(before, m, "python3", "inbound") == want)
            self.assertEqual(self.counts(before, after, "python3", "inbound"), want)
            self.assertEqual(self.counts(before, after, "python3", "outbound"), want)
        finally:
            server.terminate()
            server.wait()

    def test_peek_then_recvmsg_and_sendmsg_iovecs(self):
        """A peeked request is counted once (when it is read), and requests and responses moved by
        sendmsg/recvmsg with several iovecs are read whole."""
        port = tglib.free_port()
        server = subprocess.Popen([tglib.PYTHON, "-c", PEEKING_SERVER, str(port)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(server.stdout.readline().strip(), "ready")
            before = self.daemon.scrape()
            run_python(IOVEC_CLIENT, port, VALID_TP)
            self.assertEqual(server.stdout.readline().strip(), "ok")
            want = {"valid": 1, "missing": 0, "malformed": 0, "unknown": 0}
            after = self.daemon.wait_for(lambda m: self.counts(before, m, "python3", "inbound") == want
                                         and self.counts(before, m, "python3", "outbound") == want)
            self.assertEqual(self.counts(before, after, "python3", "inbound"), want)
            self.assertEqual(self.counts(before, after, "python3", "outbound"), want)
        finally:
            server.kill()
            server.wait()
            server.stdout.close()

    def test_legacy_and_tracestate(self):
        before = self.daemon.scrape()
        curl(self.url(), "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")
        curl(self.url(), "X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7", "X-B3-SpanId: e457b5a2e4d86bd1")
        curl(self.url(), "uber-trace-id: 5ba2f1a1c0b6e3d4:5ba2f1a1c0b6e3d4:0:1")
        curl(self.url(), "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793")
        curl(self.url(), f"traceparent: {VALID_TP}", "tracestate: Bad Key=1")
        curl(self.url(), "tracestate: rojo=00f067aa0ba902b7")
        LEG = "tracegap_legacy_headers_total"

        def done(m):
            return m.delta(before, LEG, comm=tglib.Nginx.COMM, direction="inbound", format="xray") == 1 and \
                m.delta(before, MAL, comm=tglib.Nginx.COMM, direction="inbound", header="tracestate", reason="orphan") == 1
        after = self.daemon.wait_for(done)
        for direction, comm in (("outbound", "curl"), ("inbound", tglib.Nginx.COMM)):
            self.assertEqual(after.delta(before, LEG, comm=comm, direction=direction, format="b3"), 2)
            self.assertEqual(after.delta(before, LEG, comm=comm, direction=direction, format="jaeger"), 1)
            self.assertEqual(after.delta(before, LEG, comm=comm, direction=direction, format="xray"), 1)
            self.assertEqual(after.delta(before, MAL, comm=comm, direction=direction, header="tracestate",
                                         reason="key"), 1)
            self.assertEqual(after.delta(before, MAL, comm=comm, direction=direction, header="tracestate",
                                         reason="orphan"), 1)
            # A bad tracestate never spoils a valid traceparent.
            self.assertEqual(after.delta(before, REQ, comm=comm, direction=direction, context="valid"), 1)

    def test_metrics_pass_promtool(self):
        curl(self.url(), f"traceparent: {VALID_TP}")
        text = self.daemon.scrape_text()
        r = subprocess.run(["promtool", "check", "metrics"], input=text, text=True, capture_output=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for name in ("tracegap_requests_total", "tracegap_kernel_drops_total", "tracegap_connections_tracked",
                     "tracegap_build_info"):
            self.assertIn(name, text)
        m = self.daemon.scrape()
        self.assertEqual(m.get("tracegap_kernel_drops_total"), 0, "no kernel drops at this load")


if __name__ == "__main__":
    tglib.main()
