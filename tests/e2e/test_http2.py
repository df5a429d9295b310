"""End to end: HTTP/2 and gRPC, with real peers. Exact counts per process from /metrics and from
the CLI.

* grpc-js (OpenTelemetry JS with @opentelemetry/instrumentation-grpc) client -> frontend ->
  backend, one channel per hop, 60 calls: HPACK dynamic-table name references and evictions
  (grpc-send.js pads every call), frontend in propagate and in drop mode.
* python3-grpcio (gRPC C-core) client -> server: traceparent sent as a literal without indexing
  and without Huffman coding.
* nghttp -> nghttpd (nghttp2, plain HTTP/2 with prior knowledge, not gRPC).
* A gRPC channel opened before tracegapd started: joined late, unsynced, context "unknown".
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import peers
import tglib
from grpc_peers import GrpcNodeService, PyGrpcLongClient, PyGrpcServer, grpc_send, py_grpc_client

REQ = "tracegap_requests_total"
OUT = "tracegap_outbound_total"
HPACK_ERRORS = "tracegap_hpack_errors_total"
H2_CONNS = "tracegap_http2_connections"
TIMEOUT = 30.0  # for counts to arrive; the assertions that follow are exact

N_GRPC = 60


def _sums(m, name, keys, match):
    out = {}
    for (n, ls), v in m.samples.items():
        if n != name:
            continue
        d = dict(ls)
        if any(d.get(k) != want for k, want in match.items()):
            continue
        key = tuple(d.get(k) for k in keys)
        out[key] = out.get(key, 0.0) + v
    return out


def deltas(before, after, name, keys, **match):
    """{tuple of the `keys` label values: delta} over the samples of `name` whose labels include
    `match`; only non-zero deltas. A single key gives plain values instead of 1-tuples."""
    b, a = _sums(before, name, keys, match), _sums(after, name, keys, match)
    out = {}
    for k in set(a) | set(b):
        d = int(a.get(k, 0.0) - b.get(k, 0.0))
        if d:
            out[k[0] if len(keys) == 1 else k] = d
    return out


def requests(before, after, comm, direction):
    """{(protocol, context): n} of tracegap_requests_total for one comm and direction."""
    return deltas(before, after, REQ, ("protocol", "context"), comm=comm, direction=direction)


def outcomes(before, after, comm):
    """{(outcome, protocol): n} of tracegap_outbound_total for one comm."""
    return deltas(before, after, OUT, ("outcome", "protocol"), comm=comm)


def total(before, after, name, **match):
    return sum(deltas(before, after, name, ("comm",), **match).values())


def cli_process(daemon, pid):
    r = subprocess.run([tglib.TRACEGAP, "--socket", daemon.api_socket, "process", str(pid), "--json"],
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise AssertionError(f"tracegap process {pid} exited {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


def nonzero(d):
    return {k: v for k, v in d.items() if v}


def trace_id(tp):
    return tp.split("-")[1] if tp else None


def require_tools():
    missing = []
    if not shutil.which("nghttp"):
        missing.append("nghttp2-client (nghttp)")
    if not shutil.which("nghttpd"):
        missing.append("nghttp2-server (nghttpd)")
    if subprocess.run([tglib.PYTHON, "-c", "import grpc"], capture_output=True).returncode != 0:
        missing.append("python3-grpcio")
    if not shutil.which("node"):
        missing.append("nodejs (node)")
    if missing:
        raise RuntimeError("test_http2 needs these Debian packages: " + ", ".join(missing))


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
    requests for `url` (concurrent streams on that connection), each with `headers`."""
    cmd = ["nghttp", "-n", "-t", "10", "-m", str(count)]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    subprocess.run(cmd, check=True, timeout=30, stdout=subprocess.DEVNULL)


