"""Helpers for tracegap's end-to-end tests: run tracegapd, real servers and clients, read /metrics.

These tests need root and a kernel where BPF works. Where that is not so they exit with code 77,
which ctest reports as skipped (with the reason printed), never as passed.
"""
import atexit
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

SKIP = 77
TRACEGAPD = os.environ.get("TRACEGAPD", "build/bin/tracegapd")
TRACEGAP = os.environ.get("TRACEGAP", "build/bin/tracegap")
# Which capture hooks every Daemon of this run uses (tracegapd --capture), unless a test names its
# own: the e2e tier runs once as the daemon chooses (auto) and once more with "syscall", so that
# both capture paths pass the same tests (tests/CMakeLists.txt).
CAPTURE = os.environ.get("TRACEGAP_TEST_CAPTURE", "auto")


def kernel_btf_has(name):
    """Whether the running kernel's BTF names `name` (a function, type or typedef)."""
    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        return b"\0" + name.encode() + b"\0" in f.read()


def kernel_has_socket_hooks():
    """The socket-layer tracepoints (Linux 6.3+), as the daemon looks for them."""
    return kernel_btf_has("btf_trace_sock_send_length") and kernel_btf_has("btf_trace_sock_recv_length")


def kernel_has_rdonly_cast():
    return kernel_btf_has("bpf_rdonly_cast")


def expected_variant(http2=True, capture=None):
    """The capture variant a daemon started with --capture `capture` (default: this run's) runs
    when the kernel refuses nothing, e.g. "socket+http2" or "syscall+probe-reads+http1-only"."""
    capture = capture or CAPTURE
    tail = "+http2" if http2 else "+http1-only"
    if capture != "syscall" and kernel_has_socket_hooks():
        return "socket" + tail
    return "syscall+" + ("direct-reads" if kernel_has_rdonly_cast() else "probe-reads") + tail
PYTHON = "/usr/bin/python3"

VALID_TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def skip_unless_bpf():
    """Exits 77 with a reason unless this process can run tracegapd."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root (tracegapd needs CAP_BPF and CAP_PERFMON)")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        reasons.append("no kernel BTF at /sys/kernel/btf/vmlinux")
    if reasons:
        print("SKIP: end-to-end test cannot run here: " + "; ".join(reasons), flush=True)
        sys.exit(SKIP)


def name_this_process(name="tg-e2e"):
    """Renames this test process, so that its own /metrics scrapes are counted under a comm that
    no assertion looks at."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME on the main thread = the process comm


