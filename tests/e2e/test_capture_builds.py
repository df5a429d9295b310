"""End to end: both builds of the BPF programs capture the same traffic (the direct-reads build
that the daemon prefers on Linux 6.2+, and the bpf_probe_read_kernel build every other kernel
runs); the load chain falls back to HTTP/1 only, and says why, when the kernel refuses the HTTP/2
programs; every program of every variant loads far from the verifier's budget; and a connection
that starts with a PROXY protocol header still has its HTTP captured."""
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


def kernel_has_rdonly_cast():
    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        return b"\0bpf_rdonly_cast\0" in f.read()


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
        with tglib.Daemon("--kernel-reads", "probe-read") as d, tglib.Nginx() as ng:
            self.assertIn("kernel reads by bpf_probe_read_kernel", d.output())
            self.capture_ipv4_and_ipv6(d, ng)

    def test_default_build(self):
        with tglib.Daemon() as d, tglib.Nginx() as ng:
            build = "direct-reads" if kernel_has_rdonly_cast() else "probe-reads"
            self.assertIn(f"capture variant {build}+http2 (", d.output())
            if build == "probe-reads":
                self.assertIn("skipped: the kernel's BTF has no bpf_rdonly_cast kfunc", d.output())
            self.assertNotIn("degraded", d.output())
            m = d.scrape()
            self.assertEqual(m.get("tracegap_capture_info", build=build, http2="on"), 1)
            self.assertEqual(m.get("tracegap_capture_degraded"), 0)
            status = d.status()
            self.assertEqual((status["capture"], status["http2"], status["degraded"], status["load_failures"]),
                             (f"{build}+http2", True, False, []))
            self.capture_ipv4_and_ipv6(d, ng)

    def degraded_start(self, how, reason, verifier_line):
        """TRACEGAP_TEST_REFUSE_HTTP2 makes the kernel refuse the HTTP/2 programs: the daemon must
        still start, with HTTP/1 capture, and say what it could not load and the verifier's own
        words, in its log, its status and its metrics."""
        with tglib.Daemon(env={"TRACEGAP_TEST_REFUSE_HTTP2": how}) as d, tglib.Nginx() as ng:
            out = d.output()
            build = "direct-reads" if kernel_has_rdonly_cast() else "probe-reads"
            self.assertIn(f"capture variant {build}+http2 failed to load: program "
                          f"tracepoint__syscalls__sys_exit: {reason}", out)
            self.assertRegex(out, verifier_line)
            self.assertIn("degraded capture: running " + build + "+http1-only (HTTP/2 is not followed)", out)
            self.assertIn("HTTP/2 NOT followed", out)
            m = d.scrape()
            self.assertEqual(m.get("tracegap_capture_info", build=build, http2="off"), 1)
            self.assertEqual(m.get("tracegap_capture_degraded"), 1)
            status = d.status()
            self.assertEqual((status["capture"], status["http2"], status["degraded"]),
                             (f"{build}+http1-only", False, True))
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
                            r"verifier: ; .*tg_test_refuse_http2 == 2.* @ h2_walk\.h:\d+")

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
        self.assertEqual(names, ["direct-reads+http2", "probe-reads+http2",
                                 "direct-reads+http1-only", "probe-reads+http1-only"])
        for v in report["variants"]:
            if v["build"] == "direct-reads" and not kernel_has_rdonly_cast():
                self.assertEqual(v["result"], "skipped", v)
                continue
            self.assertEqual(v["result"], "loaded", v["error"])
            self.assertEqual(len(v["programs"]), 10, v["programs"])
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
