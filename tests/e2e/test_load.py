"""End to end, under load: 100k short connections and hundreds of short-lived processes leave
tracegapd's state bounded (connections tracked in the daemon and in the kernel return to the
baseline, the process table stays within --max-processes, RSS does not grow), every request is
still counted exactly, and a new process or a reused pid gets fresh state.

Every client and server here runs under a name of its own (`tgl-*`, through symlinks or
PR_SET_NAME), so that other traffic on a shared machine never enters an exact count."""
import concurrent.futures
import json
import os
import subprocess
import threading
import time
import unittest

import tglib
from tglib import VALID_TP

REQ = "tracegap_requests_total"
OUT = "tracegap_outbound_total"
MAX_PROCESSES = 64
RSS_SLACK_KIB = 4096  # allocator noise; a leak of per-connection or per-process state is far more

# N short connections from P processes (comm tgl-short): connect, one GET with "Connection:
# close" (nginx closes first, so TIME_WAIT stays on its side and client ports are free at once),
# read to EOF, close. Every other request carries a valid traceparent. Prints one JSON line.
SHORT_CLIENT = r"""
import ctypes, json, os, socket, sys, time
ctypes.CDLL(None).prctl(15, b"tgl-short", 0, 0, 0)
port, total, procs, deadline = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
TP = b"traceparent: " + sys.argv[5].encode() + b"\r\n"
REQS = (b"GET /s HTTP/1.1\r\nHost: x\r\n" + TP + b"Connection: close\r\n\r\n",
        b"GET /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
def worker(n, fd):
    sent, errors, end = [0, 0], 0, time.monotonic() + deadline
    for i in range(n):
        if time.monotonic() > end:
            break
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(REQS[i & 1])
            sent[i & 1] += 1
            while s.recv(4096):
                pass
        except OSError:
            errors += 1
        finally:
            s.close()
    os.write(fd, (json.dumps({"with": sent[0], "without": sent[1], "errors": errors}) + "\n").encode())
r, w = os.pipe()
kids = []
for k in range(procs):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        worker(total // procs, w)
        os._exit(0)
    kids.append(pid)
os.close(w)
for pid in kids:
    os.waitpid(pid, 0)
res = [json.loads(line) for line in os.fdopen(r).read().splitlines()]
print(json.dumps({k: sum(x[k] for x in res) for k in ("with", "without", "errors")}))
"""

# A thread-per-request HTTP/1.1 server under the name argv[2].
NAMED_SERVER = r"""
import ctypes, http.server, sys
ctypes.CDLL(None).prctl(15, sys.argv[2].encode(), 0, 0, 0)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

# One GET to argv[1] under the name argv[2], then exit.
ONE_GET = r"""
import ctypes, sys, urllib.request
ctypes.CDLL(None).prctl(15, sys.argv[2].encode(), 0, 0, 0)
urllib.request.urlopen(sys.argv[1], timeout=10).read()
"""

# As tgl-fresh: 3 GETs to argv[1] with traceparent argv[2], then 2 without.
FRESH_CLIENT = r"""
import ctypes, sys, urllib.request
ctypes.CDLL(None).prctl(15, b"tgl-fresh", 0, 0, 0)
for i in range(5):
    headers = {"traceparent": sys.argv[2]} if i < 3 else {}
    urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers=headers), timeout=10).read()
"""


# ------------------------------------------------------------------------------------------------
# Helpers

def start_time(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def cli(daemon, *args):
    r = subprocess.run([tglib.TRACEGAP, "--socket", daemon.api_socket, *args],
                       capture_output=True, text=True, timeout=20)
    return r


def cli_json(daemon, *args):
    r = cli(daemon, *args, "--json")
    if r.returncode != 0:
        raise AssertionError(f"tracegap {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


def tg_conns_entries(daemon):
    """Entries of this daemon's kernel connection map (tg_conns), read with bpftool."""
    for map_id in sorted(tglib.bpf_fd_ids(daemon.proc.pid, "map_id")):
        r = subprocess.run(["bpftool", "--json", "map", "show", "id", str(map_id)],
                           capture_output=True, text=True, timeout=20)
        if r.returncode == 0 and json.loads(r.stdout).get("name") == "tg_conns":
            d = subprocess.run(["bpftool", "--json", "map", "dump", "id", str(map_id)],
                               capture_output=True, text=True, timeout=60, check=True)
            return len(json.loads(d.stdout))
    raise AssertionError("tracegapd holds no map named tg_conns")