def stop(proc, timeout=10):
    """SIGTERM, then SIGKILL if `proc` has not exited within `timeout` seconds; reaps it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None, name="server"):
    """Waits until something accepts connections on host:port. TimeoutError after `timeout`;
    RuntimeError at once if `proc` (the server's Popen, when given) exits first."""
    deadline = time.monotonic() + timeout
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.socket(family) as s:
                s.settimeout(0.5)
                s.connect((host, port))
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{name}: nothing listens on {host}:{port} after {timeout}s")


# ------------------------------------------------------------------------------------------------
# Metrics

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise ValueError(f"unparsable metrics line: {line!r}")
        labels = frozenset(_LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


class Metrics:
    def __init__(self, samples):
        self.samples = samples

    def get(self, name, **labels):
        """Sum of `name` over samples whose labels include `labels`."""
        total = 0.0
        want = set(labels.items())
        for (n, ls), v in self.samples.items():
            if n == name and want <= set(ls):
                total += v
        return total

    def delta(self, before, name, **labels):
        return self.get(name, **labels) - before.get(name, **labels)

    def by_label(self, name, label, **labels):
        """{value of `label`: sum of `name`} over samples whose labels include `labels`."""
        out = {}
        want = set(labels.items())
        for (n, ls), v in self.samples.items():
            if n == name and want <= set(ls):
                key = dict(ls).get(label, "")
                out[key] = out.get(key, 0.0) + v
        return out


def scrape(port, timeout=5):
    """/metrics of the tracegapd on 127.0.0.1:port, parsed."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
        return Metrics(parse_metrics(r.read().decode()))


REQ = "tracegap_requests_total"
OUT = "tracegap_outbound_total"
MAL = "tracegap_malformed_total"
HPACK_ERRORS = "tracegap_hpack_errors_total"

# Malformed traceparents, each with the reason it must be counted under.
MALFORMED = [
    ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", "uppercase_hex"),
    ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "zero_trace_id"),
    ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "length"),
    ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version"),
]


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


# ------------------------------------------------------------------------------------------------
# tracegapd

class Daemon:
    """tracegapd on a free port; stopped with SIGTERM, which must end it with 0 within
    stop_timeout (2 s; a test that has many TLS uprobes attached allows for their detach).
    start_timeout: how long it may take to serve /metrics (longer under emulation)."""

    def __init__(self, *args, start_timeout=30.0, env=None, stop_timeout=2.0):
        self.port = free_port()
        self.args = list(args)
        if CAPTURE != "auto" and not any(a == "--capture" or a.startswith("--capture=") for a in self.args):
            self.args += ["--capture", CAPTURE]
        self.env = None if env is None else {**os.environ, **env}
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.log_path = tempfile.mktemp(prefix="tracegapd-", suffix=".log")
        self.api_socket = os.path.join(tempfile.mkdtemp(prefix="tg-api-"), "api.sock")
        self.proc = None

    def __enter__(self):
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([TRACEGAPD, "--listen", f"127.0.0.1:{self.port}",
                                      "--api-socket", self.api_socket, *self.args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tracegapd exited with {self.proc.returncode}:\n{self.output()}")
            try:
                self.scrape_text()
                return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"tracegapd did not serve /metrics within {self.start_timeout:g} s:\n"
                           + self.output())

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"tracegapd did not stop within {self.stop_timeout:g} s of SIGTERM")
        self.log.close()
        return False

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def status(self):
        """`tracegap status --json` against this daemon, parsed."""
        r = subprocess.run([TRACEGAP, "--socket", self.api_socket, "status", "--json"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise AssertionError(f"tracegap status exited {r.returncode}: {r.stderr}")
        return json.loads(r.stdout)

    def scrape_text(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return r.read().decode()

    def scrape(self):
        return scrape(self.port)

    def wait_for(self, check, timeout=10.0):
        """Scrapes until check(metrics) is true, then once more after a pause so that a count still
        rising is caught; returns the last metrics. The caller asserts on them."""
        deadline = time.monotonic() + timeout
        m = self.scrape()
        while not check(m) and time.monotonic() < deadline:
            time.sleep(0.1)
            m = self.scrape()
        time.sleep(0.4)
        return self.scrape()


# ------------------------------------------------------------------------------------------------
# Real peers

class Nginx:
    """nginx with one worker on 127.0.0.1:port and [::1]:port; `/` answers 200 to any method.
    Optional `extra` is placed inside the server block. Its processes' comm is COMM."""

    COMM = "tg-nginx"

    def __init__(self, extra="", port=None, comm=None, worker_connections=1024):
        self.comm = comm or self.COMM
        self.worker_connections = worker_connections
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="tg-nginx-")
        self.extra = extra

    def __enter__(self):
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
worker_processes 1;
worker_rlimit_nofile {2 * self.worker_connections};
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections {self.worker_connections}; }}
http {{
  access_log off;
  client_body_temp_path {self.dir};
  proxy_temp_path {self.dir};
  fastcgi_temp_path {self.dir};
  uwsgi_temp_path {self.dir};
  scgi_temp_path {self.dir};
  server {{
    listen 127.0.0.1:{self.port};
    listen [::1]:{self.port};
    location / {{ return 200 "ok\\n"; }}
    {self.extra}
  }}
}}
""")
        # A copy of the binary named tg-nginx: its comm is then tg-nginx, so any other nginx on the
        # host (a package's service, a benchmark) never shows in this test's counts.
        nginx = os.path.join(self.dir, self.comm)
        shutil.copy(shutil.which("nginx") or "/usr/sbin/nginx", nginx)
        self.proc = subprocess.Popen([nginx, "-c", conf, "-p", self.dir, "-g", "daemon off;"],
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


_NAMED_BIN = tempfile.mkdtemp(prefix="tg-e2e-bin-")
atexit.register(shutil.rmtree, _NAMED_BIN, True)


def named(tool, name):
    """A symlink to `tool` called `name`: a program run through it has comm `name`, so its
    traffic is told apart from any other copy of the tool on the host."""
    path = os.path.join(_NAMED_BIN, name)
    if not os.path.exists(path):
        os.symlink(shutil.which(tool) or f"/usr/sbin/{tool}", path)
    return path


def bpf_fd_ids(pid, key):
    """The ids (`key` = prog_id, link_id or map_id) of the BPF objects whose fds process `pid`
    holds, from /proc/PID/fdinfo: exact for one daemon, whatever else runs BPF on the machine."""
    ids = set()
    fd_dir = f"/proc/{pid}/fdinfo"
    try:
        fds = os.listdir(fd_dir)
    except OSError:  # the process is gone
        return ids
    for fd in fds:
        try:
            with open(os.path.join(fd_dir, fd)) as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(key + ":"):
                ids.add(int(line.split()[1]))
    return ids


def rss_kib(pid):
    """VmRSS of pid, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def assert_one_line(test, r, code, *needles):
    """r (a finished tracegapd run) exited with `code` after exactly one line on stderr that
    contains every needle."""
    lines = r.stderr.strip().splitlines()
    test.assertEqual(r.returncode, code, r.stderr)
    test.assertEqual(len(lines), 1, f"want one line on stderr, got:\n{r.stderr}")
    for needle in needles:
        test.assertIn(needle, lines[0])


def curl(url, *headers, data=None, extra=()):
    cmd = ["curl", "-sS", "-o", "/dev/null", "--max-time", "10", *extra]
    for h in headers:
        cmd += ["-H", h]
    if data is not None:
        cmd += ["--data-binary", data]
    cmd.append(url)
    subprocess.run(cmd, check=True)


def run_python(code, *args, timeout=30):
    """Runs `code` in a separate /usr/bin/python3 process (comm "python3")."""
    subprocess.run([PYTHON, "-c", code, *map(str, args)], check=True, timeout=timeout)


def main():
    skip_unless_bpf()
    name_this_process()
    unittest.main(verbosity=2)