class Http2AndGrpc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_tools()
        peers.ensure_node_modules()
        cls.daemon = tglib.Daemon().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)

    def assertNoHpackErrors(self, before, after):
        self.assertEqual(deltas(before, after, HPACK_ERRORS, ("reason",)), {},
                         "tracegap_hpack_errors_total rose")

    def test_grpc_js_chain_propagate_and_drop(self):
        client = "tg-grpc-client"
        for mode, outcome, backend_ctx in (("propagate", "propagated", "valid"),
                                           ("drop", "dropped", "missing")):
            fe_name, be_name = f"gfe-{mode[:4]}", f"gbe-{mode[:4]}"
            fe, be = "tg-" + fe_name, "tg-" + be_name
            with self.subTest(mode=mode), GrpcNodeService(be_name) as backend, \
                    GrpcNodeService(fe_name, mode=mode, downstream=backend.target) as frontend:
                before = self.daemon.scrape()
                summary = grpc_send(frontend.target, N_GRPC, "--new-trace-each", "--responses")

                # What the peers themselves saw: every call reached the backend, with the right header.
                self.assertEqual(summary["ok"], N_GRPC, summary["errors"])
                for sent, r in zip(summary["traceparents_sent"], summary["responses"]):
                    self.assertEqual(r["received_traceparent"], sent)
                    got = r["downstream_reply"]["received_traceparent"]
                    if mode == "propagate":
                        self.assertEqual(got, r["outbound_traceparent"])
                        self.assertEqual(trace_id(got), trace_id(sent))
                        self.assertNotEqual(got, sent)
                    else:
                        self.assertIsNone(got)
                        self.assertIsNone(r["outbound_traceparent"])

                after = self.daemon.wait_for(
                    lambda m: total(before, m, REQ, comm=be, direction="inbound") >= N_GRPC
                    and total(before, m, OUT, comm=fe) >= N_GRPC
                    and total(before, m, OUT, comm=client) >= N_GRPC, timeout=TIMEOUT)

                self.assertEqual(requests(before, after, client, "outbound"), {("grpc", "valid"): N_GRPC})
                self.assertEqual(requests(before, after, client, "inbound"), {})
                self.assertEqual(outcomes(before, after, client), {("origin", "grpc"): N_GRPC})

                self.assertEqual(requests(before, after, fe, "inbound"), {("grpc", "valid"): N_GRPC})
                self.assertEqual(requests(before, after, fe, "outbound"), {("grpc", backend_ctx): N_GRPC})
                self.assertEqual(outcomes(before, after, fe), {(outcome, "grpc"): N_GRPC})

                self.assertEqual(requests(before, after, be, "inbound"), {("grpc", backend_ctx): N_GRPC})
                self.assertEqual(requests(before, after, be, "outbound"), {})
                self.assertEqual(outcomes(before, after, be), {})

                self.assertNoHpackErrors(before, after)

                detail = cli_process(self.daemon, frontend.pid)
                self.assertEqual(detail["comm"], fe)
                self.assertEqual(nonzero(detail["inbound"]), {"valid": N_GRPC})
                self.assertEqual(nonzero(detail["outbound"]), {outcome: N_GRPC})
                if mode == "drop":
                    self.assertEqual(detail["gaps"], N_GRPC)
                    self.assertTrue(detail["gap_examples"])
                    ex = detail["gap_examples"][-1]
                    self.assertEqual(ex["outcome"], "dropped")
                    self.assertEqual(ex["protocol"], "grpc")
                    self.assertEqual(ex["path"], "/tracegap.test.Echo/Echo")
                    self.assertEqual(ex["peer"], backend.target)
                    self.assertEqual(len(ex["inbound_trace_ids"]), 1)
                    self.assertIn(ex["inbound_trace_ids"][0], {trace_id(t) for t in summary["traceparents_sent"]})
                else:
                    self.assertEqual(detail["gaps"], 0)
                detail = cli_process(self.daemon, backend.pid)
                self.assertEqual(nonzero(detail["inbound"]), {backend_ctx: N_GRPC})
                self.assertEqual(nonzero(detail["outbound"]), {})

    def test_python_grpcio_literal_without_indexing(self):
        with PyGrpcServer() as server:
            before = self.daemon.scrape()
            summary = py_grpc_client(server.port, 20, 10)
            self.assertEqual(summary["ok"], 30, summary["errors"])
            self.assertEqual(summary["received"], summary["traceparents_sent"] + [None] * 10)

            after = self.daemon.wait_for(
                lambda m: total(before, m, REQ, comm="tg-pygrpc-srv", direction="inbound") >= 30
                and total(before, m, OUT, comm="tg-pygrpc-cli") >= 30, timeout=TIMEOUT)
            self.assertEqual(requests(before, after, "tg-pygrpc-srv", "inbound"),
                             {("grpc", "valid"): 20, ("grpc", "missing"): 10})
            self.assertEqual(requests(before, after, "tg-pygrpc-srv", "outbound"), {})
            self.assertEqual(requests(before, after, "tg-pygrpc-cli", "outbound"),
                             {("grpc", "valid"): 20, ("grpc", "missing"): 10})
            self.assertEqual(outcomes(before, after, "tg-pygrpc-cli"), {("origin", "grpc"): 30})
            self.assertNoHpackErrors(before, after)
            detail = cli_process(self.daemon, server.pid)
            self.assertEqual(nonzero(detail["inbound"]), {"valid": 20, "missing": 10})

    def test_nghttp_plain_http2(self):
        with Nghttpd() as server:
            url = f"http://127.0.0.1:{server.port}/"
            before = self.daemon.scrape()
            nghttp(url, 5, f"traceparent: {tglib.VALID_TP}")
            nghttp(url, 3)
            after = self.daemon.wait_for(
                lambda m: total(before, m, REQ, comm="nghttpd", direction="inbound") >= 8
                and total(before, m, OUT, comm="nghttp") >= 8, timeout=TIMEOUT)
            self.assertEqual(requests(before, after, "nghttp", "outbound"),
                             {("http2", "valid"): 5, ("http2", "missing"): 3})
            self.assertEqual(outcomes(before, after, "nghttp"), {("origin", "http2"): 8})
            self.assertEqual(requests(before, after, "nghttpd", "inbound"),
                             {("http2", "valid"): 5, ("http2", "missing"): 3})
            self.assertEqual(requests(before, after, "nghttpd", "outbound"), {})
            self.assertNoHpackErrors(before, after)
            detail = cli_process(self.daemon, server.pid)
            self.assertEqual(nonzero(detail["inbound"]), {"valid": 5, "missing": 3})


