"""End to end: per-process propagation outcomes with real instrumented services (OpenTelemetry
JS), nginx as a reverse proxy, and a thread-per-request Python server. Exact counts per process
from /metrics and from the CLI."""
import json
import subprocess
import time
import unittest

import peers
import tglib
from peers import NodeService, node_send

OUT = "tracegap_outbound_total"
REQ = "tracegap_requests_total"
EDGE = "tracegap_edge_requests_total"
N = 6


def edges(before, after, client):
    """{(server, outcome): n} of tracegap_edge_requests_total for one client workload (a comm
    here: these services run in no container or unit)."""
    return tglib.deltas(before, after, EDGE, ("server", "outcome"), client=client)


def outcomes(before, after, comm):
    names = ("origin", "untraced_upstream", "propagated", "passthrough", "dropped", "restarted",
             "mangled", "unknown")
    return {o: int(after.delta(before, OUT, comm=comm, outcome=o)) for o in names
            if after.delta(before, OUT, comm=comm, outcome=o)}


class Propagation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        peers.ensure_node_modules()
        cls.daemon = tglib.Daemon().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)

    def settle(self, before, comm, total):
        return self.daemon.wait_for(lambda m: sum(outcomes(before, m, comm).values()) >= total)

    def cli_process(self, pid):
        r = subprocess.run([tglib.TRACEGAP, "--socket", self.daemon.api_socket, "process", str(pid), "--json"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_otel_frontend_modes(self):
        expected_backend = {"propagate": "valid", "drop": "missing", "restart": "valid", "mangle": "malformed"}
        expected_outcome = {"propagate": "propagated", "drop": "dropped", "restart": "restarted",
                            "mangle": "mangled"}
        for mode in ("propagate", "drop", "restart", "mangle"):
            with self.subTest(mode=mode), NodeService("be-" + mode) as backend, \
                    NodeService("fe-" + mode, mode=mode, downstream=backend.url) as frontend:
                before = self.daemon.scrape()
                node_send(frontend.url, N, "--new-trace-each")
                after = self.settle(before, f"tg-fe-{mode}", N)
                self.assertEqual(outcomes(before, after, f"tg-fe-{mode}"), {expected_outcome[mode]: N})
                # The same outcomes on the edge to the backend, named as the Host header names it;
                # the clients' edge to the frontend: they start the traces.
                self.assertEqual(edges(before, after, f"tg-fe-{mode}"),
                                 {(f"127.0.0.1:{backend.port}", expected_outcome[mode]): N})
                self.assertEqual(edges(before, after, "tg-client"),
                                 {(f"127.0.0.1:{frontend.port}", "origin"): N})
                self.assertEqual(after.delta(before, REQ, comm=f"tg-fe-{mode}", direction="inbound",
                                             context="valid"), N)
                self.assertEqual(after.delta(before, REQ, comm=f"tg-be-{mode}", direction="inbound",
                                             context=expected_backend[mode]), N)
                detail = self.cli_process(frontend.pid)
                self.assertEqual(detail["outbound"][expected_outcome[mode]], N)
                self.assertEqual(detail["inbound"]["valid"], N)
                if mode != "propagate":
                    self.assertEqual(detail["gaps"], N)
                    self.assertTrue(detail["gap_examples"])
                    ex = detail["gap_examples"][-1]
                    self.assertEqual(ex["outcome"], expected_outcome[mode])
                    self.assertEqual(ex["peer"], f"127.0.0.1:{backend.port}")
                    self.assertEqual(len(ex["inbound_trace_ids"]), 1)

    def test_origin_and_untraced_upstream(self):
        with NodeService("be-plain") as backend, \
                NodeService("fe-untraced", downstream=backend.url) as frontend:
            before = self.daemon.scrape()
            node_send(frontend.url, N)  # no traceparent at all
            after = self.settle(before, "tg-fe-untraced", N)
            self.assertEqual(outcomes(before, after, "tg-fe-untraced"), {"untraced_upstream": N})
            self.assertEqual(outcomes(before, after, "tg-client"), {"origin": N})
            self.assertEqual(edges(before, after, "tg-fe-untraced"),
                             {(f"127.0.0.1:{backend.port}", "untraced_upstream"): N})

    def test_nginx_proxy_passthrough_and_strip(self):
        for strip, outcome in ((False, "passthrough"), (True, "dropped")):
            with self.subTest(strip=strip), NodeService("be-nginx") as backend:
                extra = f"location /api/ {{ proxy_pass http://127.0.0.1:{backend.port}/; proxy_http_version 1.1;"
                extra += ' proxy_set_header Connection ""; '
                if strip:
                    extra += 'proxy_set_header traceparent ""; '
                extra += "}"
                with tglib.Nginx(extra=extra) as nginx:
                    before = self.daemon.scrape()
                    node_send(f"http://127.0.0.1:{nginx.port}/api/x", N, "--new-trace-each")
                    after = self.settle(before, tglib.Nginx.COMM, N)
                    self.assertEqual(outcomes(before, after, tglib.Nginx.COMM), {outcome: N})
                    # nginx names the upstream as proxy_pass does ($proxy_host).
                    self.assertEqual(edges(before, after, tglib.Nginx.COMM),
                                     {(f"127.0.0.1:{backend.port}", outcome): N})
                    want_ctx = "missing" if strip else "valid"
                    self.assertEqual(after.delta(before, REQ, comm="tg-be-nginx", direction="inbound",
                                                 context=want_ctx), N)

    def test_thread_per_request_attribution_is_exact(self):
        with NodeService("be-threads") as backend:
            for mode, want in (("propagate", {"propagated": 8}),
                               ("crosswire", {"propagated": 4, "restarted": 4})):
                with self.subTest(mode=mode):
                    port = tglib.free_port()
                    server = subprocess.Popen([tglib.PYTHON, "-c", peers.PY_THREADED_SERVER, str(port),
                                               str(backend.port), mode, "8"])
                    try:
                        tglib.wait_port(port)
                        before = self.daemon.scrape()
                        tglib.run_python(peers.PY_CONCURRENT_CLIENT, port, 8)
                        after = self.settle(before, "tg-pythreads", 8)
                        self.assertEqual(outcomes(before, after, "tg-pythreads"), want)
                    finally:
                        server.terminate()
                        server.wait()


class EdgeBounds(unittest.TestCase):
    """--max-edges and --series-idle-seconds with real curl requests: a new (client, server) pair
    past the limit is folded into server="_other" while every tracked pair is in use, and takes
    the place of the pair idle longest (whose series leave /metrics) once one has been idle long
    enough. Observed through the API (a Unix socket: not captured), so that the test's own scrapes
    add no edge; /metrics is scraped once, at the end."""

    TRACEPARENT = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    def edges(self, daemon):
        r = subprocess.run([tglib.TRACEGAP, "--socket", daemon.api_socket, "edges", "--all", "--json"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def curl_edges(self, doc):
        return {e["server"]: e["requests"] for e in doc["edges"] if e["client"] == "curl"}

    def wait_edges(self, daemon, want):
        deadline = time.monotonic() + 10
        while True:
            doc = self.edges(daemon)
            if self.curl_edges(doc) == want or time.monotonic() > deadline:
                return doc
            time.sleep(0.1)

    def send(self, url, host):
        tglib.curl(url, f"Host: {host}", self.TRACEPARENT)

    def test_full_table_folds_then_gives_an_idle_pairs_place(self):
        idle = 3
        # The daemon's start-up check scrapes /metrics once: that edge (the test process to the
        # daemon) is the first of the 3.
        with tglib.Daemon("--max-edges", "3", "--series-idle-seconds", str(idle)) as daemon, \
                tglib.Nginx() as nginx:
            url = f"http://127.0.0.1:{nginx.port}/"
            self.send(url, "a.test")
            self.send(url, "b.test")
            self.send(url, "c.test")  # full, nothing idle yet: folded
            doc = self.wait_edges(daemon, {"a.test": 1, "b.test": 1, "_other": 1})
            self.assertEqual(self.curl_edges(doc), {"a.test": 1, "b.test": 1, "_other": 1})
            self.assertEqual(doc["edges_tracked"], 3)
            self.assertEqual(doc["folded_requests"], 1)
            time.sleep(idle + 0.5)
            self.send(url, "b.test")  # in use again
            # The start-up scrape's edge is the idlest and goes first, then a.test.
            self.send(url, "c.test")
            self.send(url, "d.test")
            doc = self.wait_edges(daemon, {"b.test": 2, "c.test": 1, "d.test": 1, "_other": 1})
            self.assertEqual(self.curl_edges(doc), {"b.test": 2, "c.test": 1, "d.test": 1, "_other": 1})
            self.assertEqual(doc["edges_tracked"], 3)
            time.sleep(2.5)  # the gauges and the folded counter follow at housekeeping (2 s)
            m = daemon.scrape()
            self.assertEqual(tglib.deltas(tglib.Metrics({}), m, EDGE, ("server",), client="curl"),
                             {"b.test": 2, "c.test": 1, "d.test": 1, "_other": 1})
            self.assertEqual(m.get("tracegap_label_sets_reclaimed_total", kind="edge"), 2)
            self.assertEqual(m.get("tracegap_edge_requests_folded_total"), 1)
            self.assertEqual(m.get("tracegap_edges", state="tracked"), 3)
            self.assertEqual(m.get("tracegap_edges", state="limit"), 3)


if __name__ == "__main__":
    tglib.main()
