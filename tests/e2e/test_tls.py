"""End to end: trace context inside TLS (docs/tls.md), with real peers on loopback and
certificates made here.

* curl -> nginx (both over Debian's OpenSSL 3) over HTTPS/1.1 and HTTP/2 (ALPN h2): valid, missing
  and malformed traceparents counted exactly on both ends with tls="true", nothing with
  tls="false", and the ciphertext makes no parse error, HPACK error or unsynced HTTP/2 connection.
* A propagation chain over TLS: curl -> a Python HTTPS service (Debian's python3, ssl module) ->
  nginx over HTTPS; propagate / drop / restart counted exactly, and the gap example says TLS.
* A TLS service started before tracegapd is seen like one started after.
* A Go HTTPS client and server (crypto/tls compiled in), plain and stripped: read once the process
  shows TLS (uprobes at (*Conn).Write/Read and Read's RET instructions), valid and missing exact.
* Node.js with OpenSSL in its own executable: listed by `tracegap status` as unseen, reason
  "static_openssl", counted, and its ciphertext makes no error.
* --tls off: HTTPS is passed over unread, with no error.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import peers
import tglib
from tglib import REQ, OUT, HPACK_ERRORS, deltas

PYTHON = "/usr/bin/python3"  # Debian's: its ssl module links the system libssl.so.3
PARSE_ERRORS = "tracegap_parse_errors_total"
H2_CONNS = "tracegap_http2_connections"
UNSEEN = "tracegap_tls_unseen_connections_total"
VALID = tglib.VALID_TP
MALFORMED = tglib.MALFORMED[0][0]
N_VALID, N_MISSING, N_MALFORMED = 3, 2, 2


class Certs:
    """A self-signed certificate for localhost and 127.0.0.1, made with openssl."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tg-tls-")
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", self.key,
                        "-out", self.cert], check=True, capture_output=True)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def tls_nginx(certs, comm):
    """nginx with an HTTPS (HTTP/1.1 and h2) listener on .tls_port besides its plain one."""
    tls_port = tglib.free_port()
    n = tglib.Nginx(comm=comm, extra=f"""
    listen 127.0.0.1:{tls_port} ssl http2;
    ssl_certificate {certs.cert};
    ssl_certificate_key {certs.key};""")
    n.tls_port = tls_port
    return n


def https(curl_bin, certs, url, *headers, http2=False):
    cmd = [curl_bin, "-sS", "-o", "/dev/null", "--max-time", "10", "--cacert", certs.cert,
           "--http2" if http2 else "--http1.1", "-w", "%{http_version} %{http_code}"]
    for h in headers:
        cmd += ["-H", h]
    r = subprocess.run(cmd + [url], check=True, capture_output=True, text=True)
    return r.stdout


def errors(before, after):
    """Every parse and HPACK error and every unsynced HTTP/2 connection that appeared."""
    out = {}
    for k, v in deltas(before, after, PARSE_ERRORS, ("protocol", "reason")).items():
        out[("parse",) + k] = v
    for k, v in deltas(before, after, HPACK_ERRORS, ("reason",)).items():
        out[("hpack", k)] = v
    unsynced = after.get(H2_CONNS, state="unsynced") - before.get(H2_CONNS, state="unsynced")
    if unsynced > 0:
        out[("http2", "unsynced")] = unsynced
    return out


def by_tls(before, after, comm, direction):
    """{(protocol, context, tls): n} for one comm and direction."""
    return deltas(before, after, REQ, ("protocol", "context", "tls"), comm=comm, direction=direction)


class TlsService:
    """tests/peers/tls_service.py in Debian's python3; comm "tg-" + name."""

    def __init__(self, name, certs, downstream=None, mode="propagate"):
        self.port = tglib.free_port()
        self.url = f"https://127.0.0.1:{self.port}/"
        cmd = [PYTHON, os.path.join(peers.PEERS, "tls_service.py"), "--name", name, "--port",
               str(self.port), "--cert", certs.cert, "--key", certs.key, "--mode", mode]
        if downstream:
            cmd += ["--downstream", downstream, "--cafile", certs.cert]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise AssertionError(f"tls_service {name} did not start: {line!r}")
        self.pid = self.proc.pid

    def maps_libssl(self):
        with open(f"/proc/{self.pid}/maps") as f:
            return "libssl.so.3" in f.read()

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class TlsBase(unittest.TestCase):
    daemon_args = ()

    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise AssertionError("openssl (the command) is needed to make certificates")
        cls.certs = Certs()
        cls.nginx = tls_nginx(cls.certs, "tg-tls-nginx").__enter__()
        # Stopping takes ~55 ms more per uprobe (docs/tls.md: the kernel removes them one at a
        # time): the system libssl's 10 and ~11 per Go program probed here.
        cls.daemon = tglib.Daemon(*cls.daemon_args, stop_timeout=2.0 + 0.06 * 40).__enter__()
        cls.curl = tglib.named("curl", "tg-tls-curl")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)
        cls.nginx.__exit__(None, None, None)
        cls.certs.close()

    def send_matrix(self, url, http2):
        for _ in range(N_VALID):
            self.assertEqual(https(self.curl, self.certs, url, f"traceparent: {VALID}", http2=http2),
                             "2 200" if http2 else "1.1 200")
        for _ in range(N_MISSING):
            https(self.curl, self.certs, url, http2=http2)
        for _ in range(N_MALFORMED):
            https(self.curl, self.certs, url, f"traceparent: {MALFORMED}", http2=http2)


