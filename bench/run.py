#!/usr/bin/python3
"""tracegap's benchmark suite: one command runs every section and writes docs/BENCHMARKS.md.

Five configurations are measured, interleaved run by run (none, floor, tracegapd, floor-syscall,
tracegapd-syscall, none, ...) so that ratios hold on a noisy machine. tracegapd has two capture
paths; each has its floor:
  none               nothing attached
  floor              build/bin/tracegap-floor --sock: EMPTY BPF programs on the socket-layer hooks
                     (tp_btf sock_send_length, sock_recv_length, inet_sock_set_state; Linux 6.3+)
  tracegapd          build/bin/tracegapd, default capture (the socket layer where the kernel has it)
  floor-syscall      build/bin/tracegap-floor: EMPTY BPF programs on the 17 syscall/sock tracepoints
  tracegapd-syscall  build/bin/tracegapd --capture syscall
On a kernel without the socket tracepoints only none, floor-syscall and tracegapd-syscall run.
--configs picks a subset (none is always measured: every figure is paired with it). The daemon
section measures none and the two daemons only (its figures are the daemon's), the scale section
each daemon alone.

Sections (--only NAME runs one; several --only may be given):
  http1    nginx + wrk (saturation) and h2load --h1 --rps (fixed rate): req/s, p50/p99, nginx CPU/req
  h2grpc   nghttpd + h2load (h2c), and a python3-grpcio unary load (bench/grpc_driver.py)
  https    nginx over TLS (OpenSSL 3) + wrk (saturation): what reading TLS plaintext at uprobes
           costs per request, beside the same load in plaintext
  syscall  build/bin/syscall_bench: ns per syscall on TCP (non-HTTP), UNIX pair, pipe, file
  daemon   tracegapd CPU per 100k requests and RSS at fixed HTTP/1 rates, and per gRPC call;
           kernel drops
  scale    10k concurrent keep-alive connections and 100k short connections
           (bench/conn_driver.py): daemon RSS, tg_conns occupancy, tracegap_connections_tracked
  evidence (full runs only, or --only evidence) BPF program run-time statistics (ns of BPF per
           HTTP/1 request, per capture path) and perf profiles used by the analysis of any MISS

Placement (the machine has 2 CPUs): servers on CPU 0; load generators, tracegapd and
tracegap-floor on CPU 1 (taskset).

Usage:
  sudo bench/run.py                 full run (--reps 5), writes docs/BENCHMARKS.md
  sudo bench/run.py --smoke         seconds per section, 1 rep, report to a temp file
  sudo bench/run.py --only http1 --reps 3 --out /tmp/b.md
  sudo bench/run.py --only syscall --configs none,tracegapd,tracegapd-syscall --reps 1 --out /tmp/b.md

Exit codes: 0 ran (whatever PASS/MISS says), 1 a tool failed to run, 2 bad usage, 77 cannot run
here (not root / no BPF), 130 interrupted. Every process started is stopped on exit.
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The end-to-end tests' helpers (free ports, metrics, BPF object ids, RSS) serve here too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
import tglib  # noqa: E402
from tglib import bpf_fd_ids, free_port, rss_kib, scrape  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PYTHON = "/usr/bin/python3"  # the Debian python that has python3-grpcio
SERVER_CPU = "0"
LOAD_CPU = "1"
CONFIGS = ("none", "floor", "tracegapd", "floor-syscall", "tracegapd-syscall")
SOCKET_CONFIGS = ("floor", "tracegapd")  # need the kernel's socket-layer tracepoints
FLOOR_OF = {"tracegapd": "floor", "tracegapd-syscall": "floor-syscall"}
DAEMON_CONFIGS = ("none", "tracegapd", "tracegapd-syscall")  # the daemon section's (its figures are the daemon's)
SECTIONS = ("http1", "h2grpc", "https", "syscall", "daemon", "scale", "evidence")
SYSCALL_CASES = ("tcp_loopback", "unix_socketpair", "pipe", "regular_file")
# The issue's table (the report's headline): id -> (what, section, unit, digits, target, goal).
# A figure passes when it is ≤ the target; the default capture path's figure is judged.
HEADLINE = {
    "http1_loss": ("HTTP/1 nginx saturation throughput loss vs none", "http1", " %", 2, 5.0, 1.0),
    "h2_loss": ("HTTP/2 h2load saturation throughput loss vs none", "h2grpc", " %", 2, 8.0, 2.0),
    "grpc_loss": ("gRPC unary saturation throughput loss vs none", "h2grpc", " %", 2, 4.0, 1.0),
    "syscall_local": ("added ns per syscall: regular file / pipe / UNIX pair", "syscall", " ns", 1, 10.0, 0.0),
    "syscall_tcp": ("added ns per syscall: TCP non-HTTP", "syscall", " ns", 1, 150.0, 50.0),
    "http1_p99": ("fixed-rate p99 latency vs none (HTTP/1, 50 % of saturation)", "http1", " %", 1, 15.0, 5.0),
    "daemon_cpu": ("daemon CPU per HTTP/1 request, at every rate (utime+stime)", "daemon", " µs", 2, 1.0, 0.5),
}
HEADLINE_COLS = ("tracegapd-syscall", "tracegapd", "floor")
SKIP = 77
T0 = time.monotonic()


class ToolError(Exception):
    """A tool failed to run (not a MISS): the run exits 1."""


def log(msg):
    print(f"[bench {time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# Processes: every process started is registered and stopped on exit, whatever happens.

class Procs:
    def __init__(self):
        self.live = []

    def start(self, name, cmd, cpu=None, **kw):
        if cpu is not None:
            cmd = ["taskset", "-c", cpu, *cmd]
        kw.setdefault("stdin", subprocess.DEVNULL)
        try:
            p = subprocess.Popen(cmd, **kw)
        except OSError as e:
            raise ToolError(f"{name}: cannot start {cmd[0]}: {e}")
        p.tg_name = name
        self.live.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=5.0):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{p.tg_name} (pid {p.pid}) did not stop within {timeout}s of {sig.name}: killing it")
                p.kill()
                p.wait()
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def stop_all(self):
        for p in reversed(list(self.live)):
            try:
                self.stop(p, timeout=3.0)
            except Exception as e:  # keep stopping the others
                log(f"stopping {p.tg_name}: {e}")


PROCS = Procs()


def run_tool(name, cmd, timeout, cpu=None, check=True):
    """Runs a bounded tool to completion; returns its stdout. ToolError if it fails."""
    if cpu is not None:
        cmd = ["taskset", "-c", cpu, *cmd]
    try:
        p = PROCS.start(name, cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        PROCS.stop(p, signal.SIGKILL)
        raise ToolError(f"{name}: no result within {timeout}s: {shlex.join(cmd)}")
    finally:
        if p in PROCS.live:
            PROCS.live.remove(p)
    if check and p.returncode != 0:
        raise ToolError(f"{name} exited with {p.returncode}: {shlex.join(cmd)}\n{err.strip()[-2000:]}")
    return out


def wait_port(port, timeout=15.0, proc=None, name="server"):
    try:
        tglib.wait_port(port, timeout=timeout, proc=proc, name=name)
    except (TimeoutError, RuntimeError) as e:  # a tool that failed to run, for the report
        raise ToolError(str(e)) from e


def read_line(proc, timeout, name):
    """One line of proc's stdout (a pipe), or ToolError after timeout / at EOF."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], max(0.0, min(0.5, deadline - time.monotonic())))
        if r:
            ch = os.read(fd, 1)
            if not ch:
                raise ToolError(f"{name} exited ({proc.poll()}) before printing a line")
            if ch == b"\n":
                return buf.decode(errors="replace")
            buf += ch
    raise ToolError(f"{name}: no line within {timeout}s (got {buf[:200]!r})")


# ------------------------------------------------------------------------------------------------
# /proc

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """(utime+stime seconds of the whole process from /proc/PID/stat, on-CPU seconds summed over
    its threads from /proc/PID/task/*/schedstat: ns-precise, live threads only)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    ticks = int(rest[11]) + int(rest[12])
    ns = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    ns += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        pass
    return ticks / CLK_TCK, ns / 1e9


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def cpu_busy():
    """{cpu: (busy jiffies, total jiffies)} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+)\s+(.*)", line)
            if m:
                v = [int(x) for x in m.group(2).split()]
                idle = v[3] + (v[4] if len(v) > 4 else 0)
                out[m.group(1)] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


def children_cpu():
    ru = __import__("resource").getrusage(__import__("resource").RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# ------------------------------------------------------------------------------------------------
# Metrics

# ------------------------------------------------------------------------------------------------
# The configurations

def log_tail(path, lines=20):
    try:
        with open(path) as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def start_tracegapd(binary, port, api_socket, args, log_path):
    """tracegapd on LOAD_CPU with its log in log_path; returns (process, log file) once /metrics
    answers (within 30 s, else ToolError with the log's tail)."""
    logf = open(log_path, "w")
    proc = PROCS.start("tracegapd", [str(binary), "--listen", f"127.0.0.1:{port}", "--api-socket", api_socket,
                                     *args], cpu=LOAD_CPU, stdout=logf, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise ToolError(f"tracegapd exited with {proc.returncode}:\n{log_tail(log_path)}")
        try:
            scrape(port, timeout=1)
            return proc, logf
        except OSError:
            if time.monotonic() > deadline:
                raise ToolError("tracegapd did not serve /metrics within 30 s:\n" + log_tail(log_path))
            time.sleep(0.1)


def is_daemon(name):
    return name.startswith("tracegapd")


class Config:
    """Context manager: attaches nothing (none), an empty-probe floor (floor: socket hooks,
    floor-syscall: syscall tracepoints), or tracegapd (default capture, or --capture syscall), on
    CPU 1."""

    def __init__(self, name, ctx):
        self.name = name
        self.ctx = ctx
        self.proc = None
        self.port = None
        self.pid = None
        self.foreign = 0  # foreign tracegap-like programs seen at the start or end of this run

    def __enter__(self):
        b = self.ctx.bins
        self.ctx.wait_clean()
        if self.name.startswith("floor"):
            mode = ["--sock"] if self.name == "floor" else []
            self.proc = PROCS.start("tracegap-floor", [str(b / "tracegap-floor"), *mode], cpu=LOAD_CPU,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            line = read_line(self.proc, 30, "tracegap-floor")
            if not line.startswith("attached"):
                raise ToolError(f"tracegap-floor printed {line!r}, not 'attached N'")
        elif is_daemon(self.name):
            capture = ["--capture", "syscall"] if self.name == "tracegapd-syscall" else []
            self.port = free_port()
            d = tempfile.mkdtemp(prefix="api-", dir=self.ctx.tmp)
            self.log_path = os.path.join(d, "tracegapd.log")
            self.proc, self.logf = start_tracegapd(b / "tracegapd", self.port, os.path.join(d, "api.sock"),
                                                   [*capture, *self.ctx.args.tracegapd_arg], self.log_path)
        builds = self.ctx.results.setdefault("_bpf_build", {})
        if is_daemon(self.name) and self.name not in builds:
            m = re.search(r"capture variant (\S+ \([^)]*\))", self.log_tail())
            builds[self.name] = m.group(1) if m else "?"
        if self.proc is not None:
            self.pid = self.proc.pid
        self.foreign = max(self.foreign, self.ctx.note_foreign(self))
        time.sleep(self.ctx.settle)
        return self

    def __exit__(self, *exc):
        self.foreign = max(self.foreign, self.ctx.note_foreign(self))
        if self.proc is not None:
            rc = PROCS.stop(self.proc, signal.SIGINT, timeout=10)
            if is_daemon(self.name):
                self.logf.close()
            if rc != 0 and exc[0] is None:
                raise ToolError(f"{self.name} exited with {rc} on SIGINT" +
                                (":\n" + self.log_tail() if is_daemon(self.name) else ""))
        return False

    def log_tail(self):
        return log_tail(self.log_path)

    # Daemon observations (tracegapd and tracegapd-syscall; zeros otherwise).
    def snapshot(self):
        if not is_daemon(self.name):
            return {"cpu": (0.0, 0.0), "rss_kib": 0, "drops": 0.0, "drops_by": {}, "requests": 0.0,
                    "tracked": 0.0}
        m = scrape(self.port)
        return {"cpu": proc_cpu(self.pid), "rss_kib": rss_kib(self.pid),
                "drops": m.get("tracegap_kernel_drops_total"),
                "drops_by": m.by_label("tracegap_kernel_drops_total", "reason"),
                "requests": m.get("tracegap_requests_total", direction="inbound"),
                "tracked": m.get("tracegap_connections_tracked")}

    def conns_map_id(self):
        ids = bpf_fd_ids(self.pid, "map_id")
        for m in json.loads(run_tool("bpftool", ["bpftool", "-j", "map", "show"], 30)):
            if m.get("id") in ids and m.get("name") == "tg_conns":
                return m["id"]
        raise ToolError("no tg_conns map among tracegapd's file descriptors")


def daemon_delta(before, after, n):
    """Per-run daemon figures from two snapshots: CPU per unit of n, drops, requests seen."""
    cu = after["cpu"][0] - before["cpu"][0]
    cs = after["cpu"][1] - before["cpu"][1]
    return {"daemon_cpu_s": cu, "daemon_sched_s": cs,
            "daemon_us_per": 1e6 * cu / n if n else 0.0,
            "daemon_sched_us_per": 1e6 * cs / n if n else 0.0,
            "rss_kib": after["rss_kib"],
            "drops": after["drops"] - before["drops"],
            "drops_by": {k: v - before["drops_by"].get(k, 0) for k, v in after["drops_by"].items()
                         if v - before["drops_by"].get(k, 0)},
            "seen": after["requests"] - before["requests"]}


# ------------------------------------------------------------------------------------------------
# Servers

class Nginx:
    """nginx, one worker on CPU 0, `return 200 "ok"`, keep-alive, access_log off."""

    def __init__(self, ctx, conns=1024, tls=False):
        self.ctx = ctx
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="nginx-", dir=ctx.tmp)
        self.conns = conns
        self.tls = tls

    def __enter__(self):
        soft, hard = __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)
        nofile = hard if hard != -1 else 65536
        wc = min(self.conns + 512, max(1024, nofile - 64))
        conf = os.path.join(self.dir, "nginx.conf")
        d = self.dir
        listen = f"listen 127.0.0.1:{self.port} backlog=4096;"
        if self.tls:
            # A self-signed RSA-2048 certificate; TLS 1.3 with OpenSSL's default suites.
            run_tool("openssl", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                 "-subj", "/CN=localhost", "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem"], 60)
            listen = (f"listen 127.0.0.1:{self.port} ssl backlog=4096;\n    ssl_certificate {d}/cert.pem;\n"
                      f"    ssl_certificate_key {d}/key.pem;")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
