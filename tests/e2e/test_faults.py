"""End to end, under faults: a ring buffer that overflows during a burst, kill -9 and a restart,
hostile peers, and bad configuration. tracegapd must count what it cannot see (kernel drops,
parse errors, "unknown" verdicts), never turn a loss into a wrong verdict ("missing"), stay up
with bounded memory, classify exactly again afterwards, and fail to start with one clear line and
the documented exit code.

Every client and server here runs under a name of its own (`tgf-*`, through symlinks or
PR_SET_NAME), so that other traffic on a shared machine never enters an exact count."""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import grpc_peers
import tglib
from tglib import VALID_TP

REQ = "tracegap_requests_total"
OUT = "tracegap_outbound_total"
PARSE = "tracegap_parse_errors_total"
HPACK = "tracegap_hpack_errors_total"
DROPS = "tracegap_kernel_drops_total"
CONTEXTS = ("valid", "missing", "malformed", "unknown")
GAPS = ("dropped", "restarted", "mangled")
RSS_LIMIT_KIB = 64 * 1024

# A plain socket server named tgf-sink: answers 200 to every CRLFCRLF-terminated block it reads,
# one thread per connection; reads (and never answers) a connection that starts with the HTTP/2
# preface.
SINK = r"""
import ctypes, socket, sys, threading
ctypes.CDLL(None).prctl(15, b"tgf-sink", 0, 0, 0)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(64)
def serve(c):
    buf, first, h2 = b"", True, False
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            if first:
                h2, first = d.startswith(b"PRI "), False
            if h2:
                continue
            buf += d
            while b"\r\n\r\n" in buf:
                buf = buf.split(b"\r\n\r\n", 1)[1]
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            buf = buf[-3:]
    except OSError:
        pass
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

# A hostile client named tgf-hostile: sends the bytes of one case, half-closes, reads to EOF.
HOSTILE = r"""
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, b"tgf-hostile", 0, 0, 0)
port, case = int(sys.argv[1]), sys.argv[2]
TP = b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CASES = {
    # Bytes 0x80..0xff only: nothing in them starts like HTTP/1 (a method or "HTTP/1.") or like
    # an HTTP/2 SETTINGS frame, wherever a read splits them.
    "garbage": bytes(0x80 + (i * 37) % 128 for i in range(1 << 20)),
    "header_line_1mib": b"GET /big HTTP/1.1\r\nHost: x\r\n" + TP + b"X-Big: " + b"a" * (1 << 20) + b"\r\n\r\n",
    "headers_10k": b"GET /many HTTP/1.1\r\nHost: x\r\n" + TP
                   + b"".join(b"X-H%d: v\r\n" % i for i in range(10000)) + b"\r\n",
    "request_line_without_crlf": b"GET /nocrlf HTTP/1.1",
    "closed_after_traceparent": b"GET /mid HTTP/1.1\r\nHost: x\r\n" + TP + b"X-Partial: ab",
    "closed_before_traceparent": b"GET /before HTTP/1.1\r\nHost: x\r\n",
    "bad_target": b"GET /\x01 HTTP/1.1\r\nHost: x\r\n" + TP + b"\r\n",
    "bad_header_name": b"GET / HTTP/1.1\r\nBad Name: x\r\n" + TP + b"\r\n",
    "h2_preface_then_garbage": PREFACE + b"\xff" * 4096,
    # An empty SETTINGS frame, then HEADERS (stream 1, END_STREAM|END_HEADERS) whose block is
    # not HPACK.
    "h2_preface_then_bad_hpack": PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                                 + b"\x00\x00\x10\x01\x05\x00\x00\x00\x01" + b"\xff" * 16,
}
s = socket.create_connection(("127.0.0.1", port))
try:
    s.sendall(CASES[case])
    time.sleep(0.1)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(10)
    while s.recv(65536):
        pass
except OSError as e:
    print(f"tgf-hostile {case}: {e}")
