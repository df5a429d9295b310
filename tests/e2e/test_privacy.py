"""End to end, privacy and access: secrets that cross the wire in headers, query strings, URL
userinfo and bodies appear in no output of tracegap (/metrics, every CLI view, its own debug
log); /metrics has only the documented labels; the local API refuses other users; /metrics can
require basic auth; TLS on /metrics is refused where civetweb would crash.

Every client and server here runs under a name of its own (`tgp-*`), so that other traffic on a
shared machine never enters an exact count."""
import base64
import json
import os
import re
import secrets
import ssl
import shutil
import stat
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import tglib
from tglib import VALID_TP

REQ = "tracegap_requests_total"
OUT = "tracegap_outbound_total"

# Every tracegap_* family and its exact label names (README "Metrics", docs/http2.md).
FAMILIES = {
    "tracegap_requests_total": {"direction", "protocol", "context", "tls", "comm", "unit", "workload", "container", "namespace"},
    "tracegap_outbound_total": {"outcome", "protocol", "tls", "comm", "unit", "workload", "container", "namespace"},
    "tracegap_malformed_total": {"direction", "header", "reason", "comm", "unit", "workload", "container", "namespace"},
    "tracegap_legacy_headers_total": {"direction", "format", "comm", "unit", "workload", "container", "namespace"},
    "tracegap_edge_requests_total": {"client", "server", "protocol", "outcome"},
    "tracegap_edges": {"state"},
    "tracegap_edge_requests_folded_total": set(),
    "tracegap_label_sets_reclaimed_total": {"kind"},
    "tracegap_parse_errors_total": {"protocol", "reason"},
    "tracegap_kernel_drops_total": {"reason"},
    "tracegap_connections_tracked": set(),
    "tracegap_hpack_errors_total": {"reason"},
    "tracegap_http2_connections": {"state"},
    "tracegap_build_info": {"version", "attach"},
    "tracegap_capture_info": {"hooks", "build", "http2"},
    "tracegap_capture_degraded": set(),
    "tracegap_connection_upgrades_total": {"to"},
    "tracegap_tracestate_duplicates_total": {"direction"},
    "tracegap_tls_libraries": {"state"},
    "tracegap_tls_attach_failures_total": {"reason"},
    "tracegap_tls_unseen_connections_total": {"reason"},
}
ALLOWED_LABELS = {"direction", "protocol", "context", "comm", "unit", "header", "reason", "format",
                  "outcome", "state", "version", "attach", "hooks", "build", "http2", "to", "tls",
                  "workload", "container", "namespace", "client", "server", "kind"}
# Labels whose values come from fixed sets.
ENUMS = {
    "direction": {"inbound", "outbound"},
    "protocol": {"http1", "http2", "grpc", "ringbuf"},
    "context": {"valid", "missing", "malformed", "unknown"},
    "outcome": {"origin", "untraced_upstream", "propagated", "passthrough", "dropped", "restarted",
                "mangled", "unknown"},
    "header": {"traceparent", "tracestate"},
    "format": {"b3", "jaeger", "xray", "grpc_trace_bin", "sw8"},
    "state": {"synced", "unsynced", "broken", "attached", "failed", "tracked", "limit"},
    "kind": {"process", "edge"},
    "hooks": {"socket", "syscall"},
    "build": {"direct-reads", "probe-reads"},
    "http2": {"on", "off"},
    "tls": {"true", "false"},
}