worker_rlimit_nofile {nofile};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {wc}; multi_accept on; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    {listen}
    location / {{ return 200 "ok"; }}
  }}
}}
""")
        self.conf = conf
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = PROCS.start("nginx", [nginx, "-c", conf, "-p", d, "-g", "daemon off;"], cpu=SERVER_CPU,
                                stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc, name="nginx")
        deadline = time.monotonic() + 10
        while not children(self.proc.pid):
            if time.monotonic() > deadline:
                raise ToolError("nginx started no worker")
            time.sleep(0.05)
        self.worker = children(self.proc.pid)[0]
        return self

    def __exit__(self, *exc):
        PROCS.stop(self.proc, signal.SIGQUIT if exc[0] is None else signal.SIGTERM, timeout=10)
        return False

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"

    def cpu(self):
        return proc_cpu(self.worker)


class Nghttpd:
    def __init__(self, ctx):
        self.ctx = ctx
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="nghttpd-", dir=ctx.tmp)
        with open(os.path.join(self.dir, "ok"), "w") as f:
            f.write("ok")

    def __enter__(self):
        self.proc = PROCS.start("nghttpd", ["nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", self.dir, str(self.port)],
                                cpu=SERVER_CPU, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc, name="nghttpd")
        return self

    def __exit__(self, *exc):
        PROCS.stop(self.proc)
        return False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/ok"

    def cpu(self):
        return proc_cpu(self.proc.pid)


class GrpcServer:
    def __init__(self, ctx):
        self.ctx = ctx
        self.port = free_port()

    def __enter__(self):
        self.proc = PROCS.start("grpc server", [PYTHON, str(BENCH / "grpc_driver.py"), "server", "--port", str(self.port)],
                                cpu=SERVER_CPU, stdout=subprocess.PIPE)
        line = read_line(self.proc, 30, "grpc_driver server")
        if not line.startswith("listening"):
            raise ToolError(f"grpc_driver server printed {line!r}")
        return self

    def __exit__(self, *exc):
        PROCS.stop(self.proc, signal.SIGINT)
        return False

    def cpu(self):
        return proc_cpu(self.proc.pid)


# ------------------------------------------------------------------------------------------------
# Load generators

def _dur_us(s):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", s)
    if not m:
        raise ToolError(f"wrk: unparsable latency {s!r}")
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[m.group(2)]


def wrk(url, seconds, conns=16):
    out = run_tool("wrk", ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", url], seconds + 30, cpu=LOAD_CPU)
    try:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        n = int(re.search(r"(\d+) requests in", out).group(1))
        p50 = _dur_us(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))
        p99 = _dur_us(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))
    except AttributeError:
        raise ToolError("wrk: unparsable output:\n" + out)
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    if n == 0:
        raise ToolError("wrk completed no request:\n" + out)
    return {"rps": rps, "n": n, "p50_us": p50, "p99_us": p99, "errors": errors}


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def h2load(ctx, url, seconds, conns=16, rate=None, h1=False, streams=1):
    """h2load for `seconds` (timing-based); with rate, paced to `rate` req/s in total (--rps is
    per client). Latency percentiles come from its per-request --log-file."""
    logf = os.path.join(ctx.tmp, "h2load.log")
    cmd = ["h2load", "-t1", f"-c{conns}", f"-m{streams}", "-D", str(seconds), f"--log-file={logf}"]
    if h1:
        cmd.append("--h1")
    if rate:
        cmd.append(f"--rps={rate / conns:.3f}")
    cmd.append(url)
    out = run_tool("h2load", cmd, seconds + 60, cpu=LOAD_CPU)
    # h2load prints "finished in 996.18ms" below one second, "finished in 1.00s" above.
    m = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", out)
    r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", out)
    if not m or not r:
        raise ToolError("h2load: unparsable output:\n" + out)
    ok = int(r.group(4))
    if ok == 0:
        raise ToolError("h2load completed no request:\n" + out)
    lat = []
    with open(logf) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1].startswith("2"):
                lat.append(float(parts[2]))
    os.unlink(logf)
    lat.sort()
    elapsed = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
    return {"rps": ok / elapsed, "n": ok, "p50_us": percentile(lat, 0.5),
            "p99_us": percentile(lat, 0.99), "errors": int(r.group(5)) + int(r.group(6)) + int(r.group(7))}


def grpc_client(port, seconds, concurrency=16, rate=0.0):
    cmd = [PYTHON, str(BENCH / "grpc_driver.py"), "client", "--port", str(port), "--duration", str(seconds),
           "--concurrency", str(concurrency)]
    if rate:
        cmd += ["--rate", str(rate)]
    out = run_tool("grpc client", cmd, seconds + 60, cpu=LOAD_CPU)
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ToolError("grpc_driver client: unparsable output:\n" + out)
    if res["calls"] == 0:
        raise ToolError("grpc_driver client completed no call: " + out)
    return {"rps": res["rate"], "n": res["calls"], "p50_us": res["p50_us"], "p99_us": res["p99_us"],
            "errors": res["errors"]}


def measure(cfg, server_cpu, load):
    """Runs load() under cfg; returns its figures plus the server's and the daemon's CPU per
    request, from /proc before/after."""
    d0 = cfg.snapshot()
    s0 = server_cpu()
    b0, c0 = cpu_busy(), children_cpu()
    t0 = time.monotonic()
    res = load()
    wall = time.monotonic() - t0
    s1 = server_cpu()
    b1, c1 = cpu_busy(), children_cpu()
    if is_daemon(cfg.name):
        time.sleep(0.3)  # let the daemon drain its ring buffer (it polls every 100 ms)
    d1 = cfg.snapshot()
    n = res["n"]
    res["server_us_per"] = 1e6 * (s1[0] - s0[0]) / n
    res["server_sched_us_per"] = 1e6 * (s1[1] - s0[1]) / n
    res["server_util"] = (s1[1] - s0[1]) / wall if wall else 0.0
    res["loadgen_util"] = (c1 - c0) / wall if wall else 0.0  # the load generator was the only child reaped
    for c in (SERVER_CPU, LOAD_CPU):
        busy, total = b1[c][0] - b0[c][0], b1[c][1] - b0[c][1]
        res[f"cpu{c}_busy"] = busy / total if total else 0.0
    res.update(daemon_delta(d0, d1, n))
    return res


# ------------------------------------------------------------------------------------------------
# Statistics

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def spread(xs):
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (float("nan"), float("nan"))


def fmt(x, nd=1):
    if x is None or x != x:
        return "n/a"
    if abs(x) >= 1000 and nd <= 1:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def ms(xs, nd=1):
    """'median (min–max)'."""
    lo, hi = spread(xs)
    if len([x for x in xs if x is not None]) <= 1:
        return fmt(med(xs), nd)
    return f"{fmt(med(xs), nd)} ({fmt(lo, nd)}–{fmt(hi, nd)})"


def paired(runs, key, cfg, base="none"):
    """Per-rep ratio cfg/base of runs[cfg][i][key]: runs next to each other in time."""
    return [a[key] / b[key] for a, b in zip(runs[cfg], runs[base]) if b[key]]


def paired_diff(runs, key, cfg, base="none"):
    return [a[key] - b[key] for a, b in zip(runs[cfg], runs[base])]


def pct_loss(ratios):
    return [100.0 * (1.0 - r) for r in ratios]


# ------------------------------------------------------------------------------------------------
# Run context

class Ctx:
    def __init__(self, args):
        self.args = args
        self.bins = Path(args.bin_dir)
        self.tmp = tempfile.mkdtemp(prefix="tg-bench-")
        self.smoke = args.smoke
        self.reps = 1 if args.smoke else args.reps
        self.settle = 0.3 if args.smoke else 1.0
        self.clean_wait = 5.0 if args.smoke else 120.0
        self.wait_budget = 30.0 if args.smoke else 900.0
        self.waited = 0.0
        self.results = {}
        self.targets = []  # dicts: id, what, figure, target, status, section
        self.foreign = []  # (section, run, ids)
        self.section = None
        self.our_pids = set()
        # Programs of our own earlier runs: detached, but tracing (tp_btf) programs stay listed for a
        # few seconds after their process exits, until the kernel frees them.
        self.our_progs = set()
        self.socket_hooks = tglib.kernel_has_socket_hooks()
        want = args.configs.split(",") if args.configs else list(CONFIGS)
        self.configs = [c for c in CONFIGS if (c in want or c == "none") and
                        (self.socket_hooks or c not in SOCKET_CONFIGS)]
        self.dropped = [c for c in want if c in SOCKET_CONFIGS and not self.socket_hooks]
        self.default = "tracegapd" if "tracegapd" in self.configs else (
            "tracegapd-syscall" if "tracegapd-syscall" in self.configs else None)

    def dur(self, full, smoke=1):
        return smoke if self.smoke else full

    def foreign_progs(self, ours=frozenset()):
        """BPF tracepoint programs of a tracegap kind attached by others (another tracegapd or floor,
        e.g. an end-to-end test on this shared machine): they tax every configuration, `none`
        included."""
        try:
            progs = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                                              text=True, timeout=30).stdout or "[]")
        except (subprocess.SubprocessError, ValueError, OSError):
            return []
        return [p["id"] for p in progs if p.get("type") in ("tracepoint", "tracing") and p["id"] not in ours and
                re.match(r"(tracepoint__|tp_btf__|floor_|tg_)", p.get("name", ""))]

    def wait_clean(self):
        """Before a run: waits (bounded per run and in total) until no other tracegap-like programs
        are attached."""
        t0 = time.monotonic()
        deadline = t0 + min(self.clean_wait, self.wait_budget)
        said = False
        while self.foreign_progs(self.our_progs) and time.monotonic() < deadline:
            if not said:
                log(f"another tracegapd/floor is attached (someone else's test?): waiting up to "
                    f"{deadline - t0:.0f} s for it to go")
                said = True
            time.sleep(1.0)
        waited = time.monotonic() - t0
        self.wait_budget = max(0.0, self.wait_budget - waited)
        self.waited += waited

    def note_foreign(self, cfg):
        if cfg.pid:
            self.our_progs |= bpf_fd_ids(cfg.pid, "prog_id")
        foreign = self.foreign_progs(self.our_progs)
        if foreign:
            self.foreign.append((self.section, cfg.name, len(foreign)))
            log(f"note: {len(foreign)} foreign tracegap-like BPF programs attached during this {cfg.name} run")
        return len(foreign)

    def target(self, tid, what, figure, target, ok, section, note="", headline=None):
        status = "PASS" if ok else "MISS"
        if ok is None:
            status = "N/A"
        self.targets.append({"id": tid, "what": what, "figure": figure, "target": target, "status": status,
                             "section": section, "note": note, "headline": headline})
        print(f"{status}: {what}: {figure} (target {target})", flush=True)

    def headline(self, hid, values, cells=None):
        """A row of the issue's table: values {config: number (a median, or the worst of several)},
        cells {config: text} (default: the number). Judged on the default capture path; the
        syscall path's verdict goes beside it."""
        what, section, unit, nd, target, goal = HEADLINE[hid]
        cells = dict(cells or {})
        for c, v in values.items():
            cells.setdefault(c, f"{fmt(v, nd)}{unit}")
        judge = lambda c: None if values.get(c) is None or values[c] != values[c] else values[c] <= target
        ok = judge(self.default)
        alt = judge("tracegapd-syscall") if self.default == "tracegapd" else None
        goal_ok = None if ok is None else values[self.default] <= goal
        self.target(hid, f"{what} ({self.default})", cells.get(self.default, "n/a"), f"≤ {fmt(target, nd)}{unit}",
                    ok, section, headline={"cells": cells, "goal_ok": goal_ok, "alt": alt})