class JoinedLate(unittest.TestCase):
    """A channel opened before tracegapd starts is unsynced: its calls are counted as "unknown"
    (never "missing"), and a channel opened afterwards to the same server is decoded. This class
    runs its own tracegapd, started inside the test."""

    @classmethod
    def setUpClass(cls):
        require_tools()

    def test_channel_opened_before_daemon_is_unsynced(self):
        srv, cli = "tg-pygrpc-srv", "tg-pygrpc-cli"
        with PyGrpcServer() as server, PyGrpcLongClient(server.port, first=1, after=10) as client:
            # The channel is connected and has made one call; now the daemon starts.
            with tglib.Daemon() as daemon:
                before = daemon.scrape()
                summary = client.resume()  # 10 more calls on the same HTTP/2 connection
                self.assertEqual(summary["ok"], 11, summary["errors"])
                self.assertEqual(summary["received"], summary["traceparents_sent"])

                after = daemon.wait_for(
                    lambda m: total(before, m, REQ, comm=srv, direction="inbound") >= 10
                    and total(before, m, OUT, comm=cli) >= 10
                    and m.get(H2_CONNS, state="unsynced") >= 1, timeout=TIMEOUT)
                # Undecodable header blocks: the protocol label cannot be told either (content-type
                # is in the block), so these sum over protocols.
                srv_in = deltas(before, after, REQ, ("context",), comm=srv, direction="inbound")
                cli_out = deltas(before, after, REQ, ("context",), comm=cli, direction="outbound")
                self.assertEqual(srv_in, {"unknown": 10})
                self.assertEqual(cli_out, {"unknown": 10})
                self.assertEqual(deltas(before, after, OUT, ("outcome",), comm=cli), {"unknown": 10})
                self.assertEqual(deltas(before, after, OUT, ("outcome",), comm=srv), {})
                self.assertGreaterEqual(after.get(H2_CONNS, state="unsynced"), 1)
                self.assertEqual(deltas(before, after, HPACK_ERRORS, ("reason",)), {})
                self.assertEqual(nonzero(cli_process(daemon, server.pid)["inbound"]), {"unknown": 10})
                self.assertEqual(nonzero(cli_process(daemon, client.pid)["outbound"]), {"unknown": 10})

                # A channel opened now, to the same server, is followed from its start and decoded.
                before = daemon.scrape()
                fresh = py_grpc_client(server.port, 3, 2)
                self.assertEqual(fresh["ok"], 5, fresh["errors"])
                after = daemon.wait_for(
                    lambda m: total(before, m, REQ, comm=srv, direction="inbound") >= 5, timeout=TIMEOUT)
                self.assertEqual(requests(before, after, srv, "inbound"),
                                 {("grpc", "valid"): 3, ("grpc", "missing"): 2})
                self.assertEqual(outcomes(before, after, cli), {("origin", "grpc"): 5})


if __name__ == "__main__":
    tglib.main()
