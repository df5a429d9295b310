"""End to end: both builds of the BPF programs capture the same traffic (the direct-reads build
that the daemon prefers on Linux 6.2+, and the bpf_probe_read_kernel build every other kernel
runs), and a connection that starts with a PROXY protocol header still has its HTTP captured."""
import unittest

import tglib
from tglib import VALID_TP, curl, run_python

REQ = "tracegap_requests_total"

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
            if kernel_has_rdonly_cast():
                self.assertIn("(direct kernel reads)", d.output())
            else:
                self.assertIn("direct kernel reads are not available on this kernel", d.output())
            self.capture_ipv4_and_ipv6(d, ng)

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