def interleaved(ctx, label, body, only=None):
    """body(cfg, rep) for rep in reps for cfg in ctx.configs (those in `only` if given),
    interleaved; returns {cfg: [result]}."""
    configs = [c for c in ctx.configs if only is None or c in only]
    runs = {c: [] for c in configs}
    for rep in range(ctx.reps):
        for name in configs:
            log(f"{label}: rep {rep + 1}/{ctx.reps} {name}")
            for attempt in (1, 2):
                try:
                    with Config(name, ctx) as cfg:
                        r = body(cfg, rep)
                    break
                except ToolError as e:
                    if attempt == 2 or ctx.smoke:
                        raise
                    log(f"{label}: {name}: run failed, retrying once: {e}")
            r["foreign"] = cfg.foreign > 0
            runs[name].append(r)
            log(f"{label}: {name}: " + ", ".join(f"{k}={fmt(v, 2) if isinstance(v, float) else v}"
                                                 for k, v in r.items() if k in ("rps", "p50_us", "p99_us", "server_us_per",
                                                                                "daemon_us_per", "drops", "seen",
                                                                                *SYSCALL_CASES)))
    return runs


# ------------------------------------------------------------------------------------------------
# Section 1: HTTP/1.1 service overhead (nginx)

def sec_http1(ctx):
    res = ctx.results["http1"] = {}
    d = ctx.dur(10, 1)
    with Nginx(ctx) as ng:
        res["nginx"] = {"conf": "worker_processes 1; keep-alive; access_log off; location / { return 200 \"ok\"; }"}
        wrk(ng.url, 1)  # warm-up
        sat = interleaved(ctx, "http1 saturation", lambda cfg, rep: measure(cfg, ng.cpu, lambda: wrk(ng.url, d)))
        rate = 0.5 * med([r["rps"] for r in sat["none"]])
        res["sat"] = sat
        res["fixed_rate"] = rate
        fixed = interleaved(ctx, f"http1 fixed {rate:.0f} req/s",
                            lambda cfg, rep: measure(cfg, ng.cpu, lambda: h2load(ctx, ng.url, d, 16, rate, h1=True)))
        res["fixed"] = fixed
    res["cmd_sat"] = f"taskset -c {LOAD_CPU} wrk -t1 -c16 -d{d}s --latency http://127.0.0.1:PORT/"
    res["cmd_fixed"] = (f"taskset -c {LOAD_CPU} h2load --h1 -t1 -c16 -m1 -D {d} --rps=<rate/16> "
                        f"--log-file=FILE http://127.0.0.1:PORT/")
    loss = res["loss"] = {c: pct_loss(paired(sat, "rps", c)) for c in sat if c != "none"}
    p99 = res["p99_vs_none"] = {c: [100 * (x - 1) for x in paired(fixed, "p99_us", c)] for c in fixed if c != "none"}
    ctx.headline("http1_loss", {c: med(v) for c, v in loss.items()})
    ctx.headline("http1_p99", {c: med(v) for c, v in p99.items()},
                 {c: f"{med(v):+.1f} %" for c, v in p99.items()})
    for td, fl in FLOOR_OF.items():
        if td not in loss or fl not in loss:
            continue
        lt, lf = med(loss[td]), med(loss[fl])
        ok = lt <= 0 or (lf > 0 and lt <= 1.5 * lf)
        ctx.target(f"http1_loss_vs_{fl}", f"HTTP/1.1 saturation loss: {td} vs its floor's ({fl})",
                   f"{td} {fmt(lt, 2)}% vs {fl} {fmt(lf, 2)}%" + (f" = {fmt(lt / lf, 2)}×" if lf > 0 else ""),
                   "≤ 1.5× the floor's loss", ok, "http1",
                   note="" if lf > 0 else "the floor's loss is ≤ 0 here (within noise): any positive loss counts as a MISS")


# ------------------------------------------------------------------------------------------------
# Section 2b: HTTPS (nginx over OpenSSL 3): the TLS uprobes' cost

def sec_https(ctx):
    """The same nginx and wrk load as section 1, over TLS and in plaintext, interleaved: tracegapd
    reads HTTPS plaintext at uprobes on SSL_read/SSL_write (entry and return) in both nginx and wrk
    (both map the system's libssl.so.3), the floor has no uprobes."""
    res = ctx.results["https"] = {}
    d = ctx.dur(10, 1)
    with Nginx(ctx, tls=True) as tls, Nginx(ctx) as plain:
        wrk(tls.url, 1)  # warm-up (and the handshakes' cost out of the way)
        res["tls"] = interleaved(ctx, "https saturation",
                                 lambda cfg, rep: measure(cfg, tls.cpu, lambda: wrk(tls.url, d)))
        res["plain"] = interleaved(ctx, "http (beside https) saturation",
                                   lambda cfg, rep: measure(cfg, plain.cpu, lambda: wrk(plain.url, d)))
    res["cmd"] = f"taskset -c {LOAD_CPU} wrk -t1 -c16 -d{d}s --latency https://127.0.0.1:PORT/"
    for kind in ("tls", "plain"):
        runs = res[kind]
        res[f"{kind}_loss"] = {c: med(pct_loss(paired(runs, "rps", c))) for c in runs if c != "none"}
        res[f"{kind}_server_us"] = {c: med(paired_diff(runs, "server_us_per", c)) for c in runs if c != "none"}
    for c in res["tls_loss"]:
        ctx.target(f"https_loss_{c}", f"HTTPS saturation loss vs none ({c}), plaintext beside it",
                   f"{fmt(res['tls_loss'][c], 2)} % (plaintext {fmt(res['plain_loss'][c], 2)} %); nginx CPU "
                   f"{res['tls_server_us'][c]:+.2f} µs/req (plaintext {res['plain_server_us'][c]:+.2f})",
                   "reported", None, "https")


# ------------------------------------------------------------------------------------------------
# Section 2: HTTP/2 (nghttpd) and gRPC

def sec_h2grpc(ctx):
    res = ctx.results["h2grpc"] = {}
    d = ctx.dur(10, 1)
    with Nghttpd(ctx) as ng:
        h2load(ctx, ng.url, 1, 16, streams=8)  # warm-up
        res["h2"] = interleaved(ctx, "h2 saturation",
                                lambda cfg, rep: measure(cfg, ng.cpu, lambda: h2load(ctx, ng.url, d, 16, streams=8)))
    res["cmd_h2"] = f"taskset -c {LOAD_CPU} h2load -t1 -c16 -m8 -D {d} --log-file=FILE http://127.0.0.1:PORT/ok"
    with GrpcServer(ctx) as gs:
        grpc_client(gs.port, 1)  # warm-up
        res["grpc"] = interleaved(ctx, "grpc saturation",
                                  lambda cfg, rep: measure(cfg, gs.cpu, lambda: grpc_client(gs.port, d, 16)))
    res["cmd_grpc"] = (f"taskset -c {LOAD_CPU} /usr/bin/python3 bench/grpc_driver.py client --port PORT "
                       f"--duration {d} --concurrency 16")
    for hid, key in (("h2_loss", "h2"), ("grpc_loss", "grpc")):
        ctx.headline(hid, {c: med(pct_loss(paired(res[key], "rps", c))) for c in res[key] if c != "none"})


# ------------------------------------------------------------------------------------------------
# Section 3: per-syscall price

def sec_syscall(ctx):
    res = ctx.results["syscall"] = {}
    iters = 20000 if ctx.smoke else 200000
    cmd = [str(ctx.bins / "syscall_bench"), "--iterations", str(iters), "--reps", "3"]
    res["cmd"] = f"taskset -c {SERVER_CPU} {ctx.bins / 'syscall_bench'} --iterations {iters} --reps 3"

    def body(cfg, rep):
        out = run_tool("syscall_bench", cmd, 300, cpu=SERVER_CPU)
        r = {}
        for line in out.splitlines():
            k, v = line.split()
            r[k] = float(v)
        if set(r) != set(SYSCALL_CASES):
            raise ToolError("syscall_bench: unexpected output:\n" + out)
        return r

    runs = res["runs"] = interleaved(ctx, "syscall", body)
    add = {c: {case: med(paired_diff(runs, case, c)) for case in SYSCALL_CASES} for c in runs if c != "none"}
    local = ("regular_file", "pipe", "unix_socketpair")
    ctx.headline("syscall_local", {c: max(a[k] for k in local) for c, a in add.items()},
                 {c: " / ".join(f"{fmt(a[k], 1)}" for k in local) + " ns" for c, a in add.items()})
    ctx.headline("syscall_tcp", {c: a["tcp_loopback"] for c, a in add.items()})


# ------------------------------------------------------------------------------------------------
# Section 4: daemon cost at fixed rates