class CurlNginxTls(TlsBase):
    def test_https_http1_and_h2(self):
        url = f"https://127.0.0.1:{self.nginx.tls_port}/"
        n = N_VALID + N_MISSING + N_MALFORMED
        for protocol, http2 in (("http1", False), ("http2", True)):
            with self.subTest(protocol=protocol):
                before = self.daemon.scrape()
                self.send_matrix(url, http2)
                after = self.daemon.wait_for(
                    lambda m: sum(by_tls(before, m, "tg-tls-nginx", "inbound").values()) >= n
                    and sum(by_tls(before, m, "tg-tls-curl", "outbound").values()) >= n)
                time.sleep(0.3)  # anything more (a double count) would show now
                after = self.daemon.scrape()
                want = {(protocol, "valid", "true"): N_VALID, (protocol, "missing", "true"): N_MISSING,
                        (protocol, "malformed", "true"): N_MALFORMED}
                self.assertEqual(by_tls(before, after, "tg-tls-nginx", "inbound"), want)
                self.assertEqual(by_tls(before, after, "tg-tls-curl", "outbound"), want)
                self.assertEqual(deltas(before, after, OUT, ("outcome", "tls"), comm="tg-tls-curl"),
                                 {("origin", "true"): n})
                self.assertEqual(errors(before, after), {})
                self.assertEqual(deltas(before, after, UNSEEN, ("reason",)), {})

    def test_status_lists_the_system_libssl(self):
        tls = self.daemon.status()["tls"]
        self.assertEqual(tls["mode"], "auto")
        self.assertEqual(tls["unavailable"], "")
        attached = [l for l in tls["libraries"] if l["attached"]]
        self.assertTrue(any(l["path"].endswith("libssl.so.3") and l["kind"] == "openssl-3"
                            for l in attached), tls["libraries"])
        m = self.daemon.scrape()
        self.assertGreaterEqual(m.get("tracegap_tls_libraries", state="attached"), 1)


