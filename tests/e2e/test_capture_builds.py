"""End to end: every build of the BPF programs captures the same traffic (the socket-layer build
the daemon prefers on Linux 6.3+, the syscall build with direct reads on 6.2+, and the
bpf_probe_read_kernel build every other kernel runs); the load chain falls back to HTTP/1 only,
and says why, when the kernel refuses the HTTP/2 programs; every program of every variant loads
far from the verifier's budget; and a connection that starts with a PROXY protocol header still
has its HTTP captured. Like every e2e test, run once per capture path (tglib.CAPTURE)."""
import json
import os
import subprocess
import tempfile
import unittest

import tglib
from tglib import VALID_TP, curl, run_python

REQ = "tracegap_requests_total"
# At most this share of the verifier's 1M-instruction budget per program (issue: kernels differ,
# and a program near the edge loads on one build of a kernel and not on another).
HEADROOM_INSNS = 200_000

# PROXY protocol v1 line, then (in a later send, as a proxy writes them) an HTTP request.
PROXY_CLIENT = r"""
import socket, sys, time
port, tp = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"PROXY TCP4 192.0.2.1 127.0.0.1 40000 80\r\n")
time.sleep(0.05)
s.sendall(b"GET /proxied HTTP/1.1\r\nHost: localhost\r\ntraceparent: " + tp.encode() +
          b"\r\nConnection: close\r\n\r\n")
while s.recv(4096):
    pass
"""


def hooks_and_build(variant):
    """("socket", "direct-reads") for "socket+http2" (plain loads through the tracepoint's socket);
    ("syscall", "probe-reads") for "syscall+probe-reads+http2": the labels of tracegap_capture_info."""
    parts = variant.split("+")
    return (parts[0], parts[1] if parts[0] == "syscall" else "direct-reads")