def sec_daemon(ctx):
    res = ctx.results["daemon"] = {}
    d = ctx.dur(10, 1)
    with Nginx(ctx) as ng:
        # The machine's maximum for this load generator (h2load --h1 -c64, no pacing), none.
        log("daemon: probing the HTTP/1 maximum (h2load --h1 -c64, none)")
        probe = h2load(ctx, ng.url, ctx.dur(5, 1), 64, h1=True)
        top = probe["rps"]
        res["max_rps"] = top
        points = []
        for want in (1000, 10000, 50000):
            if want <= 0.9 * top:
                points.append((f"{want // 1000}k", want))
            else:
                points.append((f"max (asked {want // 1000}k)", None))
                break
        res["points"] = []
        for label, rate in points:
            conns = 16 if (rate or top) <= 2000 else 64
            dd = d * 2 if rate == 1000 else d  # 1k req/s: 20 s, so that a 10 ms CPU tick is 0.5 µs/req
            runs = interleaved(ctx, f"daemon HTTP/1 {label}",
                               lambda cfg, rep: measure(cfg, ng.cpu, lambda: h2load(ctx, ng.url, dd, conns, rate, h1=True)),
                               only=DAEMON_CONFIGS)
            res["points"].append({"label": label, "rate": rate, "conns": conns, "seconds": dd, "runs": runs})
    res["cmd"] = (f"taskset -c {LOAD_CPU} h2load --h1 -t1 -c<16|64> -D {d} --rps=<rate/conns> "
                  f"http://127.0.0.1:PORT/  (no --rps for max)")
    with GrpcServer(ctx) as gs:
        probe = grpc_client(gs.port, ctx.dur(3, 1), 16)
        grate = min(5000.0, round(0.5 * probe["rps"], -1))
        res["grpc_rate"] = grate
        res["grpc_max"] = probe["rps"]
        res["grpc"] = interleaved(ctx, f"daemon gRPC {grate:.0f} calls/s",
                                  lambda cfg, rep: measure(cfg, gs.cpu, lambda: grpc_client(gs.port, d, 16, grate)),
                                  only=DAEMON_CONFIGS)
    res["cmd_grpc"] = (f"taskset -c {LOAD_CPU} /usr/bin/python3 bench/grpc_driver.py client --port PORT "
                       f"--duration {d} --concurrency 16 --rate {grate:.0f}")

    # Targets: the worst rate is judged (at 1k req/s a 20 s run is ~20 ms of daemon CPU, a few clock ticks).
    daemons = [c for c in res["grpc"] if is_daemon(c)]
    per = {c: [med([r["daemon_us_per"] for r in p["runs"][c]]) for p in res["points"]] for c in daemons}
    ctx.headline("daemon_cpu", {c: max(v) for c, v in per.items()},
                 {c: f"worst {fmt(max(v), 2)} µs (" + ", ".join(f"{p['label']}: {fmt(x, 2)}" for p, x in zip(res["points"], v))
                  + ")" for c, v in per.items()})
    for c in daemons:
        sfx = "" if c == "tracegapd" else "_syscall"
        g = med([r["daemon_us_per"] for r in res["grpc"][c]])
        ctx.target("daemon_cpu_grpc" + sfx, f"{c} CPU per gRPC call (utime+stime)", f"{fmt(g, 2)} µs", "≤ 5 µs per call",
                   g <= 5.0, "daemon")
        top_p = res["points"][-1]
        drops = sum(r["drops"] for p in res["points"] for r in p["runs"][c])
        top_drops = sum(r["drops"] for r in top_p["runs"][c])
        ctx.target("daemon_drops" + sfx, f"{c}: kernel drops at the top HTTP/1 rate ({top_p['label']})",
                   f"{top_drops:.0f} (all rates: {drops:.0f})", "0", top_drops == 0 and drops == 0, "daemon")


# ------------------------------------------------------------------------------------------------
# Section 5: scale

def map_entries(map_id):
    out = run_tool("bpftool", ["bpftool", "-j", "map", "dump", "id", str(map_id)], 120)
    try:
        return len(json.loads(out or "[]"))
    except ValueError:
        raise ToolError("bpftool map dump: unparsable JSON")


def sec_scale(ctx):
    """Each daemon configuration alone (the others have no daemon, map or gauge to watch)."""
    res = ctx.results["scale"] = {}
    for c in ctx.configs:
        if is_daemon(c):
            res[c] = scale_one(ctx, c)


