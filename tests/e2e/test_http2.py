"""End to end: HTTP/2 and gRPC, with real peers. Exact counts per process from /metrics and from
the CLI.

* grpc-js (OpenTelemetry JS with @opentelemetry/instrumentation-grpc) client -> frontend ->
  backend, one channel per hop, 60 calls: HPACK dynamic-table name references and evictions
  (grpc-send.js pads every call), frontend in propagate and in drop mode.
* python3-grpcio (gRPC C-core) client -> server: traceparent sent as a literal without indexing
  and without Huffman coding.
* nghttp -> nghttpd (nghttp2, plain HTTP/2 with prior knowledge, not gRPC).
* A gRPC channel opened before tracegapd started: joined late, unsynced, context "unknown".

tracegapd counts every process on the host. The peers have comms of their own (tg-*), but
tracegap_hpack_errors_total has no comm label and nghttp/nghttpd are common names: those checks are
exact on a quiet host (ctest runs the e2e tests serially) and are skipped, with a NOTE on stderr,
only when another process did HTTP/2 meanwhile. The per-process CLI checks are always exact.
"""
import json
import shutil
import subprocess
import sys
import unittest

import peers
import tglib
from grpc_peers import GrpcNodeService, PyGrpcLongClient, PyGrpcServer, grpc_send, py_grpc_client

from peers import Nghttpd, nghttp
from tglib import HPACK_ERRORS, OUT, REQ, deltas, outcomes, requests, total
H2_CONNS = "tracegap_http2_connections"
TIMEOUT = 30.0  # for counts to arrive; the assertions that follow are exact

N_GRPC = 60