def contexts(before, after, comm, direction):
    return {c: int(after.delta(before, REQ, comm=comm, direction=direction, context=c))
            for c in ("valid", "missing", "malformed", "unknown")}


def outcomes(before, after, comm):
    names = ("origin", "untraced_upstream", "propagated", "passthrough", "dropped", "restarted",
             "mangled", "unknown")
    return {o: int(after.delta(before, OUT, comm=comm, outcome=o)) for o in names
            if after.delta(before, OUT, comm=comm, outcome=o)}


def short_connections(port, total, procs=4, deadline=90):
    r = subprocess.run([tglib.PYTHON, "-c", SHORT_CLIENT, str(port), str(total), str(procs),
                        str(deadline), VALID_TP], capture_output=True, text=True, timeout=deadline + 60)
    if r.returncode != 0:
        raise AssertionError(f"short-connection client failed: {r.stderr}")
    return json.loads(r.stdout)


class ProcessTableWatch:
    """Polls `tracegap status --json` in the background and keeps the largest processes_tracked."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.max_seen = 0
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.wait(0.2):
            r = cli(self.daemon, "status", "--json")
            if r.returncode == 0:
                self.max_seen = max(self.max_seen, json.loads(r.stdout)["processes_tracked"])
                self.samples += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        return False


def spawn_with_pid(pid, argv, attempts=200):
    """Starts argv as process `pid` (free, exited earlier) by setting ns_last_pid just before the
    fork; retries when another process on the machine takes the pid first. None if it cannot."""
    for _ in range(attempts):
        if os.path.exists(f"/proc/{pid}"):
            return None
        try:
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(pid - 1))
        except OSError:
            return None
        p = subprocess.Popen(argv)
        if p.pid == pid:
            return p
        p.kill()
        p.wait()
    return None


# ------------------------------------------------------------------------------------------------

class Load(unittest.TestCase):
    def test_100k_short_connections(self):
        # A generous ring buffer: exact counts need no event lost, whatever else the shared
        # machine runs (ring buffer overflow has its own test in test_faults.py).
        with tglib.Daemon("--max-processes", str(MAX_PROCESSES), "--ring-buffer-bytes", str(32 << 20)) as d, \
                tglib.Nginx(comm="tgl-nginx", worker_connections=4096) as nginx:
            # Warm-up: allocator pools, metric series and maps reach their working size.
            warm = short_connections(nginx.port, 10000)
            self.assertEqual(warm["errors"], 0, warm)
            d.wait_for(lambda m: m.get(REQ, comm="tgl-short", direction="outbound") >= 10000, timeout=60)
            base = d.wait_for(lambda m: m.get("tracegap_connections_tracked") <= 64, timeout=20)
            tracked_base = base.get("tracegap_connections_tracked")
            kernel_base = tg_conns_entries(d)
            rss_warm = tglib.rss_kib(d.proc.pid)

            start = time.monotonic()
            with ProcessTableWatch(d) as watch:
                load = short_connections(nginx.port, 100000)
                elapsed = time.monotonic() - start
                self.assertEqual(load["errors"], 0, load)
                self.assertEqual(load["with"] + load["without"], 100000, load)
                want = {"valid": load["with"], "missing": load["without"], "malformed": 0, "unknown": 0}
                after = d.wait_for(lambda m: contexts(base, m, "tgl-nginx", "inbound") == want
                                   and contexts(base, m, "tgl-short", "outbound") == want, timeout=60)
            print(f"100k short connections in {elapsed:.1f}s; tracked before {tracked_base:.0f}, "
                  f"kernel tg_conns before {kernel_base}; RSS after warm-up {rss_warm} KiB")
            self.assertEqual(after.get("tracegap_kernel_drops_total"), 0, "no kernel drops expected")
            self.assertEqual(contexts(base, after, "tgl-short", "outbound"), want)
            self.assertEqual(contexts(base, after, "tgl-nginx", "inbound"), want)
            self.assertEqual(outcomes(base, after, "tgl-short"), {"origin": 100000})

            # Every connection closed: the daemon's and the kernel's connection state goes back
            # to what it was (other processes on the machine keep a few connections open).
            settled = d.wait_for(lambda m: m.get("tracegap_connections_tracked") <= tracked_base + 64, timeout=30)
            tracked = settled.get("tracegap_connections_tracked")
            kernel = tg_conns_entries(d)
            rss_after = tglib.rss_kib(d.proc.pid)
            print(f"after: tracked {tracked:.0f}, kernel tg_conns {kernel}, RSS {rss_after} KiB "
                  f"(max processes_tracked seen {watch.max_seen} in {watch.samples} samples)")
            self.assertLessEqual(tracked, tracked_base + 64)
            self.assertLessEqual(kernel, kernel_base + 64)
            self.assertLessEqual(rss_after, rss_warm + RSS_SLACK_KIB, "tracegapd RSS grew with the load")
            self.assertGreater(watch.samples, 0)
            self.assertLessEqual(watch.max_seen, MAX_PROCESSES)
            self.assertIsNone(d.proc.poll())

    def test_500_short_lived_processes(self):
        with tglib.Daemon("--max-processes", str(MAX_PROCESSES)) as d, tglib.Nginx(comm="tgl-nginx", worker_connections=4096) as nginx:
            curl = tglib.named("curl", "tgl-curl")
            url = f"http://127.0.0.1:{nginx.port}/p"
            pids = []

            def one(_):
                p = subprocess.Popen([curl, "-sS", "-o", "/dev/null", "--max-time", "10",
                                      "-H", f"traceparent: {VALID_TP}", url])
                pids.append(p.pid)
                return p.wait()

            def run(n):
                with concurrent.futures.ThreadPoolExecutor(8) as pool:
                    self.assertEqual(set(pool.map(one, range(n))), {0})

            before = d.scrape()
            run(50)  # warm-up
            d.wait_for(lambda m: m.delta(before, REQ, comm="tgl-curl", direction="outbound") >= 50, timeout=30)
            time.sleep(2.5)  # one housekeeping pass
            rss_warm = tglib.rss_kib(d.proc.pid)
            start = time.monotonic()
            with ProcessTableWatch(d) as watch:
                run(500)
                elapsed = time.monotonic() - start
                want = {"valid": 550, "missing": 0, "malformed": 0, "unknown": 0}
                after = d.wait_for(lambda m: contexts(before, m, "tgl-curl", "outbound") == want
                                   and contexts(before, m, "tgl-nginx", "inbound") == want, timeout=30)
                time.sleep(2.5)  # a housekeeping pass after the last exit
            self.assertEqual(len(set(pids)), 550)
            self.assertEqual(contexts(before, after, "tgl-curl", "outbound"), want)
            self.assertEqual(contexts(before, after, "tgl-nginx", "inbound"), want)
            self.assertEqual(outcomes(before, after, "tgl-curl"), {"origin": 550})

            status = cli_json(d, "status")
            listed = cli_json(d, "processes", "--all")["processes"]
            rss_after = tglib.rss_kib(d.proc.pid)
            print(f"500 curl processes in {elapsed:.1f}s; processes_tracked {status['processes_tracked']}, "
                  f"listed {len(listed)}, max seen {watch.max_seen} ({watch.samples} samples); "
                  f"RSS {rss_warm} -> {rss_after} KiB")
            self.assertLessEqual(status["processes_tracked"], MAX_PROCESSES)
            self.assertLessEqual(len(listed), MAX_PROCESSES)
            self.assertGreater(watch.samples, 0)
            self.assertLessEqual(watch.max_seen, MAX_PROCESSES)
            self.assertLessEqual(rss_after, rss_warm + RSS_SLACK_KIB, "tracegapd RSS grew with the processes")

            # Fresh state after the flood: a new server's inbound counts and a new client's
            # outcomes are exact, in /metrics and in the API.
            port = tglib.free_port()
            server = subprocess.Popen([tglib.PYTHON, "-c", NAMED_SERVER, str(port), "tgl-server"])
            try:
                tglib.wait_port(port)
                before = d.scrape()
                self.send_fresh(port)
                want = {"valid": 3, "missing": 2, "malformed": 0, "unknown": 0}
                after = d.wait_for(lambda m: contexts(before, m, "tgl-server", "inbound") == want
                                   and contexts(before, m, "tgl-fresh", "outbound") == want)
                self.assertEqual(contexts(before, after, "tgl-server", "inbound"), want)
                self.assertEqual(contexts(before, after, "tgl-fresh", "outbound"), want)
                self.assertEqual(outcomes(before, after, "tgl-fresh"), {"origin": 5})
                detail = cli_json(d, "process", str(server.pid))
                self.assertEqual(detail["comm"], "tgl-server")
                self.assertEqual(detail["inbound"], want)
                self.assertEqual(detail["start_time"], start_time(server.pid))
                self.assertFalse(detail["exited"])
            finally:
                server.terminate()
                server.wait()

    def send_fresh(self, port):
        """3 requests with a valid traceparent and 2 without, from a process named tgl-fresh."""
        tglib.run_python(FRESH_CLIENT, f"http://127.0.0.1:{port}/fresh", VALID_TP)

    def test_reused_pid_after_eviction_gets_fresh_identity(self):
        """A process evicted from the table (--max-processes) and gone: a new process that gets its
        pid must be identified afresh (its own start time and exe), live, with exact counts, and
        must stay live after the daemon's next check of exited processes."""
        with tglib.Daemon("--max-processes", "8") as d, tglib.Nginx(comm="tgl-nginx", worker_connections=4096) as nginx:
            url = f"http://127.0.0.1:{nginx.port}/old"
            old = subprocess.Popen([tglib.PYTHON, "-c", ONE_GET + "\nimport time; time.sleep(1)\n", url, "tgl-old"])
            pid = old.pid
            deadline = time.monotonic() + 10
            while cli(d, "process", str(pid)).returncode != 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(cli(d, "process", str(pid)).returncode, 0, "the first process was never seen")
            old.wait()
            # Twelve other processes push it out of the 8-entry table.
            for i in range(12):
                tglib.run_python(ONE_GET, url, f"tgl-evict{i}")
            deadline = time.monotonic() + 10
            while cli(d, "process", str(pid)).returncode != 4 and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(cli(d, "process", str(pid)).returncode, 4, "the first process was not evicted")
            time.sleep(2.5)  # the daemon's check of exited processes runs every 2 s

            port = tglib.free_port()
            server = spawn_with_pid(pid, [tglib.PYTHON, "-c", NAMED_SERVER, str(port), "tgl-reuse"])
            if server is None:
                self.skipTest(f"could not start a process with pid {pid} through ns_last_pid")
            try:
                tglib.wait_port(port)
                before = d.scrape()
                self.send_fresh(port)
                want = {"valid": 3, "missing": 2, "malformed": 0, "unknown": 0}
                after = d.wait_for(lambda m: contexts(before, m, "tgl-reuse", "inbound") == want)
                self.assertEqual(contexts(before, after, "tgl-reuse", "inbound"), want)
                for when in ("now", "after the next check of exited processes"):
                    detail = cli_json(d, "process", str(pid))
                    with self.subTest(when=when):
                        self.assertEqual(detail["comm"], "tgl-reuse")
                        self.assertEqual(detail["start_time"], start_time(pid))
                        self.assertEqual(detail["exe"], os.readlink(f"/proc/{pid}/exe"))
                        self.assertEqual(detail["inbound"], want)
                        self.assertFalse(detail["exited"], "a live process is shown as exited")
                    time.sleep(2.5)
            finally:
                server.terminate()
                server.wait()


if __name__ == "__main__":
    tglib.main()