class TlsPropagationChain(TlsBase):
    """curl -> tg-tls-<mode> (Python, HTTPS) -> nginx (HTTPS): the service's outbound outcome."""

    K = 4

    def test_modes(self):
        backend = f"https://localhost:{self.nginx.tls_port}/"
        expected = {"propagate": ("propagated", "valid"), "drop": ("dropped", "missing"),
                    "restart": ("restarted", "valid")}
        for mode, (outcome, backend_context) in expected.items():
            with self.subTest(mode=mode):
                svc = TlsService(mode[:8], self.certs, downstream=backend, mode=mode)
                comm = "tg-" + mode[:8]
                try:
                    self.assertTrue(svc.maps_libssl(), f"{PYTHON} does not map libssl.so.3")
                    before = self.daemon.scrape()
                    for _ in range(self.K):
                        https(self.curl, self.certs, svc.url, f"traceparent: {VALID}")
                    after = self.daemon.wait_for(
                        lambda m: sum(deltas(before, m, OUT, ("outcome",), comm=comm).values()) >= self.K)
                    time.sleep(0.3)
                    after = self.daemon.scrape()
                    self.assertEqual(deltas(before, after, OUT, ("outcome", "protocol", "tls"), comm=comm),
                                     {(outcome, "http1", "true"): self.K})
                    self.assertEqual(by_tls(before, after, comm, "inbound"),
                                     {("http1", "valid", "true"): self.K})
                    self.assertEqual(by_tls(before, after, "tg-tls-nginx", "inbound"),
                                     {("http1", backend_context, "true"): self.K})
                    self.assertEqual(errors(before, after), {})
                    if outcome != "propagated":
                        detail = self.cli_process(svc.pid)
                        self.assertEqual(detail["outbound"][outcome], self.K)
                        self.assertTrue(detail["gap_examples"], detail)
                        self.assertTrue(all(e["tls"] for e in detail["gap_examples"]), detail)
                finally:
                    svc.close()

    def cli_process(self, pid):
        r = subprocess.run([tglib.TRACEGAP, "--socket", self.daemon.api_socket, "process", str(pid),
                            "--json"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)


class TlsServiceStartedBefore(unittest.TestCase):
    """A TLS service already running when tracegapd starts: its new connections are seen."""

    def test_seen(self):
        certs = Certs()
        svc = TlsService("tlsbefore", certs)
        try:
            curl = tglib.named("curl", "tg-tls-curl2")
            with tglib.Daemon() as d:
                before = d.scrape()
                for _ in range(N_VALID):
                    https(curl, certs, svc.url, f"traceparent: {VALID}")
                https(curl, certs, svc.url)
                after = d.wait_for(lambda m: sum(by_tls(before, m, "tg-tlsbefore", "inbound").values()) >= 4)
                self.assertEqual(by_tls(before, after, "tg-tlsbefore", "inbound"),
                                 {("http1", "valid", "true"): N_VALID, ("http1", "missing", "true"): 1})
                self.assertEqual(errors(before, after), {})
        finally:
            svc.close()
            certs.close()


class GoTls(TlsBase):
    """Go's crypto/tls compiled into the binary: probed at (*Conn).Write and (*Conn).Read (past
    the stack check, and Read's RET instructions) once the process shows TLS; found by .symtab,
    or by Go's own function table when the binary is stripped."""

    def check_read(self, binary, comm):
        before = self.daemon.scrape()
        # The first connection shows TLS the daemon does not read yet: it probes the binary, and
        # the requests after the pause are read.
        proc = subprocess.Popen([binary, "-cert", self.certs.cert, "-key", self.certs.key, "-warmup",
                                 "1", "-pause", "3", "-n", "3", "-missing", "2", "-hold", "20"],
                                stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (proc.kill(), proc.wait()))
        self.assertEqual(proc.stdout.readline().strip(), "warm")
        line = proc.stdout.readline()
        self.assertTrue(line.startswith("done"), line)
        after = self.daemon.wait_for(lambda m: sum(by_tls(before, m, comm, "inbound").values()) >= 5
                                     and sum(by_tls(before, m, comm, "outbound").values()) >= 5)
        time.sleep(0.3)
        after = self.daemon.scrape()
        want = {("http1", "valid", "true"): 3, ("http1", "missing", "true"): 2}
        self.assertEqual(by_tls(before, after, comm, "inbound"), want)
        self.assertEqual(by_tls(before, after, comm, "outbound"), want)
        self.assertEqual(errors(before, after), {})
        libs = [l for l in self.daemon.status()["tls"]["libraries"] if l["kind"] == "go-crypto-tls"
                and l["path"] == binary]
        self.assertEqual(len(libs), 1, self.daemon.status()["tls"]["libraries"])
        self.assertTrue(libs[0]["attached"], libs[0])
        self.assertGreaterEqual(libs[0]["probes"], 4)
        self.assertEqual([u for u in self.daemon.status()["tls"]["unseen"] if u["pid"] == proc.pid], [])

    def test_go_program_is_read(self):
        self.check_read(peers.build_go_peer("tls-peer.go", "tg-go-tls"), "tg-go-tls")

    def test_stripped_go_program_is_read(self):
        self.check_read(peers.build_go_peer("tls-peer.go", "tg-go-strip", ldflags="-s -w"), "tg-go-strip")


NODE_CLIENT = r"""
process.title = 'tg-node-tls';
const https = require('https');
const [url, ca, n] = [process.argv[1], require('fs').readFileSync(process.argv[2]), +process.argv[3]];
(async () => {
  for (let i = 0; i < n; i++) {
    await new Promise((ok, fail) => https.get(url, {ca, agent: false,
        headers: {traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'}},
      r => { r.resume(); r.on('end', ok); }).on('error', fail));
  }
  console.log('done');
  setTimeout(() => {}, 20000);
})();
"""


class UnseenTls(TlsBase):
    """Node.js as installed here carries OpenSSL in its own executable (its SSL_* functions are its
    own, fed through memory BIOs): its TLS is not read, and `tracegap status` says why."""

    def test_node_is_listed_with_its_reason(self):
        node = shutil.which("node")
        if node is None:
            self.skipTest("no node on this machine")
        static = subprocess.run(["nm", "-D", "--defined-only", node], capture_output=True, text=True).stdout
        if " SSL_write" not in static:
            self.skipTest(f"{node} does not carry OpenSSL itself (this test needs a static build)")
        url = f"https://localhost:{self.nginx.tls_port}/"
        before = self.daemon.scrape()
        proc = subprocess.Popen([node, "-e", NODE_CLIENT, url, self.certs.cert, "3"], stdout=subprocess.PIPE,
                                text=True)
        self.addCleanup(lambda: (proc.kill(), proc.wait()))
        self.assertEqual(proc.stdout.readline().strip(), "done")
        deadline = time.time() + 10
        unseen = []
        while time.time() < deadline:
            unseen = [u for u in self.daemon.status()["tls"]["unseen"] if u["pid"] == proc.pid]
            if unseen and unseen[0]["connections"] >= 3:
                break
            time.sleep(0.2)
        self.assertEqual(len(unseen), 1, self.daemon.status()["tls"])
        self.assertEqual(unseen[0]["reason"], "static_openssl")
        self.assertEqual(unseen[0]["comm"], "tg-node-tls")
        self.assertIn("SSL_write", unseen[0]["detail"])
        self.assertEqual(unseen[0]["connections"], 3)
        after = self.daemon.scrape()
        self.assertEqual(deltas(before, after, UNSEEN, ("reason",)), {"static_openssl": 3})
        # Its requests reached nginx (read there), and nothing is counted for it.
        self.assertEqual(by_tls(before, after, "tg-tls-nginx", "inbound"), {("http1", "valid", "true"): 3})
        self.assertEqual(deltas(before, after, REQ, ("tls",), comm="tg-node-tls"), {})
        self.assertEqual(errors(before, after), {})


class TlsRefusedByTheKernel(unittest.TestCase):
    """A kernel that refuses the TLS programs: the same capture without them, and the reason."""

    def test_capture_goes_on_without_tls(self):
        certs = Certs()
        self.addCleanup(certs.close)
        with tls_nginx(certs, "tg-tlsr-nginx") as ng, \
                tglib.Daemon(env={"TRACEGAP_TEST_REFUSE_TLS": "1"}) as d:
            tls = d.status()["tls"]
            self.assertIn("the kernel refused the TLS programs", tls["unavailable"])
            self.assertIn("tg_tls_exit", tls["unavailable"])
            self.assertEqual(tls["libraries"], [])
            status = d.status()
            self.assertTrue(status["degraded"], status)
            self.assertTrue(any("tg_tls_exit" in f for f in status["load_failures"]), status["load_failures"])
            self.assertIn("TLS NOT read", d.output())
            # Plain HTTP is still captured; HTTPS passes unread and without error.
            before = d.scrape()
            https(tglib.named("curl", "tg-tlsr-curl"), certs, f"https://127.0.0.1:{ng.tls_port}/",
                  f"traceparent: {VALID}")
            tglib.curl(f"http://127.0.0.1:{ng.port}/", f"traceparent: {VALID}")
            after = d.wait_for(lambda m: m.delta(before, REQ, comm="tg-tlsr-nginx", direction="inbound") >= 1)
            self.assertEqual(by_tls(before, after, "tg-tlsr-nginx", "inbound"), {("http1", "valid", "false"): 1})
            self.assertEqual(errors(before, after), {})


class TlsOff(TlsBase):
    daemon_args = ("--tls", "off")

    def test_passed_over(self):
        url = f"https://127.0.0.1:{self.nginx.tls_port}/"
        before = self.daemon.scrape()
        self.send_matrix(url, http2=False)
        self.send_matrix(url, http2=True)
        # A plain request afterwards: once it is counted, the HTTPS ones had their chance.
        tglib.curl(f"http://127.0.0.1:{self.nginx.port}/", f"traceparent: {VALID}")
        after = self.daemon.wait_for(
            lambda m: m.delta(before, REQ, comm="tg-tls-nginx", direction="inbound") >= 1)
        self.assertEqual(by_tls(before, after, "tg-tls-nginx", "inbound"),
                         {("http1", "valid", "false"): 1})
        self.assertEqual(by_tls(before, after, "tg-tls-curl", "outbound"), {})
        self.assertEqual(errors(before, after), {})
        tls = self.daemon.status()["tls"]
        self.assertEqual(tls["mode"], "off")
        self.assertEqual(tls["libraries"], [])


if __name__ == "__main__":
    tglib.main()