class CaptureBuilds(unittest.TestCase):
    def capture_ipv4_and_ipv6(self, daemon, nginx):
        before = daemon.scrape()
        curl(f"http://127.0.0.1:{nginx.port}/", f"traceparent: {VALID_TP}")
        curl(f"http://[::1]:{nginx.port}/", f"traceparent: {VALID_TP}", extra=("-g",))
        curl(f"http://127.0.0.1:{nginx.port}/")

        def counts(m, comm, direction):
            return {ctx: m.delta(before, REQ, comm=comm, direction=direction, context=ctx, protocol="http1")
                    for ctx in ("valid", "missing")}
        want = {"valid": 2, "missing": 1}
        after = daemon.wait_for(lambda m: counts(m, nginx.comm, "inbound") == want)
        self.assertEqual(counts(after, nginx.comm, "inbound"), want)
        self.assertEqual(counts(after, "curl", "outbound"), want)

    def test_probe_read_build(self):
        with tglib.Daemon("--capture", "syscall", "--kernel-reads", "probe-read") as d, tglib.Nginx() as ng:
            self.assertIn("capture variant syscall+probe-reads+http2 (syscall hooks, kernel reads by "
                          "bpf_probe_read_kernel", d.output())
            self.capture_ipv4_and_ipv6(d, ng)

    def test_default_build(self):
        with tglib.Daemon() as d, tglib.Nginx() as ng:
            variant = tglib.expected_variant()
            hooks, build = hooks_and_build(variant)
            self.assertIn(f"capture variant {variant} (", d.output())
            if hooks == "socket":
                self.assertIn("(socket-layer hooks: sock_send_length/sock_recv_length", d.output())
            elif tglib.CAPTURE != "syscall":
                self.assertIn("capture variant socket+http2 skipped: the kernel has no "
                              "sock/sock_send_length tracepoint (added in Linux 6.3)", d.output())
            if build == "probe-reads" and hooks == "syscall":
                self.assertIn("skipped: the kernel's BTF has no bpf_rdonly_cast kfunc", d.output())
            self.assertNotIn("degraded", d.output())
            m = d.scrape()
            self.assertEqual(m.get("tracegap_capture_info", hooks=hooks, build=build, http2="on"), 1)
            self.assertEqual(m.get("tracegap_capture_degraded"), 0)
            status = d.status()
            self.assertEqual((status["capture"], status["http2"], status["degraded"], status["load_failures"]),
                             (variant, True, False, []))
            self.capture_ipv4_and_ipv6(d, ng)

    def test_socket_only_capture_fails_clearly_without_the_tracepoints(self):
        """--capture socket on a kernel without the socket-layer tracepoints: exit 6 and the reason;
        with them: socket-layer capture."""
        if tglib.kernel_has_socket_hooks():
            with tglib.Daemon("--capture", "socket") as d, tglib.Nginx() as ng:
                self.assertIn("capture variant socket+http2 (", d.output())
                self.capture_ipv4_and_ipv6(d, ng)
            return
        with self.assertRaises(RuntimeError) as caught:
            with tglib.Daemon("--capture", "socket"):
                pass
        self.assertIn("exited with 6", str(caught.exception))
        self.assertIn("no sock/sock_send_length tracepoint", str(caught.exception))

    def degraded_start(self, how, reason, verifier_line):
        """TRACEGAP_TEST_REFUSE_HTTP2 makes the kernel refuse the HTTP/2 programs: the daemon must
        still start, with HTTP/1 capture, and say what it could not load and the verifier's own
        words, in its log, its status and its metrics."""
        with tglib.Daemon(env={"TRACEGAP_TEST_REFUSE_HTTP2": how}) as d, tglib.Nginx() as ng:
            out = d.output()
            best, fallback = tglib.expected_variant(http2=True), tglib.expected_variant(http2=False)
            program = "tp_btf__sock_send_length" if best.startswith("socket") else "tracepoint__syscalls__sys_exit"
            self.assertIn(f"capture variant {best} failed to load: program {program}: {reason}", out)
            self.assertRegex(out, verifier_line)
            self.assertIn("degraded capture: running " + fallback + " (HTTP/2 is not followed)", out)
            self.assertIn("HTTP/2 NOT followed", out)
            hooks, build = hooks_and_build(fallback)
            m = d.scrape()
            self.assertEqual(m.get("tracegap_capture_info", hooks=hooks, build=build, http2="off"), 1)
            self.assertEqual(m.get("tracegap_capture_degraded"), 1)
            status = d.status()
            self.assertEqual((status["capture"], status["http2"], status["degraded"]),
                             (fallback, False, True))
            self.assertTrue(any(reason in f for f in status["load_failures"]), status["load_failures"])
            text = subprocess.run([tglib.TRACEGAP, "--socket", d.api_socket, "status"],
                                  capture_output=True, text=True, timeout=10).stdout
            self.assertIn("(degraded: better variants failed to load)", text)
            self.capture_ipv4_and_ipv6(d, ng)

    def test_degraded_start_when_http2_is_over_the_verifiers_budget(self):
        self.degraded_start("complex", "E2BIG: over the verifier's complexity budget",
                            r"verifier: BPF program is too large\. Processed 1000001 insn")

    def test_degraded_start_when_http2_is_unsafe(self):
        # The second load with the instruction trace names the refused access's source line.
        self.degraded_start("unsafe", "EACCES: rejected by the verifier",
                            r"verifier: ; .*tg_test_refuse_http2 == 2.* @ frame_walk\.h:\d+")

    def test_every_variant_loads_with_headroom(self):
        """`tracegapd --verify-only` loads every variant: each must load on this kernel (the
        direct-reads ones are skipped, not failed, where the kfunc is missing), and no program may
        cost the verifier more than a fifth of its budget."""
        out_json = os.path.join(tempfile.mkdtemp(prefix="tg-verify-"), "verify.json")
        r = subprocess.run([tglib.TRACEGAPD, "--verify-only", "--verify-json", out_json],
                           capture_output=True, text=True, timeout=300)
        print(r.stdout, flush=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(out_json) as f:
            report = json.load(f)
        names = [v["name"] for v in report["variants"]]
        self.assertEqual(names, ["socket+http2", "syscall+direct-reads+http2", "syscall+probe-reads+http2",
                                 "socket+http1-only", "syscall+direct-reads+http1-only",
                                 "syscall+probe-reads+http1-only"])
        for v in report["variants"]:
            if v["hooks"] == "socket" and not tglib.kernel_has_socket_hooks():
                self.assertEqual(v["result"], "skipped", v)
                continue
            if v["hooks"] == "syscall" and v["build"] == "direct-reads" and not tglib.kernel_has_rdonly_cast():
                self.assertEqual(v["result"], "skipped", v)
                continue
            self.assertEqual(v["result"], "loaded", v["error"])
            # The socket build: send, receive, state change; the syscall build: 8 enters, the
            # shared exit, state change; both: the 11 TLS uprobe programs (OpenSSL: 5 entries, 2
            # exits; Go: Write, Read, Read's RETs, the handshakes).
            self.assertEqual(len(v["programs"]), (3 if v["hooks"] == "socket" else 10) + 11, v["programs"])
            tls = [p["name"] for p in v["programs"] if p["name"].startswith("tg_tls_")]
            self.assertEqual(len(tls), 11, v["programs"])
            for p in v["programs"]:
                self.assertLessEqual(p["insns"], HEADROOM_INSNS, f"{v['name']} {p['name']}")
                self.assertGreater(p["insns"], 0, f"{v['name']} {p['name']}")

    def test_http_after_a_proxy_protocol_header(self):
        proxied = "listen 127.0.0.1:{port} proxy_protocol;"
        port = tglib.free_port()
        with tglib.Daemon() as d, tglib.Nginx(extra=proxied.format(port=port)) as ng:
            tglib.wait_port(port)
            before = d.scrape()
            run_python(PROXY_CLIENT, port, VALID_TP)

            def valid(m, comm, direction):
                return m.delta(before, REQ, comm=comm, direction=direction, context="valid", protocol="http1")
            after = d.wait_for(lambda m: valid(m, ng.comm, "inbound") == 1)
            self.assertEqual(valid(after, ng.comm, "inbound"), 1)
            self.assertEqual(valid(after, "python3", "outbound"), 1)


if __name__ == "__main__":
    tglib.main()