def cli_process(daemon, pid):
    r = subprocess.run([tglib.TRACEGAP, "--socket", daemon.api_socket, "process", str(pid), "--json"],
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise AssertionError(f"tracegap process {pid} exited {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


def process_counts(daemon):
    """{pid: (comm, inbound counts, outbound counts)} of every process the daemon knows."""
    r = subprocess.run([tglib.TRACEGAP, "--socket", daemon.api_socket, "processes", "--json"],
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise AssertionError(f"tracegap processes exited {r.returncode}: {r.stderr}")
    return {p["pid"]: (p["comm"], p["inbound"], p["outbound"]) for p in json.loads(r.stdout)["processes"]}


def foreign_http2(before, after, ours):
    """Comms other than `ours` that made or received HTTP/2 or gRPC requests between the two scrapes.
    tracegapd watches the whole host, and tracegap_hpack_errors_total has no comm label."""
    found = set()
    for protocol in ("http2", "grpc"):
        found |= {c for c in deltas(before, after, REQ, ("comm",), protocol=protocol) if c not in ours}
    return found


def unattributable(got, want, before, after, ours):
    """tracegap_hpack_errors_total has no comm label: the "hpack errors" entry is compared only if
    no other process did HTTP/2 or gRPC between the scrapes (on a dedicated test host, always)."""
    foreign = foreign_http2(before, after, ours)
    if foreign and "hpack errors" in want:
        note(f"hpack errors not checked ({got['hpack errors']}): other processes did HTTP/2 "
             f"meanwhile: {sorted(foreign)}")
        del got["hpack errors"], want["hpack errors"]


def note(msg):
    print(f"\nNOTE: {msg}", file=sys.stderr, flush=True)


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


class Http2AndGrpc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_tools()
        peers.ensure_node_modules()
        cls.daemon = tglib.Daemon().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)

    maxDiff = None

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
                fe_detail = cli_process(self.daemon, frontend.pid)
                be_detail = cli_process(self.daemon, backend.pid)

                # One comparison, so that a failure shows every count at once.
                got = {
                    "client outbound requests": requests(before, after, client, "outbound"),
                    "client inbound requests": requests(before, after, client, "inbound"),
                    "client outcomes": outcomes(before, after, client),
                    "frontend inbound requests": requests(before, after, fe, "inbound"),
                    "frontend outbound requests": requests(before, after, fe, "outbound"),
                    "frontend outcomes": outcomes(before, after, fe),
                    "backend inbound requests": requests(before, after, be, "inbound"),
                    "backend outbound requests": requests(before, after, be, "outbound"),
                    "backend outcomes": outcomes(before, after, be),
                    "hpack errors": deltas(before, after, HPACK_ERRORS, ("reason",)),
                    "CLI frontend": (fe_detail["comm"], nonzero(fe_detail["inbound"]),
                                     nonzero(fe_detail["outbound"]), fe_detail["gaps"]),
                    "CLI backend": (nonzero(be_detail["inbound"]), nonzero(be_detail["outbound"])),
                }
                want = {
                    "client outbound requests": {("grpc", "valid"): N_GRPC},
                    "client inbound requests": {},
                    "client outcomes": {("origin", "grpc"): N_GRPC},
                    "frontend inbound requests": {("grpc", "valid"): N_GRPC},
                    "frontend outbound requests": {("grpc", backend_ctx): N_GRPC},
                    "frontend outcomes": {(outcome, "grpc"): N_GRPC},
                    "backend inbound requests": {("grpc", backend_ctx): N_GRPC},
                    "backend outbound requests": {},
                    "backend outcomes": {},
                    "hpack errors": {},
                    "CLI frontend": (fe, {"valid": N_GRPC}, {outcome: N_GRPC},
                                     N_GRPC if mode == "drop" else 0),
                    "CLI backend": ({backend_ctx: N_GRPC}, {}),
                }
                unattributable(got, want, before, after, {client, fe, be})
                self.assertEqual(got, want)
                if mode == "drop":
                    self.assertTrue(fe_detail["gap_examples"])
                    ex = fe_detail["gap_examples"][-1]
                    self.assertEqual((ex["outcome"], ex["protocol"], ex["path"], ex["peer"]),
                                     ("dropped", "grpc", "/tracegap.test.Echo/Echo", backend.target))
                    self.assertEqual(len(ex["inbound_trace_ids"]), 1)
                    self.assertIn(ex["inbound_trace_ids"][0], {trace_id(t) for t in summary["traceparents_sent"]})

    def test_python_grpcio_literal_without_indexing(self):
        srv, cli = "tg-pygrpc-srv", "tg-pygrpc-cli"
        with PyGrpcServer() as server:
            before = self.daemon.scrape()
            summary = py_grpc_client(server.port, 20, 10)
            self.assertEqual(summary["ok"], 30, summary["errors"])
            self.assertEqual(summary["received"], summary["traceparents_sent"] + [None] * 10)

            after = self.daemon.wait_for(
                lambda m: total(before, m, REQ, comm=srv, direction="inbound") >= 30
                and total(before, m, OUT, comm=cli) >= 30, timeout=TIMEOUT)
            detail = cli_process(self.daemon, server.pid)
            got = {
                "server inbound requests": requests(before, after, srv, "inbound"),
                "server outbound requests": requests(before, after, srv, "outbound"),
                "client outbound requests": requests(before, after, cli, "outbound"),
                "client outcomes": outcomes(before, after, cli),
                "hpack errors": deltas(before, after, HPACK_ERRORS, ("reason",)),
                "CLI server inbound": nonzero(detail["inbound"]),
            }
            want = {
                "server inbound requests": {("grpc", "valid"): 20, ("grpc", "missing"): 10},
                "server outbound requests": {},
                "client outbound requests": {("grpc", "valid"): 20, ("grpc", "missing"): 10},
                "client outcomes": {("origin", "grpc"): 30},
                "hpack errors": {},
                "CLI server inbound": {"valid": 20, "missing": 10},
            }
            unattributable(got, want, before, after, {srv, cli})
            self.assertEqual(got, want)

    def test_nghttp_plain_http2(self):
        with Nghttpd() as server:
            url = f"http://127.0.0.1:{server.port}/"
            procs_before = process_counts(self.daemon)
            before = self.daemon.scrape()
            ours = {server.pid, nghttp(url, 5, f"traceparent: {tglib.VALID_TP}"), nghttp(url, 3)}
            after = self.daemon.wait_for(
                lambda m: total(before, m, REQ, comm="nghttpd", direction="inbound") >= 8
                and total(before, m, OUT, comm="nghttp") >= 8, timeout=TIMEOUT)
            detail = cli_process(self.daemon, server.pid)
            procs_after = process_counts(self.daemon)
            got = {
                "nghttp outbound requests": requests(before, after, "nghttp", "outbound"),
                "nghttp outcomes": outcomes(before, after, "nghttp"),
                "nghttpd inbound requests": requests(before, after, "nghttpd", "inbound"),
                "nghttpd outbound requests": requests(before, after, "nghttpd", "outbound"),
                "hpack errors": deltas(before, after, HPACK_ERRORS, ("reason",)),
                "CLI nghttpd inbound": nonzero(detail["inbound"]),
            }
            want = {
                "nghttp outbound requests": {("http2", "valid"): 5, ("http2", "missing"): 3},
                "nghttp outcomes": {("origin", "http2"): 8},
                "nghttpd inbound requests": {("http2", "valid"): 5, ("http2", "missing"): 3},
                "nghttpd outbound requests": {},
                "hpack errors": {},
                "CLI nghttpd inbound": {"valid": 5, "missing": 3},
            }
            # The comm-level counts are exact only if no other nghttp/nghttpd was busy meanwhile
            # (the per-process CLI count above always is).
            others = sorted(f"{pid} {c[0]}" for pid, c in procs_after.items()
                            if c[0] in ("nghttp", "nghttpd") and pid not in ours and procs_before.get(pid) != c)
            if others:
                for k in [k for k in want if k.startswith("nghttp")]:
                    del got[k], want[k]
                note(f"nghttp/nghttpd comm counts not checked: other such processes were busy: {others}")
            unattributable(got, want, before, after, {"nghttp", "nghttpd"})
            self.assertEqual(got, want)


class JoinedLate(unittest.TestCase):
    """A channel opened before tracegapd starts is unsynced: its calls are counted as "unknown"
    (never "missing"), and a channel opened afterwards to the same server is decoded. This class
    runs its own tracegapd, started inside the test."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        require_tools()

    def test_channel_opened_before_daemon_is_unsynced(self):
        srv, cli = "tg-pygrpc-srv", "tg-pygrpc-cli"
        with PyGrpcServer() as server, PyGrpcLongClient(server.port, first=1, after=10) as client:
            # The channel is connected and has made one call; only now does the daemon start.
            with tglib.Daemon() as daemon:
                before = daemon.scrape()
                summary = client.resume()  # 10 more calls on the same HTTP/2 connection
                self.assertEqual(summary["ok"], 11, summary["errors"])
                self.assertEqual(summary["received"], summary["traceparents_sent"])

                after = daemon.wait_for(
                    lambda m: total(before, m, REQ, comm=srv, direction="inbound") >= 10
                    and total(before, m, OUT, comm=cli) >= 10
                    and m.get(H2_CONNS, state="unsynced") >= 1, timeout=TIMEOUT)
                # The blocks cannot be decoded, so neither can content-type: the protocol label is
                # not asserted, the counts sum over it.
                got = {
                    "server inbound contexts": deltas(before, after, REQ, ("context",), comm=srv,
                                                      direction="inbound"),
                    "client outbound contexts": deltas(before, after, REQ, ("context",), comm=cli,
                                                       direction="outbound"),
                    "client outcomes": deltas(before, after, OUT, ("outcome",), comm=cli),
                    "server outcomes": deltas(before, after, OUT, ("outcome",), comm=srv),
                    "hpack errors": deltas(before, after, HPACK_ERRORS, ("reason",)),
                    "CLI server inbound": nonzero(cli_process(daemon, server.pid)["inbound"]),
                    "CLI client outbound": nonzero(cli_process(daemon, client.pid)["outbound"]),
                    "unsynced connections >= 1": after.get(H2_CONNS, state="unsynced") >= 1,
                }
                want = {
                    "server inbound contexts": {"unknown": 10},
                    "client outbound contexts": {"unknown": 10},
                    "client outcomes": {"unknown": 10},
                    "server outcomes": {},
                    "hpack errors": {},
                    "CLI server inbound": {"unknown": 10},
                    "CLI client outbound": {"unknown": 10},
                    "unsynced connections >= 1": True,
                }
                unattributable(got, want, before, after, {srv, cli})
                self.assertEqual(got, want)

                # A channel opened now, to the same server, is followed from its start and decoded.
                before = daemon.scrape()
                fresh = py_grpc_client(server.port, 3, 2)
                self.assertEqual(fresh["ok"], 5, fresh["errors"])
                after = daemon.wait_for(
                    lambda m: total(before, m, REQ, comm=srv, direction="inbound") >= 5
                    and total(before, m, OUT, comm=cli) >= 5, timeout=TIMEOUT)
                got = {
                    "server inbound requests": requests(before, after, srv, "inbound"),
                    "client outbound requests": requests(before, after, cli, "outbound"),
                    "client outcomes": outcomes(before, after, cli),
                }
                want = {
                    "server inbound requests": {("grpc", "valid"): 3, ("grpc", "missing"): 2},
                    "client outbound requests": {("grpc", "valid"): 3, ("grpc", "missing"): 2},
                    "client outcomes": {("origin", "grpc"): 5},
                }
                self.assertEqual(got, want)


if __name__ == "__main__":
    tglib.main()