s.close()
"""

# What each hostile case must add: requests per (comm, direction, context), and parse errors
# (http1, by reason) or HTTP/2 errors (by reason); nothing else may change in these families.
CLIENT_OUT = ("tgf-hostile", "outbound")
SINK_IN = ("tgf-sink", "inbound")
HOSTILE_CASES = {
    "garbage": ({}, {}, {}),
    "header_line_1mib": ({CLIENT_OUT + ("unknown",): 1, SINK_IN + ("unknown",): 1}, {"too_large": 2}, {}),
    "headers_10k": ({CLIENT_OUT + ("unknown",): 1, SINK_IN + ("unknown",): 1}, {"too_large": 2}, {}),
    "request_line_without_crlf": ({}, {"closed": 2}, {}),
    "closed_after_traceparent": ({CLIENT_OUT + ("unknown",): 1, SINK_IN + ("unknown",): 1}, {"closed": 2}, {}),
    "closed_before_traceparent": ({CLIENT_OUT + ("unknown",): 1, SINK_IN + ("unknown",): 1}, {"closed": 2}, {}),
    "bad_target": ({}, {"bad_target": 2}, {}),
    "bad_header_name": ({}, {"bad_header_name": 2}, {}),
    "h2_preface_then_garbage": ({}, {}, {"frame_size_exceeded": 2}),
    "h2_preface_then_bad_hpack": ({CLIENT_OUT + ("unknown",): 1, SINK_IN + ("unknown",): 1}, {},
                                  {"hpack_invalid": 2}),
}


# ------------------------------------------------------------------------------------------------
# Helpers

def contexts(before, after, comm, direction, protocol=None):
    extra = {"protocol": protocol} if protocol else {}
    return {c: int(after.delta(before, REQ, comm=comm, direction=direction, context=c, **extra))
            for c in CONTEXTS}


def outcomes(before, after, comm):
    names = ("origin", "untraced_upstream", "propagated", "passthrough", "dropped", "restarted",
             "mangled", "unknown")
    return {o: int(after.delta(before, OUT, comm=comm, outcome=o)) for o in names
            if after.delta(before, OUT, comm=comm, outcome=o)}


def by_label(before, after, name, label):
    """{label value: delta} of family `name`, for the values that changed."""
    out = {}
    for (n, labels), v in after.samples.items():
        if n != name:
            continue
        d = v - before.samples.get((n, labels), 0.0)
        if d:
            out[dict(labels)[label]] = int(d)
    return out


def send_batch(url, comm, with_context, without_context):
    curl = tglib.named("curl", comm)
    for i in range(with_context + without_context):
        cmd = [curl, "-sS", "-o", "/dev/null", "--max-time", "10"]
        if i < with_context:
            cmd += ["-H", f"traceparent: {VALID_TP}"]
        subprocess.run(cmd + [url], check=True)


def run_daemon(*args, timeout=30):
    return subprocess.run([tglib.TRACEGAPD, *args], capture_output=True, text=True, timeout=timeout)


def bpftool_ids(kind):
    """{id: object} of every BPF `kind` (prog, link, map) loaded on the machine."""
    r = subprocess.run(["bpftool", "--json", kind, "show"], capture_output=True, text=True,
                       timeout=30, check=True)
    return {o["id"]: o for o in json.loads(r.stdout or "[]")}


# ------------------------------------------------------------------------------------------------

def burst_with_stall(test, d, url, seconds=4):
    """wrk (comm tgf-wrk, 64 keep-alive connections, every request with a valid traceparent and
    3 KB of padding) for `seconds`; tracegapd is stopped (SIGSTOP) from one second before the end
    until wrk has exited, so that the ring buffer overflows and the close events of wrk's
    connections are lost with the rest. Returns the number of requests wrk completed."""
    wrk = subprocess.Popen([tglib.named("wrk", "tgf-wrk"), "-t2", "-c64", f"-d{seconds}s", "--timeout", "10s",
                            "-H", f"traceparent: {VALID_TP}", "-H", "X-Pad: " + "p" * 3000, url],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(seconds - 1)
        os.kill(d.proc.pid, signal.SIGSTOP)
        out, _ = wrk.communicate(timeout=60)
        time.sleep(0.3)
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    test.assertEqual(wrk.returncode, 0, out)
    m = re.search(r"(\d+) requests in", out)
    test.assertIsNotNone(m, out)
    return int(m.group(1))


class RingBufferOverflow(unittest.TestCase):
    def test_burst_into_tiny_ring_buffer(self):
        """A 64 KiB ring buffer read once a second, a burst of keep-alive requests that all carry a
        valid traceparent (and 3 KB of other headers), and the daemon stalled (SIGSTOP) from the
        last second of the burst until the client has closed its connections: events are lost and
        counted, no request becomes "missing" or a gap, the connections whose close events were
        lost are let go, and a fresh batch afterwards is classified exactly."""
        with tglib.Daemon("--ring-buffer-bytes", "65536", "--poll-interval-ms", "1000") as d, \
                tglib.Nginx(comm="tgf-nginx") as nginx:
            url = f"http://127.0.0.1:{nginx.port}/"
            before = d.wait_for(lambda m: m.get("tracegap_connections_tracked") <= 32, timeout=10)
            tracked_before = before.get("tracegap_connections_tracked")
            completed = burst_with_stall(self, d, url)

            # Let the daemon drain: the counts stop moving.
            def snapshot(metrics):
                return (contexts(before, metrics, "tgf-wrk", "outbound"),
                        contexts(before, metrics, "tgf-nginx", "inbound"))
            after, last, deadline = d.scrape(), None, time.monotonic() + 30
            while snapshot(after) != last and time.monotonic() < deadline:
                last = snapshot(after)
                time.sleep(2.5)
                after = d.scrape()
            client, server = snapshot(after)
            drops = after.delta(before, DROPS, reason="ringbuf_full")
            print(f"wrk completed {completed} requests; ringbuf_full drops {drops:.0f}; "
                  f"client {client}; server {server}; outcomes {outcomes(before, after, 'tgf-wrk')}")
            self.assertGreater(drops, 0, "the burst must overflow a 64 KiB ring buffer")
            self.assertIn("kernel ring buffer full", d.output())
            for side in (client, server):
                self.assertEqual(side["missing"], 0, "a lost event must never make a request missing")
                self.assertEqual(side["malformed"], 0)
                self.assertGreater(side["valid"], 0)
                # Requests whose events were lost are unknown or not counted, never counted twice.
                self.assertLessEqual(side["valid"] + side["unknown"], completed + 64)
            got = outcomes(before, after, "tgf-wrk")
            self.assertEqual(set(got) - {"origin", "unknown"}, set(), got)
            self.assertEqual(sum(got.values()), client["valid"] + client["unknown"])

            # The 128 sockets of the burst are closed, but most of their close events were lost
            # with the rest: the daemon must let their state go all the same.
            settled = d.wait_for(lambda m: m.get("tracegap_connections_tracked") <= tracked_before + 32,
                                 timeout=30)
            print(f"connections tracked: {tracked_before:.0f} before the burst, "
                  f"{settled.get('tracegap_connections_tracked'):.0f} after")
            self.assertLessEqual(settled.get("tracegap_connections_tracked"), tracked_before + 32)
            self.assertIn("closed connections whose close events were lost", d.output())

            # Afterwards: exact again. A batch counts only if no event was lost during it, nor in
            # the 1.5 s before it (losses make "origin" decisions "unknown" for linger + 1 s); on a
            # busy machine other processes' traffic may still overflow the small ring.
            for attempt in range(1, 6):
                quiet = d.scrape()
                time.sleep(1.5)
                start = d.scrape()
                if start.get(DROPS, reason="ringbuf_full") != quiet.get(DROPS, reason="ringbuf_full"):
                    continue
                send_batch(url, "tgf-after", 10, 10)
                want = {"valid": 10, "missing": 10, "malformed": 0, "unknown": 0}
                end = d.wait_for(lambda m: contexts(start, m, "tgf-after", "outbound") == want
                                 and contexts(start, m, "tgf-nginx", "inbound") == want, timeout=20)
                if end.get(DROPS, reason="ringbuf_full") != start.get(DROPS, reason="ringbuf_full"):
                    print(f"batch {attempt}: events lost meanwhile (other traffic); again")
                    continue
                self.assertEqual(contexts(start, end, "tgf-after", "outbound"), want)
                self.assertEqual(contexts(start, end, "tgf-nginx", "inbound"), want)
                self.assertEqual(outcomes(start, end, "tgf-after"), {"origin": 20})
                break
            else:
                self.fail("five batches in a row lost events: the machine's other traffic keeps a "
                          "64 KiB ring buffer full")

    def test_idle_http2_connection_lives_through_a_loss(self):
        """Letting go of connections after a loss must spare the live ones: a gRPC channel (HTTP/2,
        HPACK state that cannot be rebuilt) idle during the loss and the check that follows it is
        still decoded afterwards."""
        with tglib.Daemon("--ring-buffer-bytes", "65536", "--poll-interval-ms", "1000") as d, \
                tglib.Nginx(comm="tgf-nginx") as nginx, grpc_peers.PyGrpcServer() as server:
            srv, cli = "tg-pygrpc-srv", "tg-pygrpc-cli"
            before = d.scrape()
            # Two calls with a traceparent, then it waits on stdin, channel open, for two more.
            client = subprocess.Popen([tglib.PYTHON, "-c", grpc_peers.PY_GRPC_CLIENT, str(server.port),
                                       "2", "0", "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                self.assertEqual(client.stdout.readline().strip(), "waiting")
                first = {"valid": 2, "missing": 0, "malformed": 0, "unknown": 0}
                m = d.wait_for(lambda m: contexts(before, m, srv, "inbound", "grpc") == first)
                self.assertEqual(contexts(before, m, srv, "inbound", "grpc"), first)

                burst_with_stall(self, d, f"http://127.0.0.1:{nginx.port}/", seconds=3)
                deadline = time.monotonic() + 30
                while "closed connections whose close events were lost" not in d.output() \
                        and time.monotonic() < deadline:
                    time.sleep(0.2)
                self.assertIn("closed connections whose close events were lost", d.output())

                mid = d.scrape()
                client.stdin.write("go\n")
                client.stdin.flush()
                summary = json.loads(client.stdout.readline())
                self.assertEqual(summary["failed"], 0, summary)
                after_want = {"valid": 2, "missing": 0, "malformed": 0, "unknown": 0}
                after = d.wait_for(lambda m: contexts(mid, m, srv, "inbound", "grpc") == after_want
                                   and contexts(mid, m, cli, "outbound", "grpc") == after_want)
                self.assertEqual(contexts(mid, after, srv, "inbound", "grpc"), after_want)
                self.assertEqual(contexts(mid, after, cli, "outbound", "grpc"), after_want)
                # A decoder wrongly started afresh would fail on the channel's indexed fields.
                self.assertNotIn("hpack_invalid", by_label(mid, after, HPACK, "reason"))
            finally:
                client.stdin.close()
                client.wait(timeout=30)
                client.stdout.close()


class KillAndRestart(unittest.TestCase):
    def test_kill_9_leaves_no_bpf_objects_and_a_restart_starts_afresh(self):
        with tglib.Nginx(comm="tgf-nginx") as nginx:
            url = f"http://127.0.0.1:{nginx.port}/"
            d1 = tglib.Daemon().__enter__()
            try:
                pid = d1.proc.pid
                progs, links, maps = (tglib.bpf_fd_ids(pid, k) for k in ("prog_id", "link_id", "map_id"))
                found = re.search(r"capturing: (\d+) tracepoints and (\d+) uprobes attached", d1.output())
                attached = int(found.group(1)) + int(found.group(2))
                self.assertEqual(len(links), attached)
                loaded = bpftool_ids("prog")
                self.assertTrue(progs and progs <= set(loaded), "bpftool must list the daemon's programs")
                self.assertTrue(all(loaded[p]["name"].startswith(("tracepoint__", "tp_btf__", "tg_tls_"))
                                    for p in progs),
                                [loaded[p]["name"] for p in progs])
                self.assertLessEqual(links, set(bpftool_ids("link")))
                self.assertLessEqual(maps, set(bpftool_ids("map")))
                before = d1.scrape()
                send_batch(url, "tgf-before", 1, 0)
                m = d1.wait_for(lambda m: m.delta(before, REQ, comm="tgf-before", context="valid") == 2)
                self.assertEqual(contexts(before, m, "tgf-before", "outbound")["valid"], 1)
                listed = json.loads(subprocess.run(
                    [tglib.TRACEGAP, "--socket", d1.api_socket, "processes", "--all", "--json"],
                    capture_output=True, text=True, check=True).stdout)["processes"]
                old_pids = [p["pid"] for p in listed if p["comm"] == "tgf-before"]
                self.assertEqual(len(old_pids), 1)
                d1.proc.kill()
                self.assertEqual(d1.proc.wait(timeout=10), -signal.SIGKILL)
            finally:
                if d1.proc.poll() is None:
                    d1.proc.kill()
                    d1.proc.wait()
                d1.log.close()

            # The kernel frees programs, links and maps once their last fd is gone: nothing of
            # tracegapd is pinned or otherwise kept.
            deadline = time.monotonic() + 10
            while True:
                left = {k: ids & set(bpftool_ids(k)) for k, ids in (("prog", progs), ("link", links), ("map", maps))}
                if not any(left.values()) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual(left, {"prog": set(), "link": set(), "map": set()},
                             "BPF objects of the killed tracegapd are still loaded")
            # kill -9 leaves the API socket file behind; the next daemon replaces it.
            self.assertTrue(stat.S_ISSOCK(os.lstat(d1.api_socket).st_mode))

            d2 = tglib.Daemon()
            d2.port, d2.api_socket = d1.port, d1.api_socket  # the same port and socket, at once
            with d2:
                self.assertIn("removed the stale API socket", d2.output())
                new_progs = tglib.bpf_fd_ids(d2.proc.pid, "prog_id")
                self.assertTrue(new_progs and not new_progs & progs)
                before = d2.scrape()
                # Nothing survives: no count, no process of the killed daemon.
                self.assertEqual(before.get(REQ, comm="tgf-before"), 0)
                r = subprocess.run([tglib.TRACEGAP, "--socket", d2.api_socket, "process", str(old_pids[0])],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
                send_batch(url, "tgf-after", 2, 1)
                want = {"valid": 2, "missing": 1, "malformed": 0, "unknown": 0}
                after = d2.wait_for(lambda m: contexts(before, m, "tgf-after", "outbound") == want
                                    and contexts(before, m, "tgf-nginx", "inbound") == want)
                self.assertEqual(contexts(before, after, "tgf-after", "outbound"), want)
                self.assertEqual(contexts(before, after, "tgf-nginx", "inbound"), want)
                status = json.loads(subprocess.run(
                    [tglib.TRACEGAP, "--socket", d2.api_socket, "status", "--json"],
                    capture_output=True, text=True, check=True).stdout)
                self.assertLess(status["uptime_seconds"], 60)
            self.assertEqual(d2.exit_code, 0)


class HostilePeers(unittest.TestCase):
    def test_hostile_peers(self):
        """Each hostile case adds exactly its requests (never "valid" or "missing" for headers that
        were not read in full) and its parse or HTTP/2 errors; the daemon stays up with bounded
        memory, and well-formed requests afterwards are counted exactly."""
        with tglib.Daemon() as d, tglib.Nginx(comm="tgf-nginx") as nginx:
            port = tglib.free_port()
            sink = subprocess.Popen([tglib.PYTHON, "-c", SINK, str(port)])
            try:
                tglib.wait_port(port)
                for case, (requests, parse_errors, h2_errors) in HOSTILE_CASES.items():
                    with self.subTest(case=case):
                        before = d.scrape()
                        tglib.run_python(HOSTILE, port, case, timeout=60)

                        def observed(m):
                            reqs = {}
                            for comm, direction in (CLIENT_OUT, SINK_IN):
                                for ctx, n in contexts(before, m, comm, direction).items():
                                    if n:
                                        reqs[(comm, direction, ctx)] = n
                            return (reqs, by_label(before, m, PARSE, "reason"), by_label(before, m, HPACK, "reason"))
                        want = (requests, parse_errors, h2_errors)
                        # Every case ends with both sockets closing; give the close events time.
                        after = d.wait_for(lambda m: observed(m) == want, timeout=10)
                        time.sleep(0.5)
                        after = d.scrape()
                        self.assertEqual(observed(after), want)
                        self.assertIsNone(d.proc.poll(), "tracegapd died")
                        rss = tglib.rss_kib(d.proc.pid)
                        self.assertLess(rss, RSS_LIMIT_KIB, f"tracegapd RSS {rss} KiB after {case}")
                print(f"tracegapd RSS after the hostile cases: {tglib.rss_kib(d.proc.pid)} KiB")

                # Still exact afterwards, for a plain socket server and for nginx.
                before = d.scrape()
                send_batch(f"http://127.0.0.1:{port}/", "tgf-after", 3, 2)
                send_batch(f"http://127.0.0.1:{nginx.port}/", "tgf-after", 3, 2)
                want_side = {"valid": 3, "missing": 2, "malformed": 0, "unknown": 0}
                want_client = {"valid": 6, "missing": 4, "malformed": 0, "unknown": 0}
                after = d.wait_for(lambda m: contexts(before, m, "tgf-after", "outbound") == want_client
                                   and contexts(before, m, "tgf-sink", "inbound") == want_side
                                   and contexts(before, m, "tgf-nginx", "inbound") == want_side)
                self.assertEqual(contexts(before, after, "tgf-after", "outbound"), want_client)
                self.assertEqual(contexts(before, after, "tgf-sink", "inbound"), want_side)
                self.assertEqual(contexts(before, after, "tgf-nginx", "inbound"), want_side)
                self.assertEqual(outcomes(before, after, "tgf-after"), {"origin": 10})
            finally:
                sink.kill()
                sink.wait()


# A client that renames itself (prctl PR_SET_NAME, as any process may) and sends one request.
RENAMED_CLIENT = r"""
import ctypes, sys, urllib.request
name = bytes.fromhex(sys.argv[2])
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers={"traceparent": sys.argv[3]})).read()
"""


class HostileNames(unittest.TestCase):
    def test_process_names_cannot_break_or_flood_the_exposition(self):
        """A comm with invalid UTF-8 and control bytes is exported as printable UTF-8 (one bad byte
        would make Prometheus reject every scrape), and --max-metric-processes bounds the number of
        comm series: later processes count under comm="_other"."""
        with tglib.Daemon("--max-metric-processes", "3") as d, tglib.Nginx(comm="tgf-nginx") as nginx:
            url = f"http://127.0.0.1:{nginx.port}/"
            tglib.run_python(RENAMED_CLIENT, url, b"tgf-\xff\x1b[1m".hex(), tglib.VALID_TP)
            after = d.wait_for(lambda m: m.get(REQ, comm="tgf-??[1m", direction="outbound") == 1)
            self.assertEqual(after.get(REQ, comm="tgf-??[1m", direction="outbound", context="valid"), 1)
            text = d.scrape_text()
            r = subprocess.run(["promtool", "check", "metrics"], input=text, text=True, capture_output=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

            for i in range(5):
                tglib.run_python(RENAMED_CLIENT, url, f"tgf-c{i}".encode().hex(), tglib.VALID_TP)

            def outbound_of_clients(m):
                named = sum(m.get(REQ, comm=f"tgf-c{i}", direction="outbound") for i in range(5))
                return named, m.get(REQ, comm="_other", direction="outbound")
            after = d.wait_for(lambda m: sum(outbound_of_clients(m)) >= 5)
            named, other = outbound_of_clients(after)
            self.assertLessEqual(named, 1, "at most one of the five clients fits under the cap of 3")
            self.assertGreaterEqual(named + other, 5)
            comms = {dict(labels).get("comm") for (name, labels) in tglib.parse_metrics(d.scrape_text())
                     if name == REQ and dict(labels).get("comm") != "_other"}
            self.assertLessEqual(len(comms), 3, comms)


class BadConfiguration(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tg-faults-conf-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def config(self, text, name="tracegapd.conf"):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        return path

    def test_bad_config_files_and_options_exit_2(self):
        cases = [
            (["--config", self.config("bogus-option = 1\n", "a.conf")], ["bogus-option"]),
            (["--config", self.config("this line has no equals sign\n", "b.conf")], [os.path.join(self.dir, "b.conf")]),
            (["--config", self.config("max-connections = lots\n", "c.conf")], ["max-connections"]),
            (["--config", self.config("max-connections = -5\n", "d.conf")], ["max-connections"]),
            (["--config", self.config("ring-buffer-bytes = 100000\n", "e.conf")], ["--ring-buffer-bytes"]),
            (["--config", self.config("linger-ms = 1\nlinger-ms = 2\n", "f.conf")], ["linger-ms"]),
            (["--config", self.config("poll-interval-ms = 0\n", "g.conf")], ["--poll-interval-ms"]),
            (["--config", self.config(b"\x00\xff\xfe\n", "h.conf")], [os.path.join(self.dir, "h.conf")]),
            (["--config", self.dir], [self.dir]),  # a directory is not a config file
            (["--config", os.path.join(self.dir, "missing.conf")], [os.path.join(self.dir, "missing.conf")]),
            (["--listen", "nonsense"], ["--listen"]),
            (["--listen", "127.0.0.1:99999"], ["--listen"]),
            (["--listen", "127.0.0.1:http"], ["--listen"]),
            (["--max-connections", "8"], ["--max-connections"]),
            (["--api-socket", "/tmp/" + "x" * 120], ["--api-socket"]),
            (["--metrics-basic-auth", os.path.join(self.dir, "no-such-file")],
             [os.path.join(self.dir, "no-such-file")]),
        ]
        for args, needles in cases:
            with self.subTest(args=args):
                # A free port and a private socket, in case a bad option were accepted.
                safe = ["--api-socket", os.path.join(self.dir, "api.sock")]
                if "--listen" not in args:
                    safe += ["--listen", f"127.0.0.1:{tglib.free_port()}"]
                r = run_daemon(*safe, *args, timeout=10)
                tglib.assert_one_line(self, r, 2, *needles)

    def test_api_socket_failures_exit_8(self):
        regular = self.config("not a socket\n", "regular.sock")
        with tglib.Daemon() as other:
            cases = [
                ("/proc/nope/api.sock", ["/proc/nope/api.sock"]),  # its directory cannot exist
                (regular, [regular, "not a socket"]),
                (other.api_socket, [other.api_socket, "another tracegapd"]),
            ]
            for path, needles in cases:
                with self.subTest(path=path):
                    r = run_daemon("--listen", f"127.0.0.1:{tglib.free_port()}", "--api-socket", path)
                    tglib.assert_one_line(self, r, 8, *needles)
            # The live daemon's socket was left alone.
            self.assertEqual(subprocess.run([tglib.TRACEGAP, "--socket", other.api_socket, "status"],
                                            capture_output=True).returncode, 0)
        with open(regular) as f:
            self.assertEqual(f.read(), "not a socket\n")

    def test_metrics_port_in_use_exit_8(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            api = os.path.join(self.dir, "api.sock")
            r = run_daemon("--listen", f"127.0.0.1:{port}", "--api-socket", api)
            tglib.assert_one_line(self, r, 8, f"127.0.0.1:{port}")
            self.assertFalse(os.path.exists(api), "a daemon that cannot listen must not leave its API socket")


if __name__ == "__main__":
    tglib.main()