# A thread-per-request server named tgp-proxy. For each request it receives (whatever its path,
# headers and body) it calls the upstream twice without passing the trace context on (two
# "dropped" gaps), each time carrying secrets of its own: a POST with a query token, an
# Authorization, a Cookie, a custom header and a body; and an absolute-form GET whose URL has
# userinfo and a query token. argv: port, upstream port, then the secrets.
PROXY = r"""
import ctypes, http.client, http.server, socket, sys
ctypes.CDLL(None).prctl(15, b"tgp-proxy", 0, 0, 0)
port, up = int(sys.argv[1]), int(sys.argv[2])
s_query, s_auth, s_cookie, s_custom, s_body, s_user = sys.argv[3:9]
def call_upstream():
    c = http.client.HTTPConnection("127.0.0.1", up, timeout=10)
    c.request("POST", "/up?token=" + s_query, body=s_body.encode(),
              headers={"Authorization": "Bearer " + s_auth, "Cookie": "session=" + s_cookie,
                       "X-Api-Key": s_custom, "Content-Type": "text/plain"})
    c.getresponse().read()
    c.close()
    s = socket.create_connection(("127.0.0.1", up))
    s.sendall(("GET http://alice:%s@127.0.0.1:%d/abs?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Connection: close\r\n\r\n" % (s_user, up, s_query)).encode())
    while s.recv(4096):
        pass
    s.close()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        call_upstream()
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""

# A client named tgp-client: 3 POSTs to the proxy with a valid traceparent and every kind of
# secret, then 2 GETs straight to the upstream with secrets and no context.
# argv: proxy port, upstream port, traceparent, then the secrets.
CLIENT = r"""
import ctypes, http.client, sys
ctypes.CDLL(None).prctl(15, b"tgp-client", 0, 0, 0)
proxy, up, tp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s_query, s_basic, s_cookie, s_custom, s_body, s_state = sys.argv[4:10]
for port, n, traced in ((proxy, 3, True), (up, 2, False)):
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": "Basic " + s_basic, "Cookie": "sid=" + s_cookie,
                   "X-Custom-Secret": s_custom, "Content-Type": "text/plain"}
        if traced:
            headers.update({"traceparent": tp, "tracestate": "congo=" + s_state})
        c.request("POST", "/in?token=" + s_query + "&user=alice", body=s_body.encode(), headers=headers)
        c.getresponse().read()
        c.close()
"""


# ------------------------------------------------------------------------------------------------
# Helpers

def cli(socket_path, *args, user=None):
    cmd = [tglib.TRACEGAP, "--socket", socket_path, *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20)


def cli_ok(socket_path, *args):
    r = cli(socket_path, *args)
    if r.returncode != 0:
        raise AssertionError(f"tracegap {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r.stdout


def contexts(before, after, comm, direction):
    return {c: int(after.delta(before, REQ, comm=comm, direction=direction, context=c))
            for c in ("valid", "missing", "malformed", "unknown")}


def samples(text):
    """(name, {label: value}) of every sample line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = tglib._LINE.match(line)
        assert m, f"unparsable metrics line: {line!r}"
        out.append((m.group(1), dict(tglib._LABEL.findall(m.group(3) or ""))))
    return out


def secret(kind):
    return f"tgsecret-{kind}-{secrets.token_hex(6)}"


class AuthDaemon(tglib.Daemon):
    """tglib.Daemon whose own scrapes send basic auth credentials."""

    def __init__(self, user, password, *args):
        super().__init__(*args)
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def scrape_text(self):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/metrics",
                                     headers={"Authorization": self.auth})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read().decode()


def scrape_status(port, auth=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), dict(e.headers)