def scale_one(ctx, name):
    res = {}
    sfx = "" if name == "tracegapd" else "_syscall"
    nconns = 1000 if ctx.smoke else 10000
    nshort = 5000 if ctx.smoke else 100000
    after = 2 if ctx.smoke else 5
    res.update({"conns": nconns, "short": nshort, "after_s": after})
    samples = res["samples"] = []
    with Nginx(ctx, conns=nconns) as ng, Config(name, ctx) as cfg:
        mid = cfg.conns_map_id()

        def sample(label):
            s = cfg.snapshot()
            row = {"label": label, "rss_kib": s["rss_kib"], "map": map_entries(mid), "tracked": s["tracked"],
                   "drops": s["drops"], "nginx_rss_kib": rss_kib(ng.worker)}
            samples.append(row)
            log(f"scale: {name}: {label}: RSS {row['rss_kib'] / 1024:.1f} MiB, tg_conns {row['map']}, "
                f"connections_tracked {row['tracked']:.0f}, drops {row['drops']:.0f}")
            return row

        sample("before")
        for rnd in (1, 2):
            log(f"scale: {name}: round {rnd}: opening {nconns} keep-alive connections")
            p = PROCS.start("conn_driver hold", [PYTHON, str(BENCH / "conn_driver.py"), "hold", "--port", str(ng.port),
                                                  "--conns", str(nconns), "--hold-seconds", "120"],
                            cpu=LOAD_CPU, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            line = read_line(p, 120, "conn_driver hold")
            if not line.startswith("open "):
                raise ToolError(f"conn_driver hold printed {line!r}")
            opened = int(line.split()[1])
            time.sleep(2.5)  # tracegap_connections_tracked is refreshed every 2 s
            row = sample(f"{nconns // 1000}k held, round {rnd}")
            row["opened"] = opened
            p.stdin.write(b"release\n")
            p.stdin.flush()
            summary = json.loads(read_line(p, 120, "conn_driver hold"))
            PROCS.stop(p)
            if summary["opened"] < nconns or summary["errors"]:
                log(f"scale: conn_driver hold: {summary}")
            res[f"hold{rnd}"] = summary
            time.sleep(after)
            sample(f"{after} s after round {rnd}")
        log(f"scale: {name}: {nshort} short connections (deadline 60 s)")
        p = PROCS.start("conn_driver short", [PYTHON, str(BENCH / "conn_driver.py"), "short", "--port", str(ng.port),
                                               "--total", str(nshort), "--concurrency", "32", "--deadline", "60"],
                        cpu=LOAD_CPU, stdout=subprocess.PIPE)
        peak = {"rss_kib": 0, "map": 0, "tracked": 0}
        deadline = time.monotonic() + 90
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(2.0 if not ctx.smoke else 0.5)
            if p.poll() is not None:
                break
            s = cfg.snapshot()
            peak["rss_kib"] = max(peak["rss_kib"], s["rss_kib"])
            peak["tracked"] = max(peak["tracked"], s["tracked"])
            peak["map"] = max(peak["map"], map_entries(mid))
        line = read_line(p, 30, "conn_driver short")
        PROCS.stop(p)
        res["short_result"] = json.loads(line)
        peak_row = {"label": "peak during short connections", **peak, "drops": cfg.snapshot()["drops"],
                    "nginx_rss_kib": rss_kib(ng.worker)}
        samples.append(peak_row)
        log(f"scale: short: {res['short_result']}; peak {peak_row}")
        time.sleep(after)
        sample(f"{after} s after short connections")

    # Targets
    by = {s["label"]: s for s in samples}
    peak1 = by[f"{nconns // 1000}k held, round 1"]
    peak2 = by[f"{nconns // 1000}k held, round 2"]
    a1, a2 = by[f"{after} s after round 1"], by[f"{after} s after round 2"]
    last = samples[-1]
    before = samples[0]
    rss_peak = max(peak1["rss_kib"], peak2["rss_kib"]) / 1024
    ctx.target("scale_rss" + sfx, f"{name} RSS with {nconns} connections held", f"{rss_peak:.1f} MiB", "≤ 64 MiB",
               rss_peak <= 64, "scale")
    growth = (last["rss_kib"] - a1["rss_kib"]) / 1024
    ctx.target("scale_rss_growth" + sfx, f"{name} RSS growth after load (after the last load − after round 1)",
               f"{growth:+.1f} MiB (after round 1 {a1['rss_kib'] / 1024:.1f}, after round 2 {a2['rss_kib'] / 1024:.1f}, "
               f"after short {last['rss_kib'] / 1024:.1f} MiB)", "no growth (≤ +1 MiB)", growth <= 1.0, "scale")
    slack = 64  # other processes on a shared machine may hold a few HTTP connections
    back = all(s["map"] <= before["map"] + slack and s["tracked"] <= before["tracked"] + slack for s in (a1, a2, last))
    ctx.target("scale_bounded" + sfx, f"{name}: tg_conns entries and connections_tracked come back down after load",
               f"map {before['map']} → {max(peak1['map'], peak2['map'])} → {last['map']}; tracked "
               f"{before['tracked']:.0f} → {max(peak1['tracked'], peak2['tracked']):.0f} → {last['tracked']:.0f}",
               f"≤ before + {slack}, {after} s after", back, "scale")
    sr = res["short_result"]
    ctx.target("scale_short" + sfx, f"{name}: {nshort} short connections within a minute",
               f"{sr['done']} done, {sr['errors']} errors in {sr['seconds']:.1f} s", f"{nshort} in ≤ 60 s",
               sr["done"] >= nshort and sr["seconds"] <= 60, "scale")
    return res


# ------------------------------------------------------------------------------------------------
# Evidence: BPF run-time statistics and perf profiles

def bpf_enable_stats():
    """BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): returns an fd that keeps run-time statistics on until it
    is closed (the sysctl is left alone). None where unsupported."""
    nr = {"x86_64": 321, "aarch64": 280}.get(platform.machine())
    if nr is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(64)  # enable_stats.type = BPF_STATS_RUN_TIME (0)
    fd = libc.syscall(nr, 32, attr, ctypes.c_uint(64))
    return fd if fd >= 0 else None


def prog_stats(ids):
    out = {}
    for p in json.loads(run_tool("bpftool", ["bpftool", "-j", "prog", "show"], 30)):
        if p["id"] in ids:
            out[p["id"]] = (p.get("name", "?"), p.get("run_cnt", 0), p.get("run_time_ns", 0))
    return out


def prog_delta(a, b):
    rows = {}
    for i, (name, cnt, ns) in b.items():
        c0, n0 = a.get(i, (name, 0, 0))[1:]
        r = rows.setdefault(name, [0, 0])
        r[0] += cnt - c0
        r[1] += ns - n0
    return rows


def bpf_per_unit(data):
    """(total BPF ns per unit, [(program, ns/run, runs per unit)]) from a progs_* record, or None."""
    if not data or not data["n"]:
        return None
    progs = [(name, ns / cnt, cnt / data["n"]) for name, (cnt, ns) in sorted(data["progs"].items()) if cnt]
    return sum(ns for cnt, ns in data["progs"].values()) / data["n"], progs


def bpf_budget(ev, key="progs_http1", unit="HTTP/1 request"):
    """'socket path (tracegapd): X ns of BPF per HTTP/1 request (program: a ns × n runs, ...); ...'"""
    out = []
    for c, path in (("tracegapd", "socket path"), ("tracegapd-syscall", "syscall path"), ("floor", "socket floor"),
                    ("floor-syscall", "syscall floor")):
        b = bpf_per_unit(ev.get(f"{key}_{c}"))
        if b:
            out.append(f"{path} ({c}): {b[0]:.0f} ns of BPF per {unit} (" +
                       ", ".join(f"{name}: {ns:.0f} ns × {runs:.2f} runs" for name, ns, runs in b[1]) + ")")
    return "; ".join(out)


def perf_top(pid, seconds, tmp, limit=12, command=None, freq=999):
    """Top symbols of pid for `seconds`, or of `command` run under perf."""
    data = os.path.join(tmp, f"perf-{pid}.data")
    rec = ["perf", "record", "-q", "-F", str(freq), "-o", data]
    rec += command if command else ["-p", str(pid), "--", "sleep", str(seconds)]
    run_tool("perf record", rec, seconds + 120)
    rep = run_tool("perf report", ["perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
                                   "--sort", "comm,dso,symbol", "--percent-limit", "0.2"], 120)
    rows = []
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(\S+)\s+\[(.)\]\s+(.*?)(\s+-\s+-)?\s*$", line)
        if m:
            sym = m.group(5).strip()
            dso = m.group(3)
            if dso.startswith("bpf_prog_"):
                dso = "[bpf]"
            rows.append((float(m.group(1)), m.group(2), dso, sym if len(sym) <= 110 else sym[:107] + "..."))
    os.unlink(data)
    return rows


_GLUE = re.compile(r"^(trace_call_bpf|perf_syscall_(enter|exit)|perf_call_bpf_(enter|exit)|perf_trace_buf_alloc|"
                   r"syscall_trace_enter|syscall_exit_work|__bpf_prog_(enter|exit)|bpf_trace_run\d*)")
_HELPERS = re.compile(r"^(bpf_probe_read|copy_from_(kernel|user)_nofault|__check_object_size|__virt_addr_valid|"
                      r"check_stack_object|bpf_map_|htab_|__htab|lookup_nulls_elem_raw|bpf_lru_|bpf_ringbuf|"
                      r"__bpf_ringbuf|bpf_loop|bpf_get_current|__bpf_get_current|bpf_ktime|percpu_array)")


def perf_shares(rows):
    """% of samples in JITed BPF programs, in the tracepoint→BPF glue, and in helpers/map code
    called by the programs (attribution by symbol name; helpers such as __check_object_size are
    also called by ordinary syscalls, so the last is an upper bound)."""
    bpf = sum(p for p, comm, dso, sym in rows if dso == "[bpf]" or sym.startswith("bpf_prog_"))
    glue = sum(p for p, comm, dso, sym in rows if _GLUE.match(sym))
    helpers = sum(p for p, comm, dso, sym in rows if _HELPERS.match(sym))
    return bpf, glue, helpers


def sec_evidence(ctx):
    """Profiles first (with BPF statistics off: they add clock reads to every program run), then BPF
    run-time statistics, each only around its own window."""
    res = ctx.results["evidence"] = {}
    d = ctx.dur(5, 1)
    res["cmd_stats"] = f"taskset -c {LOAD_CPU} h2load --h1 -t1 -c64 -m1 -D {d} --rps={10000 / 64:.3f} http://127.0.0.1:PORT/"
    bench = [str(ctx.bins / "syscall_bench"), "--iterations", "100000", "--reps", "1"]
    with Nginx(ctx) as ng:
        for name in ctx.configs:
            with Config(name, ctx) as cfg:
                log(f"evidence: {name}: perf of syscall_bench")
                res[f"perf_syscall_{name}"] = perf_top(name, 0, ctx.tmp, limit=20,
                                                       command=["--", "taskset", "-c", SERVER_CPU, *bench])
                if name == "none":
                    continue
                log(f"evidence: {name}: perf of the nginx worker at saturation")
                load = PROCS.start("wrk", ["wrk", "-t1", "-c16", f"-d{d + 3}s", ng.url], cpu=LOAD_CPU,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)
                res[f"perf_nginx_{name}"] = perf_top(ng.worker, d, ctx.tmp, limit=25)
                load.wait(timeout=d + 30)
                PROCS.stop(load)
                if is_daemon(name):
                    log(f"evidence: {name}: perf of the daemon at 10k req/s")
                    load = PROCS.start("h2load", ["h2load", "--h1", "-t1", "-c64", "-D", str(d + 3),
                                                  f"--rps={10000 / 64:.3f}", ng.url],
                                       cpu=LOAD_CPU, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1)
                    res[f"perf_daemon_{name}"] = perf_top(cfg.pid, d, ctx.tmp, limit=15, freq=4999)
                    load.wait(timeout=d + 30)
                    PROCS.stop(load)
                ids = bpf_fd_ids(cfg.pid, "prog_id")
                fd = bpf_enable_stats()
                res["bpf_stats"] = fd is not None
                if fd is None:
                    continue
                try:
                    log(f"evidence: {name}: BPF run-time statistics")
                    a = prog_stats(ids)
                    r = h2load(ctx, ng.url, d, 64, 10000, h1=True)
                    b = prog_stats(ids)
                    res[f"progs_http1_{name}"] = {"n": r["n"], "progs": prog_delta(a, b)}
                    a = prog_stats(ids)
                    run_tool("syscall_bench", bench, 120, cpu=SERVER_CPU)
                    b = prog_stats(ids)
                    res[f"progs_syscall_{name}"] = {"n": len(SYSCALL_CASES) * 2 * 100000, "progs": prog_delta(a, b)}
                finally:
                    os.close(fd)


# ------------------------------------------------------------------------------------------------
# Report

def machine_info():
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    cpu = "?"
    for line in sh(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    grpc_v = sh([PYTHON, "-c", "import grpc; print(grpc.__version__)"])
    commit = sh(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "--no-optional-locks", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])
    srso = sh(["cat", "/sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow"]) or "?"
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "mem": mem, "srso": srso,
            "os": sh(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
            "tools": {"nginx": sh(["sh", "-c", "nginx -v 2>&1"]).replace("nginx version: ", ""),
                      "wrk": sh(["sh", "-c", "wrk --version 2>&1 | head -1"]).split(" [")[0],
                      "h2load": sh(["sh", "-c", "h2load --version"]),
                      "nghttpd": sh(["sh", "-c", "nghttpd --version"]),
                      "python3-grpcio": grpc_v,
                      "tracegapd": sh([str(Path(os.environ.get("TRACEGAP_BIN_DIR", REPO / "build/bin")) / "tracegapd"),
                                       "--version"])},
            "commit": commit + (" (with uncommitted changes)" if dirty else "")}


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def foreign_runs(runs):
    return " / ".join(f"{sum(1 for r in runs[c] if r.get('foreign'))}/{len(runs[c])}" for c in runs)


def load_rows(runs, unit="req/s", server="server", daemon=True):
    rows = []
    for c in runs:
        rs = runs[c]
        ratio = "—" if c == "none" else ms([100 * (x - 1) for x in paired(runs, "rps", c)], 2) + " %"
        srv = "—" if c == "none" else ms(paired_diff(runs, "server_us_per", c), 2)
        row = [c, ms([r["rps"] for r in rs], 0), ratio, ms([r["p50_us"] for r in rs], 0), ms([r["p99_us"] for r in rs], 0),
               ms([r["server_us_per"] for r in rs], 2), srv, ms([100 * r["server_util"] for r in rs], 0),
               ms([100 * r["loadgen_util"] for r in rs], 0),
               ms([100 * r[f"cpu{SERVER_CPU}_busy"] for r in rs], 0) + " / " + ms([100 * r[f"cpu{LOAD_CPU}_busy"] for r in rs], 0)]
        if daemon:
            row += ["—" if not is_daemon(c) else ms([r["daemon_us_per"] for r in rs], 2),
                    "—" if not is_daemon(c) else f"{sum(r['drops'] for r in rs):.0f}",
                    "—" if not is_daemon(c) else ms([100 * r["seen"] / r["n"] for r in rs], 0) + " %",
                    f"{sum(r['errors'] for r in rs)}"]
        rows.append(row)
    header = ["config", f"{unit}", f"{unit} vs none (paired)", "p50 µs", "p99 µs", f"{server} CPU µs/req",
              f"{server} CPU µs/req vs none (paired)", f"{server} CPU util %", "load generator CPU util %",
              f"CPU{SERVER_CPU} / CPU{LOAD_CPU} busy % (all processes)"]
    if daemon:
        header += ["daemon CPU µs/req", "kernel drops", "inbound requests counted by the daemon", "errors"]
    header.append("runs with another tracegapd attached")
    for row, c in zip(rows, runs):
        row.append(f"{sum(1 for r in runs[c] if r.get('foreign'))}/{len(runs[c])}")
    return header, rows


def foreign_traffic(label, rs):
    """Lines for runs in which tracegapd counted far more inbound requests than the benchmark sent:
    it was also tracing other HTTP traffic on the machine."""
    out = []
    pct = [100 * r["seen"] / r["n"] for r in rs if r["n"]]
    if pct and max(pct) > 150:
        out.append(f"- {label}: tracegapd counted up to {max(pct):.0f} % (median {med(pct):.0f} %) of the inbound "
                   "requests the load generator sent: it was also tracing other HTTP traffic on this shared machine "
                   "(other engineers' tests; tracegapd watches every process). That point's CPU per request, and "
                   "any drops in it, include work for traffic this benchmark did not send.")
    for i, r in enumerate(rs):
        if r["drops"]:
            out.append(f"- {label}, rep {i + 1}: {r['drops']:.0f} kernel drops {r['drops_by']}, with "
                       f"{100 * r['seen'] / r['n']:.0f} % of the sent requests counted"
                       + (" (another tracegapd was attached too)" if r.get("foreign") else "") +
                       ". ringbuf_full means the 8 MiB ring filled between two daemon polls (every 100 ms, or on "
                       "the quarter-full wake-up): a burst of header bytes larger than the ring, or a daemon that "
                       "did not get CPU 1 in time.")
    return out


def scale_leftover_note(sc):
    after = [s for s in sc.get("samples", []) if s["label"].endswith(tuple(["round 1", "round 2", "connections"]))
             and "after" in s["label"]]
    left = ", ".join(str(s["map"]) for s in after)
    return (f"- The entries left {sc.get('after_s')} s after each load ({left}) did not grow with the load (each round "
            f"opened {sc.get('conns')} connections, ≈{2 * sc.get('conns', 0)} entries; then {sc.get('short')} short "
            "connections): this is not a per-connection leak. Whether they are this benchmark's sockets or other "
            "processes' HTTP connections (tracegapd traces the whole machine, which other engineers' tests were "
            "using) was not determined in this run; a run on a quiet machine, or the remaining map keys matched "
            "against `ss -tnpi`, would settle it.")


def analysis(ctx, t):
    """A short analysis for a MISS, from the evidence collected in this run."""
    ev = ctx.results.get("evidence", {})
    lines = []
    la = ctx.results.get("_load", {})
    if ctx.results.get("_noisy"):
        lines.append(f"- The machine was loaded (load average {la.get('start')} at start, {la.get('end')} at end): "
                     "other engineers' builds and tests shared both CPUs, so every figure carries that noise. "
                     "Interleaving keeps the comparison fair, not the figures clean.")
    if ctx.foreign:
        lines.append(f"- Other BPF tracepoint programs of a tracegap/floor kind (another engineer's tracegapd) were "
                     f"seen at {len(ctx.foreign)} start/end-of-run checks (the tables count the runs affected): they "
                     "tax every configuration, `none` included, and inflate the absolute costs.")

    sid = t["id"]
    if sid.startswith("http1"):
        h = ctx.results.get("http1", {})
        if h:
            srv = lambda runs: ", ".join(f"{c} {fmt(med([r['server_us_per'] for r in runs[c]]), 2)}" for c in runs)
            lines.append(f"- nginx worker CPU per request (µs) at saturation: {srv(h['sat'])}; at the fixed rate: "
                         f"{srv(h['fixed'])}. Throughput loss per rep: " +
                         "; ".join(f"{c} {', '.join(fmt(x, 2) for x in v)} %" for c, v in h["loss"].items()) +
                         ". p99 vs none per rep at the fixed rate: " +
                         "; ".join(f"{c} {', '.join(f'{x:+.1f}' for x in v)} %" for c, v in h["p99_vs_none"].items()) + ".")
        b = bpf_budget(ev)
        if b:
            lines.append(f"- BPF run time per HTTP/1 request at 10k req/s (all processes: nginx and the load generator; "
                         f"run-time statistics on): {b}.")
        for cfgname in ctx.configs:
            pn = ev.get(f"perf_nginx_{cfgname}")
            if pn:
                b, g, hh = perf_shares(pn)
                top = "; ".join(f"{sym} {p:.1f}%" for p, comm, dso, sym in pn[:8])
                lines.append(f"- perf profile of the nginx worker at saturation under {cfgname}: JITed BPF programs "
                             f"{b:.1f} % of its samples, tracepoint→BPF glue {g:.1f} %, BPF helpers and map code "
                             f"≤ {hh:.1f} %. Top: {top}.")
        lines.append("- What this means on the socket path (tracegapd's default here): its programs run only at the end "
                     "of a socket sendmsg/recvmsg (tp_btf sock_send_length / sock_recv_length, in the calling thread), "
                     "find the connection's state in the socket's own storage, read the user buffer from the "
                     "syscall's saved registers and then do the same capture as the syscall path (tg_capture). The "
                     "dispatch is a direct call from the tracepoint (the socket `floor` measures it): no syscall slow "
                     "path, which any syscall tracepoint forces on every task.")
        lines.append("- What this means on the syscall path: each request costs nginx a read and a write(v), each of which runs "
                     "tracegapd's sys_enter program (fd→socket walk, stash in task storage; a send is classified "
                     "here) and the shared sys_exit program (one read of the first ≤256 bytes into scratch, "
                     "CRLFCRLF scan 8 words per bpf_loop step, ring-buffer output), on top of the tracepoint "
                     "dispatch that the floor already pays. On loopback the same happens a second time in the load "
                     "generator (its request write and response read are HTTP too), and tracegapd's user-space work "
                     "shares CPU 1 with the load generator: whichever side is the bottleneck (see the CPU util "
                     "columns) loses throughput one for one. What is left in the programs is mostly helper calls "
                     "(pid/tgid, task storage, the connection lookup, bpf_probe_read_user, bpf_ktime_get_ns, "
                     "bpf_ringbuf_output, the bpf_loop callback): on this CPU every call's return goes through the "
                     "return-stack mitigation (see Machine), which makes a call cost far more than the work it "
                     "does. Each has been cut to one per event where the design allows (docs/internals.md). "
                     "An alternative dispatch was measured by hand, outside this report (2026-11-24, "
                     "`tracegap-floor --raw` against `tracegap-floor`, syscall_bench, 2 interleaved pairs): empty "
                     "programs on the raw sys_enter/sys_exit tracepoints cost 30 (file) to 130–180 (TCP) ns per "
                     "syscall less than on the per-syscall tracepoints, against a floor of ~280 (file) to ~300 "
                     "(TCP) ns over none; but a raw sys_enter program runs for every syscall of every process, "
                     "hooked or not. The syscall path keeps the per-syscall tracepoints.")
    elif sid.startswith("syscall"):
        s = ctx.results.get("syscall", {})
        if s:
            runs = s["runs"]
            cases = ("tcp_loopback",) if sid == "syscall_tcp" else ("regular_file", "pipe", "unix_socketpair")
            add = lambda c, case: fmt(med(paired_diff(runs, case, c))) if c in runs else "n/a"
            for case in cases:
                lines.append(f"- {case}: " + ", ".join(f"{c} {ms([r[case] for r in runs[c]])}" for c in runs) +
                             " ns per syscall; added vs none: " +
                             ", ".join(f"{c} {add(c, case)}" for c in runs if c != "none") + " ns.")
            if "tracegapd" in runs:
                lines.append("- Socket path: reads and writes of files and pipes never reach the socket-layer hooks "
                             "(no program runs: a difference from none there is noise); a UNIX socket's do, and the "
                             "programs leave at their first test (not TCP): the hooks' dispatch, which the socket "
                             "`floor` measures, and that test. On TCP non-HTTP bytes the "
                             "programs do their per-call work (task flags, the syscall's registers, the connection's "
                             "sk-storage state) before passing the direction over.")
        if s and "floor-syscall" in s["runs"] and "tracegapd-syscall" in s["runs"]:
            runs = s["runs"]
            case, budget = cases[0], (150 if sid == "syscall_tcp" else 10)
            fl = med(paired_diff(runs, case, "floor-syscall"))
            td = med(paired_diff(runs, case, "tracegapd-syscall"))
            lines.append(f"- Syscall path: the floor alone (empty programs) adds {fmt(fl)} ns per syscall ({case}) here"
                         + (f" — more than the whole {budget} ns budget" if fl > budget else "") +
                         ": the price of syscall tracepoints on this kernel (every task takes the syscall slow path "
                         "while any syscall tracepoint is enabled; perf_syscall_enter/exit build a trace record and "
                         "call trace_call_bpf). No syscall-tracepoint design goes below it. tracegapd's own share "
                         f"(tracegapd-syscall − floor-syscall) is {fmt(td - fl)} ns: the sys_enter fd→file→socket walk (plain "
                         "loads in the direct-reads build; one bpf_probe_read_kernel per field otherwise) and the "
                         "sys_exit task-storage lookup; for TCP, the stash, and on this benchmark's fresh non-HTTP "
                         "connection a first classification per direction, after which the direction is passed over "
                         "with two map lookups per syscall (docs/internals.md, per-syscall kernel work).")
        for cfgname in ctx.configs:
            pr = ev.get(f"perf_syscall_{cfgname}")
            if pr:
                b, g, hh = perf_shares(pr)
                lines.append(f"- perf, syscall_bench under {cfgname} (BPF {b:.1f} %, glue {g:.1f} %, helpers ≤ {hh:.1f} %): " +
                             "; ".join(f"{sym} {p:.1f}%" for p, comm, dso, sym in pr[:10]) + ".")
        b = bpf_budget(ev, "progs_syscall", "syscall_bench syscall")
        if b:
            lines.append(f"- BPF run time in syscall_bench (with run-time statistics on, which add two clock reads per "
                         f"run): {b}.")
    elif sid.startswith("daemon_cpu") or sid.startswith("daemon_drops"):
        for name in ctx.configs:
            pd = ev.get(f"perf_daemon_{name}")
            if not pd:
                continue
            top = "; ".join(f"{sym} ({dso}) {p:.1f}%" for p, comm, dso, sym in pd[:12])
            lines.append(f"- perf profile of {name} at 10k req/s (HTTP/1): {top}.")
            corr = sum(p for p, comm, dso, sym in pd if re.search(r"Correlator::(Prune|OnResponse)", sym))
            if corr >= 10:
                lines.append(f"- Correlator::Prune and Correlator::OnResponse take {corr:.0f} % of the daemon's samples. "
                             "Every inbound request runs std::erase_if over the serving process's whole `inbound` "
                             "deque (Prune), and every response scans that deque from the front for its request "
                             "(OnResponse). The deque keeps every request of the last --linger-ms (250 ms), capped at "
                             "max_active_per_process = 1024, so from ≈4k req/s per process on, each request walks "
                             "≈1024 entries twice: the per-request cost grows with the rate up to the cap. Pruning "
                             "from the front only while expired (entries are in start order) and finding a response's "
                             "request from the back, or through a (connection, stream) index, would make both "
                             "O(1) amortized (daemon/correlate/correlator.cc).")
        dd = ctx.results.get("daemon", {})
        for p, name in ((p, c) for p in dd.get("points", []) for c in p["runs"] if is_daemon(c)):
            rs = p["runs"][name]
            by = {}
            for r in rs:
                for k, v in r["drops_by"].items():
                    by[k] = by.get(k, 0) + v
            lines.append(f"- {p['label']}: achieved {ms([r['rps'] for r in rs], 0)} req/s, {name} "
                         f"{ms([r['daemon_us_per'] for r in rs], 2)} µs/req (utime+stime), "
                         f"{ms([r['daemon_sched_us_per'] for r in rs], 2)} µs/req (schedstat), drops {by or 0}.")
            lines.extend(foreign_traffic(f"{p['label']} ({name})", rs))
    elif sid.startswith("scale"):
        sc = ctx.results.get("scale", {}).get("tracegapd-syscall" if sid.endswith("_syscall") else "tracegapd", {})
        for s in sc.get("samples", []):
            lines.append(f"- {s['label']}: RSS {s['rss_kib'] / 1024:.1f} MiB, tg_conns {s['map']}, tracked {s['tracked']:.0f}")
        if sid.startswith("scale_bounded"):
            lines.append(scale_leftover_note(sc))
    if not lines:
        lines.append("- No further evidence was collected in this run (run the `evidence` section).")
    return "\n".join(lines)


def headline_table(ctx):
    """The issue's table: one row per HEADLINE id, from this run's targets."""
    r = ctx.results
    by = {t["id"]: t for t in ctx.targets if t.get("headline")}
    names = {"tracegapd-syscall": "syscall path (tracegapd-syscall)", "tracegapd": "socket path (tracegapd)",
             "floor": "floor (socket hooks)"}
    rows = []
    for hid, (what, section, unit, nd, target, goal) in HEADLINE.items():
        lim = lambda v: f"≤ {'+' if hid == 'http1_p99' else ''}{v:g}{unit}" + (" at every rate" if hid == "daemon_cpu" else "")
        t = by.get(hid)
        if t is None:
            rows.append([what, *[f"not run (section {section})"] * len(HEADLINE_COLS), lim(target), lim(goal), "—"])
            continue
        h = t["headline"]
        cells = [h["cells"].get(c) or ("— (kernel has no socket tracepoints)" if c in ctx.dropped else
                                       "—" if hid == "daemon_cpu" and c == "floor" else "not run")
                 for c in HEADLINE_COLS]
        verdict = f"**{t['status']}**"
        if h["goal_ok"] is not None:
            verdict += ", goal met" if h["goal_ok"] else ", goal not met"
        if h["alt"] is not None:
            verdict += f"; syscall path {'PASS' if h['alt'] else 'MISS'}"
        rows.append([what, *cells, lim(target), lim(goal), verdict])
    out = [table(["what", *[names[c] for c in HEADLINE_COLS], "target", "goal", "verdict"], rows), ""]
    out.append(f"Verdict: the default capture path's figure (**{ctx.default}**"
               + (", socket layer" if ctx.default == "tracegapd" else ", syscall tracepoints") +
               ") against the target; whether it also meets the goal, and the syscall path's own verdict, follow. "
               "Figures are medians over the reps of per-rep paired figures, each run against the `none` run of the "
               "same rep: loss = 100 × (1 − config/none) of the throughput; p99 = config/none − 1; added ns = "
               "config − none; daemon CPU = the worst of the rates' medians (section 4; utime+stime counts 10 ms "
               "ticks, so at 1k req/s for 20 s one tick is 0.5 µs per request: the section has the ns-precise "
               "schedstat figure beside it). The floor column is the "
               "same measure for empty programs on the socket-layer hooks (the socket path's unavoidable part).\n")
    if ctx.dropped:
        out.append(f"This kernel has no sock/sock_send_length and sock/sock_recv_length tracepoints (Linux 6.3+): "
                   f"{', '.join(ctx.dropped)} did not run; only {', '.join(ctx.configs)} did, and the default capture "
                   "here is the syscall path.\n")
    cmds = []
    if "http1" in r:
        cmds.append(f"HTTP/1 loss: `{r['http1']['cmd_sat']}`; p99: `{r['http1']['cmd_fixed']}` (section 1)")
    if "h2grpc" in r:
        cmds.append(f"HTTP/2: `{r['h2grpc']['cmd_h2']}`; gRPC: `{r['h2grpc']['cmd_grpc']}` (section 2)")
    if "https" in r:
        cmds.append(f"HTTPS: `{r['https']['cmd']}` (section 2b)")
    if "syscall" in r:
        cmds.append(f"syscalls: `{r['syscall']['cmd']}` (section 3)")
    if "daemon" in r:
        cmds.append(f"daemon CPU: `{r['daemon']['cmd']}` (section 4)")
    if cmds:
        out.append("Commands (each under every configuration, the configuration started and stopped around it): "
                   + "; ".join(cmds) + ".\n")
    b = bpf_budget(r.get("evidence", {}))
    if b:
        out.append(f"BPF budget per message (evidence section, HTTP/1 at 10k req/s, all processes): {b}.\n")
    return out


def write_report(ctx, path, started, finished, cmdline):
    r = ctx.results
    mi = r["_machine"]
    out = []
    out.append("# tracegap benchmarks\n")
    out.append(f"Generated by `bench/run.py` ({'smoke run: 1 rep, seconds per section — figures are not meaningful' if ctx.smoke else 'full run'}), "
               f"{started} → {finished} UTC. Do not edit by hand: re-run the command below.\n")
    if r.get("_noisy"):
        out.append(f"> **Taken on a loaded machine.** Load average {r['_load']['start']} when the run started and "
                   f"{r['_load']['end']} when it ended (2 CPUs, shared with other engineers' builds and tests). "
                   "Absolute figures are depressed and noisy; interleaving (none, floor, tracegapd, …) and per-rep "
                   "paired ratios keep the comparisons usable, but small differences (≈1 %) are within noise.\n")
    if ctx.foreign:
        out.append(f"> Other tracegap-like BPF tracepoint programs (another engineer's tracegapd, e.g. an end-to-end "
                   f"test) were seen attached at {len(ctx.foreign)} of the start/end-of-run checks "
                   f"({', '.join(sorted(set(f'{s}/{c}' for s, c, n in ctx.foreign)))}); they tax every configuration, "
                   f"`none` included. Before each run the suite waited for such programs to go (at most "
                   f"{ctx.clean_wait:.0f} s per run; {ctx.waited:.0f} s in all).\n")
    la = r["_load"]
    if r.get("_noisy") or ctx.foreign:
        out.append(f"Machine: **not quiet** (load average {la['start']} at start, {la['end']} at end; foreign "
                   f"tracegap-like programs seen at {len(ctx.foreign)} start/end-of-run checks).\n")
    else:
        out.append(f"Machine: quiet (load average {la['start']} at start, {la['end']} at end; no other tracegap-like "
                   "BPF programs seen at any start/end-of-run check).\n")
    out.append("## Targets\n")
    out.extend(headline_table(ctx))
    out.append("## Command\n")
    out.append(f"```\n{cmdline}\n```\n")
    out.append(f"Reps: {ctx.reps} per configuration, interleaved ({', '.join(ctx.configs)}, none, …); each figure is the "
               "median, with min–max in parentheses. Ratios and differences against `none` are computed per rep "
               "(each run against the `none` run right before it) and then the median is taken.\n")
    out.append("## Machine\n")
    out.append(table(["what", "value"], [
        ["CPUs (nproc)", mi["nproc"]], ["CPU model", mi["cpu"]], ["kernel", mi["kernel"]], ["memory", mi["mem"]],
        ["OS", mi["os"]], ["load average (1/5/15 min) at start", r["_load"]["start"]],
        ["load average at end", r["_load"]["end"]], ["tracegap commit", mi["commit"]],
        ["return-stack mitigation (spec_rstack_overflow)", mi.get("srso", "?")],
        *[[f"{c}'s capture variant", v] for c, v in r.get("_bpf_build", {}).items()],
        *[[k, v] for k, v in mi["tools"].items()]]))
    out.append("")
    out.append("Placement: the machine has 2 CPUs and no third. Servers (nginx worker, nghttpd, the gRPC server, "
               f"syscall_bench) are pinned to CPU {SERVER_CPU}; load generators (wrk, h2load, the gRPC client, "
               f"conn_driver) **and tracegapd / tracegap-floor** to CPU {LOAD_CPU} (`taskset`). The daemon therefore "
               "competes with the load generator, never with the server; the BPF programs themselves run in the "
               "context of whichever process makes the syscall (mostly the server on CPU 0, and the load "
               "generator).\n")
    out.append("Configurations (tracegapd has two capture paths, each measured with its floor): **none** — nothing "
               "attached; **floor** — `tracegap-floor --sock`, empty BPF programs on the socket-layer hooks "
               "(tp_btf sock_send_length, sock_recv_length, inet_sock_set_state: the unavoidable price of hooking "
               "there at all); **tracegapd** — the daemon with default options (socket-layer capture where the "
               "kernel has it); **floor-syscall** — `tracegap-floor`, empty programs on the 17 tracepoints of the "
               "syscall path (8 sys_enter, 8 sys_exit, inet_sock_set_state); **tracegapd-syscall** — "
               "`tracegapd --capture syscall`. Measured here: " + ", ".join(ctx.configs) + " (the daemon section "
               "runs none and the daemons only; the scale section each daemon alone). Each run starts and stops its "
               "configuration; the servers stay up for a whole section.\n")

    others = [t for t in ctx.targets if not t.get("headline")]
    if others:
        out.append("## Other targets\n")
        out.append(table(["", "what", "figure", "target"],
                         [[f"**{t['status']}**", t["what"], t["figure"] + (f" — {t['note']}" if t["note"] else ""),
                           t["target"]] for t in others]))
        out.append("")

    if "http1" in r:
        h = r["http1"]
        out.append("## 1. HTTP/1.1 service overhead (nginx)\n")
        out.append(f"nginx 1 worker (`{h['nginx']['conf']}`, keepalive_requests unlimited so that every load is pure "
                   "keep-alive), generated config in a temp dir, `nginx -c CONF -p DIR -g 'daemon off;'`. "
                   "Server CPU = utime+stime of the nginx worker from /proc/PID/stat before/after, per request "
                   "(util = on-CPU time from schedstat / wall time).\n")
        out.append(f"**Saturation** — `{h['cmd_sat']}`\n")
        out.append(table(*load_rows(h["sat"], server="nginx")))
        out.append("")
        out.append(f"**Fixed rate: {h['fixed_rate']:.0f} req/s** (50 % of the median `none` saturation of this run). "
                   "wrk has no rate control, so this uses h2load (nghttp2-client) in HTTP/1.1 mode, whose `--rps` paces "
                   "each client (16 clients × rate/16); p50/p99 come from h2load's per-request `--log-file`. "
                   f"`{h['cmd_fixed']}`\n")
        out.append(table(*load_rows(h["fixed"], server="nginx")))
        out.append("")
    if "h2grpc" in r:
        g = r["h2grpc"]
        out.append("## 2. HTTP/2 and gRPC service overhead\n")
        out.append(f"**HTTP/2 (h2c)**: `nghttpd --no-tls` (nghttp2-server, 1 thread) serving a 2-byte file; "
                   f"`{g['cmd_h2']}` (16 connections × 8 concurrent streams, prior-knowledge h2c).\n")
        out.append(table(*load_rows(g["h2"], server="nghttpd")))
        out.append("")
        out.append("**gRPC unary** (python3-grpcio, `bench/grpc_driver.py`): grpc.aio server and client with generic "
                   "handlers and raw-bytes messages (no protoc), insecure channel on 127.0.0.1, 16 concurrent callers "
                   f"on one channel, 16-byte request, 2-byte reply. `{g['cmd_grpc']}`\n")
        out.append(table(*load_rows(g["grpc"], unit="calls/s", server="gRPC server")))
        out.append("")
    if "https" in r:
        t = r["https"]
        out.append("## 2b. HTTPS: the TLS uprobes' cost (nginx over OpenSSL 3)\n")
        out.append("The section 1 nginx with a TLS listener (self-signed RSA-2048, TLS 1.3, keep-alive: one handshake "
                   "per connection) and, interleaved with it, the same nginx in plaintext. tracegapd reads the "
                   "plaintext at uprobes on SSL_read/SSL_write (entry and return) in nginx and in wrk, which "
                   "both map the system's libssl.so.3 (docs/tls.md); the floor has no uprobes (its figure is the "
                   "socket hooks' cost on ciphertext, which tracegapd passes over). "
                   f"`{t['cmd']}`\n")
        out.append("**HTTPS**\n")
        out.append(table(*load_rows(t["tls"], server="nginx")))
        out.append("")
        out.append("**The same load in plaintext, same run**\n")
        out.append(table(*load_rows(t["plain"], server="nginx")))
        out.append("")
    if "syscall" in r:
        s = r["syscall"]
        runs = s["runs"]
        out.append("## 3. Per-syscall price\n")
        out.append(f"`{s['cmd']}` (64-byte write+read ping-pong; bytes never start like HTTP; the pipe is written at "
                   "one end and read at the other). ns per syscall; "
                   "added cost = configuration − none, per rep.\n")
        rows = []
        for case, what in (("tcp_loopback", "TCP loopback (non-HTTP)"), ("unix_socketpair", "UNIX socket pair"),
                           ("pipe", "pipe"), ("regular_file", "regular file")):
            for c in runs:
                fl = FLOOR_OF.get(c)
                rows.append([what, c, ms([x[case] for x in runs[c]]),
                             "—" if c == "none" else ms(paired_diff(runs, case, c)),
                             ms([a[case] - b[case] for a, b in zip(runs[c], runs[fl])]) if fl in runs else "—",
                             f"{sum(1 for x in runs[c] if x.get('foreign'))}/{len(runs[c])}"])
        out.append(table(["case", "config", "ns per syscall", "added vs none (paired)",
                          "daemon − its floor (paired)", "runs with another tracegapd attached"], rows))
        out.append("")
    if "daemon" in r:
        dd = r["daemon"]
        out.append("## 4. Daemon cost\n")
        out.append(f"Maximum of this load generator on this machine (h2load --h1 -c64, none): **{dd['max_rps']:.0f} req/s**. "
                   "Rates above 90 % of it are replaced by an unpaced run at the maximum (labelled so). "
                   f"`{dd['cmd']}` (20 s at 1k req/s), under none and each daemon configuration (the floors have no "
                   "daemon). Daemon CPU = utime+stime of the whole process (/proc/PID/stat, 10 ms ticks) "
                   "before/after each run, after a 0.3 s drain; schedstat = on-CPU ns summed over its threads "
                   "(precise, shown for comparison). RSS = VmRSS after the run. Kernel drops = increase of "
                   "the sum of `tracegap_kernel_drops_total` over the run.\n")
        rows = []
        for p, c in ((p, c) for p in dd["points"] for c in p["runs"] if is_daemon(c)):
            rs = p["runs"][c]
            rows.append([p["label"], c, ms([x["rps"] for x in rs], 0),
                         ms([x["daemon_cpu_s"] * 1e5 / x["n"] for x in rs], 3),
                         ms([x["daemon_us_per"] for x in rs], 2), ms([x["daemon_sched_us_per"] for x in rs], 2),
                         ms([x["rss_kib"] / 1024 for x in rs], 1), f"{sum(x['drops'] for x in rs):.0f}",
                         ms([100 * x["seen"] / x["n"] for x in rs], 0) + " %",
                         ms([x["server_us_per"] for x in p["runs"]["none"]], 2) + " / " +
                         ms([x["server_us_per"] for x in rs], 2), foreign_runs({k: p["runs"][k] for k in ("none", c)})])
        out.append(table(["HTTP/1 rate", "config", "achieved req/s", "daemon CPU s / 100k req", "µs/req (utime+stime)",
                          "µs/req (schedstat)", "RSS MiB", "kernel drops", "inbound requests counted",
                          "nginx CPU µs/req none / this config",
                          "runs with another tracegapd attached (none / this config)"], rows))
        out.append("")
        out.append(f"**gRPC** at a fixed {dd['grpc_rate']:.0f} calls/s (the lower of 5,000 and 50 % of a quick maximum of "
                   f"{dd['grpc_max']:.0f} calls/s): `{dd['cmd_grpc']}`\n")
        out.append(table(["config", "calls/s", "daemon CPU s / 100k calls", "µs/call (utime+stime)", "µs/call (schedstat)",
                          "RSS MiB", "kernel drops", "gRPC server CPU µs/call none / this config"],
                         [[c, ms([x["rps"] for x in rs], 0), ms([x["daemon_cpu_s"] * 1e5 / x["n"] for x in rs], 3),
                           ms([x["daemon_us_per"] for x in rs], 2), ms([x["daemon_sched_us_per"] for x in rs], 2),
                           ms([x["rss_kib"] / 1024 for x in rs], 1), f"{sum(x['drops'] for x in rs):.0f}",
                           ms([x["server_us_per"] for x in dd["grpc"]["none"]], 1) + " / " +
                           ms([x["server_us_per"] for x in rs], 1)]
                          for c, rs in dd["grpc"].items() if is_daemon(c)]))
        out.append("")
    for n, (cfgname, sc) in enumerate(r.get("scale", {}).items()):
        if n == 0:
            out.append("## 5. Scale\n")
            out.append(f"Each daemon configuration alone (none and the floors have no daemon, map or gauge to watch). nginx with "
                       f"worker_connections sized for the load; `bench/conn_driver.py` on CPU {LOAD_CPU} raises its "
                       f"RLIMIT_NOFILE. Twice: {sc['conns']} keep-alive connections opened, one GET each, held (sampled 2.5 s "
                       f"after all are open: the gauge is refreshed every 2 s), a second GET on each, then all closed (sampled {sc['after_s']} s later). Then "
                       f"{sc['short']} short connections (connect, one GET with `Connection: close`, read to EOF, close; "
                       f"32 at a time; deadline 60 s), sampled every 2 s for the peak and {sc['after_s']} s after. "
                       "tg_conns entries: `bpftool map dump id N` (the map found through tracegapd's own fds in "
                       "/proc/PID/fdinfo, since this bpftool does not list owner pids), JSON length. Both ends of a "
                       "loopback connection are sockets that tracegapd tracks (nginx's and the client's), so N connections "
                       "make up to 2N entries.\n")
        out.append(f"### {cfgname}\n")
        out.append(table(["when", f"{cfgname} RSS MiB", "tg_conns entries", "tracegap_connections_tracked",
                          "kernel drops (total)", "nginx worker RSS MiB"],
                         [[s["label"], f"{s['rss_kib'] / 1024:.1f}", s["map"], f"{s['tracked']:.0f}", f"{s['drops']:.0f}",
                           f"{s['nginx_rss_kib'] / 1024:.1f}"] for s in sc["samples"]]))
        out.append("")
        h1, h2, sr = sc.get("hold1", {}), sc.get("hold2", {}), sc.get("short_result", {})
        out.append(f"Load results: round 1 {h1.get('opened')} opened / {h1.get('ok')} second GETs ok / {h1.get('errors')} errors; "
                   f"round 2 {h2.get('opened')} / {h2.get('ok')} / {h2.get('errors')}; short connections "
                   f"{sr.get('done')} done, {sr.get('errors')} errors in {sr.get('seconds', 0):.1f} s "
                   f"({sr.get('rate', 0):.0f}/s).\n")
    if "evidence" in r:
        ev = r["evidence"]
        out.append("## Evidence: where the time goes\n")
        if not ev.get("bpf_stats"):
            out.append("BPF run-time statistics were not available on this kernel/arch.\n")
        for key, what, unit in (("progs_http1", f"HTTP/1 at 10k req/s (`{ev.get('cmd_stats')}`), per request served",
                                 "HTTP/1 request"),
                                ("progs_syscall", "syscall_bench (TCP non-HTTP, UNIX pair, pipe, file; `syscall_bench "
                                 "--iterations 100000 --reps 1`), per syscall it makes", "syscall_bench syscall")):
            rows = []
            for cfgname in ctx.configs:
                b = bpf_per_unit(ev.get(f"{key}_{cfgname}"))
                if not b:
                    continue
                data = ev[f"{key}_{cfgname}"]
                for name, (cnt, ns) in sorted(data["progs"].items()):
                    if cnt:
                        rows.append([cfgname, name, f"{cnt:,}", f"{cnt / data['n']:.2f}", f"{ns / cnt:.0f}",
                                     f"{ns / data['n']:.1f}"])
                rows.append([cfgname, "**all programs**", "", "", "", f"**{b[0]:.1f}**"])
            if rows:
                out.append(f"BPF programs during {what} (kernel run-time statistics, BPF_ENABLE_STATS; they add "
                           "two clock reads per program run; programs run in every process, the load generator's "
                           "included):\n")
                out.append(table(["config", "program", "runs", "runs per unit", "ns/run", "ns per unit"], rows))
                out.append("")
                out.append(f"Per {unit}: {bpf_budget(ev, key, unit)}.\n")
        for key, what in (*[(f"perf_syscall_{c}", f"syscall_bench under {c}, `perf record -F 999 -- taskset -c 0 "
                                                    "syscall_bench --iterations 100000 --reps 1`") for c in ctx.configs],
                          *[(f"perf_daemon_{c}", f"{c} at 10k req/s (HTTP/1), `perf record -F 4999 -p PID`")
                            for c in ctx.configs if is_daemon(c)],
                          *[(f"perf_nginx_{c}", f"the nginx worker at saturation (wrk -c16) under {c}, `perf record -F 999 -p PID`")
                            for c in ctx.configs if c != "none"]):
            rows = ev.get(key)
            if rows:
                b, g, h = perf_shares(rows)
                out.append(f"Profile of {what}: JITed BPF programs {b:.1f} %, tracepoint→BPF glue {g:.1f} %, "
                           f"BPF helpers and map code ≤ {h:.1f} % of samples. Top symbols:\n")
                out.append("```\n" + "\n".join(f"{p:6.2f}%  {dso:<24} {sym}" for p, comm, dso, sym in rows[:20]) + "\n```\n")
    misses = [t for t in ctx.targets if t["status"] == "MISS"]
    if misses:
        out.append("## Analysis of each MISS\n")
        for t in misses:
            out.append(f"### MISS: {t['what']}\n")
            out.append(f"Figure: {t['figure']}; target {t['target']}.\n")
            out.append(analysis(ctx, t))
            out.append("")
    # The fleet-scale section is bench/fleet.py's: kept as it is, between its markers.
    try:
        previous = Path(path).read_text()
        begin = previous.index("<!-- fleet.py: begin")
        end = previous.index("<!-- fleet.py: end -->") + len("<!-- fleet.py: end -->")
        out.append(previous[begin:end] + "\n")
    except (OSError, ValueError):
        pass
    out.append("## How to reproduce\n")
    out.append("`scripts/build.sh`, then as root `bench/run.py` (full, ≈ 50 min, rewrites this file) or "
               "`bench/run.py --smoke` (≈ 2.5 min, report to a temp file; also `ctest -L bench`). "
               "`--only http1|h2grpc|https|syscall|daemon|scale|evidence` runs one section, `--reps N` changes the "
               "repetitions, `--configs none,tracegapd,...` measures a subset of the configurations. Needs wrk, nghttp2-client, nghttp2-server, python3-grpcio, nginx, openssl, bpftool and linux-perf "
               "(scripts/install-deps.sh installs them). The fleet-scale section is written by "
               "`bench/fleet.py --doc docs/BENCHMARKS.md` (≈ 1 min; it builds on `tracegap-fleet-clients`), "
               "and kept by this script.\n")
    Path(path).write_text("\n".join(out))


# ------------------------------------------------------------------------------------------------

def check_tools(ctx, sections):
    need = {"taskset", "bpftool"}
    if {"http1", "daemon", "scale", "evidence"} & set(sections):
        need |= {"nginx", "h2load"}
    if {"http1", "https", "evidence"} & set(sections):
        need.add("wrk")
    if "https" in sections:
        need |= {"nginx", "openssl"}
    if "h2grpc" in sections:
        need |= {"nghttpd", "h2load"}
    if "evidence" in sections:
        need.add("perf")
    missing = [t for t in sorted(need) if not shutil.which(t) and not os.path.exists(f"/usr/sbin/{t}")]
    for b in ("tracegapd", "tracegap-floor", "syscall_bench"):
        if not (ctx.bins / b).exists():
            missing.append(str(ctx.bins / b))
    if {"h2grpc", "daemon"} & set(sections):
        if subprocess.run([PYTHON, "-c", "import grpc"], capture_output=True).returncode != 0:
            missing.append("python3-grpcio (import grpc in /usr/bin/python3)")
    if missing:
        raise ToolError("missing tools: " + ", ".join(missing) + " (scripts/install-deps.sh, scripts/build.sh)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="seconds per section, 1 rep; report to a temp file (never docs/)")
    ap.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    ap.add_argument("--reps", type=int, default=5, help="runs per configuration (median reported; default 5)")
    ap.add_argument("--out", help="report path (default: docs/BENCHMARKS.md for a full run, a temp file for --smoke)")
    ap.add_argument("--bin-dir", default=os.environ.get("TRACEGAP_BIN_DIR", str(REPO / "build" / "bin")),
                    help="where tracegapd, tracegap-floor and syscall_bench are (default build/bin or $TRACEGAP_BIN_DIR)")
    ap.add_argument("--tracegapd-arg", action="append", default=[], help="extra tracegapd option (repeatable)")
    ap.add_argument("--configs", help="comma list of configurations to measure, of " + ",".join(CONFIGS) +
                    " (default all; none is always measured)")
    args = ap.parse_args()
    if args.reps < 1 or args.reps > 50:
        ap.error("--reps must be in 1..50")
    bad = [c for c in (args.configs or "").split(",") if args.configs and c not in CONFIGS]
    if bad:
        ap.error(f"--configs: unknown {', '.join(bad)} (known: {', '.join(CONFIGS)})")
    if os.geteuid() != 0 or not os.path.exists("/sys/kernel/btf/vmlinux"):
        print("SKIP: bench/run.py needs root and a kernel with BTF (it attaches BPF programs)", flush=True)
        return SKIP
    if os.cpu_count() < 2:
        print("SKIP: bench/run.py needs 2 CPUs (server on CPU 0, load on CPU 1)", flush=True)
        return SKIP
    docs = REPO / "docs"
    if args.out:
        out = Path(args.out).resolve()
        if args.smoke and docs in out.parents:
            ap.error("--smoke never writes under docs/")
    elif args.smoke:
        fd, p = tempfile.mkstemp(prefix="tracegap-bench-smoke-", suffix=".md")
        os.close(fd)
        out = Path(p)
    else:
        out = docs / "BENCHMARKS.md"
    sections = args.only or [s for s in SECTIONS if not (args.smoke and s == "evidence")]
    os.environ["TRACEGAP_BIN_DIR"] = str(Path(args.bin_dir).resolve())

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    ctx = Ctx(args)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    la0 = loadavg()
    cmdline = shlex.join(["bench/run.py", *sys.argv[1:]])
    log(f"{'smoke' if args.smoke else 'full'} run: sections {', '.join(sections)}; reps {ctx.reps}; "
        f"configurations {', '.join(ctx.configs)}; load average {la0}; report → {out}")
    if ctx.dropped:
        log(f"this kernel has no socket-layer tracepoints (sock_send_length/sock_recv_length, Linux 6.3+): "
            f"not measuring {', '.join(ctx.dropped)}")
    if la0[0] >= 0.5 and not args.smoke:
        log(f"the machine is not quiet (1-min load average {la0[0]} ≥ 0.5): the report will say so")
    rc = 0
    try:
        check_tools(ctx, sections)
        ctx.results["_machine"] = machine_info()
        funcs = {"http1": sec_http1, "h2grpc": sec_h2grpc, "https": sec_https, "syscall": sec_syscall,
                 "daemon": sec_daemon,
                 "scale": sec_scale, "evidence": sec_evidence}
        for s in sections:
            ctx.section = s
            log(f"== section {s}")
            funcs[s](ctx)
    except ToolError as e:
        log(f"FAILED: {e}")
        rc = 1
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        PROCS.stop_all()
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    la1 = loadavg()
    ctx.results["_load"] = {"start": " / ".join(f"{x:.2f}" for x in la0), "end": " / ".join(f"{x:.2f}" for x in la1)}
    ctx.results["_noisy"] = la0[0] >= 0.5 or la1[0] >= 1.5
    if rc == 130 or "_machine" not in ctx.results:
        return rc
    if rc == 0:
        finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
        write_report(ctx, out, started, finished, cmdline)
        raw = out.with_suffix(".json") if args.smoke or args.out else Path(tempfile.gettempdir()) / "tracegap-bench-last.json"
        raw.write_text(json.dumps({k: v for k, v in ctx.results.items()}, indent=1, default=str))
        log(f"report written to {out} (raw figures: {raw})")
    summary = {s: sum(1 for t in ctx.targets if t["status"] == s) for s in ("PASS", "MISS", "N/A")}
    print(f"bench: {summary['PASS']} PASS, {summary['MISS']} MISS" + (" — tool failure, see above" if rc else ""),
          flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