def run_daemon(*args, timeout=15):
    return subprocess.run([tglib.TRACEGAPD, *args], capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------------------------------------

class Privacy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = tglib.Daemon("--log-level", "debug").__enter__()
        cls.upstream = tglib.Nginx(comm="tgp-nginx", worker_connections=256).__enter__()
        cls.secrets = {k: secret(k) for k in ("query", "auth", "cookie", "custom", "body", "user",
                                               "basic", "state", "cquery", "ccookie", "ccustom", "cbody")}
        # The client's Authorization is Basic: what crosses the wire is the base64 form.
        cls.basic = base64.b64encode(f"alice:{cls.secrets['basic']}".encode()).decode()
        s = cls.secrets
        port = tglib.free_port()
        cls.proxy = subprocess.Popen([tglib.PYTHON, "-c", PROXY, str(port), str(cls.upstream.port),
                                      s["query"], s["auth"], s["cookie"], s["custom"], s["body"], s["user"]])
        tglib.wait_port(port)
        cls.before = cls.daemon.scrape()
        cls.client = subprocess.Popen([tglib.PYTHON, "-c", CLIENT, str(port), str(cls.upstream.port), VALID_TP,
                                       s["cquery"], cls.basic, s["ccookie"], s["ccustom"], s["cbody"], s["state"]])
        assert cls.client.wait(timeout=60) == 0, "the client failed"

    @classmethod
    def tearDownClass(cls):
        cls.proxy.terminate()
        cls.proxy.wait()
        cls.upstream.__exit__(None, None, None)
        cls.daemon.__exit__(None, None, None)

    def forbidden(self):
        """Every secret as it crossed the wire, plus forms that would betray a query string."""
        return [*self.secrets.values(), self.basic, "token=", "user=alice", "alice:"]

    def test_secrets_appear_in_no_output(self):
        d = self.daemon
        after = d.wait_for(lambda m: m.delta(self.before, OUT, comm="tgp-proxy", outcome="dropped") == 6
                           and contexts(self.before, m, "tgp-nginx", "inbound")["missing"] == 8)
        # The traffic really happened, and was seen as expected.
        self.assertEqual(contexts(self.before, after, "tgp-client", "outbound"),
                         {"valid": 3, "missing": 2, "malformed": 0, "unknown": 0})
        self.assertEqual(contexts(self.before, after, "tgp-proxy", "inbound"),
                         {"valid": 3, "missing": 0, "malformed": 0, "unknown": 0})
        self.assertEqual(after.delta(self.before, OUT, comm="tgp-proxy", outcome="dropped"), 6)
        self.assertEqual(contexts(self.before, after, "tgp-nginx", "inbound"),
                         {"valid": 0, "missing": 8, "malformed": 0, "unknown": 0})

        listed = json.loads(cli_ok(d.api_socket, "processes", "--all", "--json"))["processes"]
        nginx_pids = [p["pid"] for p in listed if p["comm"] == "tgp-nginx"]
        self.assertEqual(len(nginx_pids), 1, listed)
        outputs = {
            "/metrics": d.scrape_text(),
            "processes --all --json": cli_ok(d.api_socket, "processes", "--all", "--json"),
            "processes --all": cli_ok(d.api_socket, "processes", "--all"),
            "status --json": cli_ok(d.api_socket, "status", "--json"),
            "status": cli_ok(d.api_socket, "status"),
        }
        for name, pid in (("client", self.client.pid), ("proxy", self.proxy.pid), ("nginx", nginx_pids[0])):
            outputs[f"process {name} --json"] = cli_ok(d.api_socket, "process", str(pid), "--json")
            outputs[f"process {name}"] = cli_ok(d.api_socket, "process", str(pid))
        outputs["tracegapd --log-level debug log"] = d.output()
        # The outputs do describe this traffic (so that finding no secret in them means something).
        self.assertIn("comm=tgp-client", outputs["tracegapd --log-level debug log"])
        self.assertIn("comm=tgp-proxy", outputs["tracegapd --log-level debug log"])
        for name in ("/metrics", "processes --all --json", "processes --all"):
            self.assertIn("tgp-proxy", outputs[name])
        self.assertIn("/abs", outputs["process proxy"])
        for name, text in outputs.items():
            for needle in self.forbidden():
                with self.subTest(output=name, secret=needle):
                    self.assertNotIn(needle, text)

        # The gap examples say where the context was lost, without the query or userinfo.
        proxy = json.loads(outputs["process proxy --json"])
        self.assertEqual(proxy["outbound"]["dropped"], 6)
        examples = proxy["gap_examples"]
        self.assertEqual(len(examples), 6)
        self.assertEqual(sorted(e["path"] for e in examples), ["/abs"] * 3 + ["/up"] * 3)
        for e in examples:
            self.assertEqual(e["outcome"], "dropped")
            self.assertNotIn("?", e["path"])
            self.assertNotIn("@", e["authority"])
            self.assertEqual(e["authority"], f"127.0.0.1:{self.upstream.port}")
            # The inbound trace id is the one thing a gap example carries from the headers.
            self.assertEqual(e["inbound_trace_ids"], [VALID_TP.split("-")[1]])

    def test_metrics_labels_are_the_documented_set(self):
        # Malformed and legacy context and a parse error, so that every labelled family has samples
        # (against a server of its own: the other tests count the upstream's requests).
        with tglib.Nginx(comm="tgp-labels", worker_connections=256) as server:
            curl = tglib.named("curl", "tgp-curl")
            for headers in ([f"traceparent: {VALID_TP.upper()}"],
                            ["b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"],
                            [f"traceparent: {VALID_TP}", "tracestate: Bad Key=1"]):
                cmd = [curl, "-sS", "-o", "/dev/null", "--max-time", "10"]
                for h in headers:
                    cmd += ["-H", h]
                subprocess.run(cmd + [f"http://127.0.0.1:{server.port}/labels?token={self.secrets['query']}"],
                               check=True)
            tglib.run_python("import socket,sys\ns=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
                             "s.sendall(b'GET /\\x01 HTTP/1.1\\r\\n\\r\\n'); s.close()", server.port)
            m = self.daemon.wait_for(lambda m: m.get("tracegap_malformed_total", comm="tgp-curl") >= 2
                                     and m.get("tracegap_legacy_headers_total", comm="tgp-curl") >= 1
                                     and m.get("tracegap_parse_errors_total", reason="bad_target") >= 1)
        self.assertGreaterEqual(m.get("tracegap_malformed_total", comm="tgp-curl"), 2)
        self.assertGreaterEqual(m.get("tracegap_parse_errors_total", reason="bad_target"), 1)
        text = self.daemon.scrape_text()
        seen = set()
        for name, labels in samples(text):
            if not name.startswith("tracegap_"):
                self.assertTrue(name.startswith("exposer_"), name)  # prometheus-cpp's own
                continue
            seen.add(name)
            with self.subTest(sample=f"{name}{labels}"):
                self.assertIn(name, FAMILIES, "an undocumented metric family")
                self.assertEqual(set(labels), FAMILIES[name])
                self.assertLessEqual(set(labels), ALLOWED_LABELS)
                for label, value in labels.items():
                    if label in ENUMS:
                        self.assertIn(value, ENUMS[label])
                    self.assertIsNone(re.search(r"[0-9a-fA-F]{16}", value), "a trace or span id as a label")
                    self.assertFalse(value.startswith("/") or "?" in value or "=" in value or "@" in value,
                                     "a path, query or credential as a label")
                    if label == "comm":
                        self.assertLessEqual(len(value), 15)
                    for needle in self.forbidden():
                        self.assertNotIn(needle, value)
        self.assertEqual(seen, set(FAMILIES), "every documented family is exported")
        # Every kernel-side failure reason is there from the start, so that alerts see it.
        reasons = {labels["reason"] for name, labels in samples(text) if name == "tracegap_kernel_drops_total"}
        self.assertEqual(reasons, {"ringbuf_full", "read_user_failed", "conn_map_full", "stash_map_full",
                                   "iov_limit", "unread_call", "tls_unmapped"})

    def test_api_refuses_other_users(self):
        sock = self.daemon.api_socket
        st = os.stat(sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, 0)
        # The socket's mode keeps nobody out...
        r = cli(sock, "processes", user="nobody")
        tglib.assert_one_line(self, r, 3, "permission denied")
        # ...and so does the daemon's peer check when the file is opened up by mistake.
        parent = os.path.dirname(sock)
        parent_mode = stat.S_IMODE(os.stat(parent).st_mode)
        try:
            os.chmod(parent, 0o755)
            os.chmod(sock, 0o666)
            for args in (["processes"], ["status", "--json"], ["process", str(self.proxy.pid), "--json"]):
                with self.subTest(args=args):
                    r = cli(sock, *args, user="nobody")
                    tglib.assert_one_line(self, r, 3, "permission denied")
                    self.assertEqual(r.stdout, "")
        finally:
            os.chmod(sock, 0o600)
            os.chmod(parent, parent_mode)
        deadline = time.monotonic() + 5
        while "refusing a client: uid 65534" not in self.daemon.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn("refusing a client: uid 65534", self.daemon.output())
        self.assertEqual(cli(sock, "status").returncode, 0, "root is still served")


class MetricsAccess(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tg-privacy-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def credentials(self, content, mode, name="auth"):
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, content.encode())
        os.close(fd)
        os.chmod(path, mode)
        return path

    def test_listens_on_localhost_by_default(self):
        r = run_daemon("--help")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"--listen ADDR:PORT \(=127\.0\.0\.1:9477\)")

    def test_basic_auth(self):
        password = secrets.token_urlsafe(18)
        path = self.credentials(f"prom:{password}\n", 0o600)
        with AuthDaemon("prom", password, "--metrics-basic-auth", path, "--log-level", "debug") as d:
            code, _, headers = scrape_status(d.port)
            self.assertEqual(code, 401)
            self.assertIn("Basic", headers.get("WWW-Authenticate", ""))
            wrong = "Basic " + base64.b64encode(b"prom:not-the-password").decode()
            self.assertEqual(scrape_status(d.port, wrong)[0], 401)
            other_user = "Basic " + base64.b64encode(f"root:{password}".encode()).decode()
            self.assertEqual(scrape_status(d.port, other_user)[0], 401)
            code, body, _ = scrape_status(d.port, d.auth)
            self.assertEqual(code, 200)
            self.assertIn("tracegap_build_info", body)
            self.assertNotIn(password, d.output())
            self.assertNotIn(d.auth.split()[1], d.output())

    def test_basic_auth_file_must_be_private_and_well_formed(self):
        cases = [
            (self.credentials("prom:pw\n", 0o640, "group-readable"), "readable by group or others"),
            (self.credentials("prom:pw\n", 0o604, "world-readable"), "readable by group or others"),
            (self.credentials("no colon here\n", 0o600, "malformed"), "user:password"),
            (self.credentials("", 0o600, "empty"), "cannot read"),
        ]
        for path, needle in cases:
            with self.subTest(path=os.path.basename(path)):
                r = run_daemon("--metrics-basic-auth", path, "--listen", f"127.0.0.1:{tglib.free_port()}",
                               "--api-socket", os.path.join(self.dir, "api.sock"))
                tglib.assert_one_line(self, r, 2, "--metrics-basic-auth", path, needle)
                self.assertNotIn("pw", r.stderr.replace(path, ""))

    def make_pem(self):
        pem = os.path.join(self.dir, "metrics.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", pem, "-out", pem], check=True, capture_output=True)
        os.chmod(pem, 0o600)
        return pem

    def test_tls_with_basic_auth(self):
        """HTTPS on /metrics through civetweb, on Debian 12's OpenSSL 3 (with tracegap's stand-in
        libssl.so, see daemon/export/tls_shim/), together with basic auth; checked with curl and Python."""
        pem = self.make_pem()
        password = secrets.token_urlsafe(18)
        auth = self.credentials(f"prom:{password}\n", 0o600)
        port = tglib.free_port()
        d = subprocess.Popen([tglib.TRACEGAPD, "--metrics-tls-cert", pem, "--metrics-basic-auth", auth,
                              "--listen", f"127.0.0.1:{port}", "--api-socket", os.path.join(self.dir, "api.sock")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            url = f"https://127.0.0.1:{port}/metrics"
            deadline = time.monotonic() + 30
            while True:
                r = subprocess.run(["curl", "-sS", "--cacert", pem, "-u", f"prom:{password}", url],
                                   capture_output=True, text=True, timeout=10)
                if r.returncode == 0 or d.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertIsNone(d.poll(), "tracegapd exited")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("tracegap_build_info", r.stdout)
            # Without credentials: 401 over TLS. Plain HTTP on the TLS port: no answer.
            r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", pem, url],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.stdout, "401")
            r = subprocess.run(["curl", "-sS", "--max-time", "5", f"http://127.0.0.1:{port}/metrics"],
                               capture_output=True, text=True, timeout=10)
            self.assertNotEqual(r.returncode, 0)
            self.assertNotIn("tracegap_build_info", r.stdout)
            # Python's TLS client, verifying the certificate.
            ctx = ssl.create_default_context(cafile=pem)
            req = urllib.request.Request(url, headers={
                "Authorization": "Basic " + base64.b64encode(f"prom:{password}".encode()).decode()})
            with urllib.request.urlopen(req, timeout=5, context=ctx) as resp:
                self.assertEqual(resp.status, 200)
                self.assertIn("tracegap_build_info", resp.read().decode())
            self.assertIsNone(d.poll(), "tracegapd exited")
        finally:
            d.terminate()
            out, _ = d.communicate(timeout=10)
        self.assertEqual(d.returncode, 0, out)
        self.assertNotIn(password, out)

    def test_tls_with_a_bad_pem_exits_with_the_reason(self):
        pem = os.path.join(self.dir, "bad.pem")
        with open(pem, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        os.chmod(pem, 0o600)
        r = run_daemon("--metrics-tls-cert", pem, "--listen", f"127.0.0.1:{tglib.free_port()}",
                       "--api-socket", os.path.join(self.dir, "api.sock"))
        tglib.assert_one_line(self, r, 8, "--metrics-tls-cert", pem)

if __name__ == "__main__":
    tglib.main()
