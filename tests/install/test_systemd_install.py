#!/usr/bin/python3
"""Install test: the Debian package under a real systemd.

Boots a minimal Debian 12 (systemd as PID 1) in systemd-nspawn, installs the tracegap .deb with
apt (its dependencies come from the Debian mirror, so the package's Depends are tested), and
checks the service end to end: enabled and active as the tracegap user with exactly
CAP_BPF + CAP_PERFMON + CAP_DAC_READ_SEARCH; each of them proven necessary; the systemd-analyze
security score; the config file matching `tracegapd --help`; real HTTP traffic counted with the
right `unit` labels; the local API; reload (live and restart-only options, a bad config);
restart after a crash; a clean stop that leaves no BPF program loaded; running as uid 0 with
CAP_BPF + CAP_PERFMON only (the Kubernetes DaemonSet's security context); remove and purge. Then
installs and purges the package once more in a container *without* systemd running, where the
maintainer scripts must neither fail nor start anything.

Needs root, systemd-nspawn (systemd-container), mmdebstrap, nsenter, bpftool, kernel BTF, and
the Debian mirror in /etc/apt/sources.list.d/debian.sources. Without root or these tools it exits
77 (skipped, with the reason). The container is always torn down, also when this test is killed
(PR_SET_PDEATHSIG), and it runs on a throw-away overlay of a cached root (--volatile=overlay).

Usage: test_systemd_install.py --deb-dir build/packaging
Environment: TRACEGAP_TEST_CACHE (default /var/cache/tracegap-test) holds the cached root.
"""
import argparse
import ctypes
import glob
import json
import os
import re
import shutil
import signal
import tempfile
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import check_packaging  # noqa: E402  (daemon_options: the --help parser shared with the static test)
import debian_root  # noqa: E402  (the cached Debian 12 root, shared with tests/e2e/test_workloads.py)
from debian_root import SOURCES_CANDIDATES, sources_file  # noqa: E402

SKIP = 77
DEB_MOUNT = "/mnt/tracegap-deb"
MAX_EXPOSURE = 2.5
# CAP_DAC_READ_SEARCH (2), CAP_PERFMON (38), CAP_BPF (39)
UNIT_CAPS = (1 << 2) | (1 << 38) | (1 << 39)
ROOT_K8S_CAPS = (1 << 38) | (1 << 39)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def skip(reason):
    print(f"SKIP: install test cannot run here: {reason}", flush=True)
    sys.exit(SKIP)


class Failure(Exception):
    pass


def expect(ok, what, detail=""):
    if not ok:
        raise Failure(what + (f"\n{detail}" if detail else ""))
    log(f"ok: {what}")


def die_with_parent():
    """preexec_fn: the child gets SIGTERM when this test process dies, however it dies (a ctest
    timeout kills it with SIGKILL): systemd-nspawn then shuts the container down."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


# ------------------------------------------------------------------------------------------------
# The cached root (tests/support/debian_root.py)

def cached_root():
    try:
        return debian_root.cached_root(log)
    except debian_root.BuildError as e:
        raise Failure(str(e))


# ------------------------------------------------------------------------------------------------
# The container

def nspawn_base(root, deb_dir, name):
    return ["systemd-nspawn", "-D", root,
            # No system bus / machined on this host: do not register, stay in our own cgroup.
            "--register=no", "--keep-unit",
            # Every change goes to a tmpfs overlay and is gone when the container stops.
            "--volatile=overlay",
            f"--machine={name}",
            f"--bind-ro={deb_dir}:{DEB_MOUNT}"]


class Container:
    """Debian booted with systemd in systemd-nspawn; commands run inside through nsenter."""

    def __init__(self, root, deb_dir, logfile):
        self.name = f"tracegap-install-{os.getpid()}"
        self.logfile = logfile
        cmd = nspawn_base(root, deb_dir, self.name) + [
            "--boot",
            # No tty here: the console is left alone and output goes to our log file.
            "--console=passive",
            # CAP_BPF/CAP_PERFMON are not in nspawn's default set. CAP_SYS_RAWIO lets the
            # container's systemd mount tracefs (sys-kernel-tracing.mount), as on a real host.
            "--capability=CAP_BPF,CAP_PERFMON,CAP_SYS_RAWIO",
            # nspawn's own seccomp filter returns EPERM for these otherwise.
            "--system-call-filter=bpf perf_event_open"]
        self.log_f = open(logfile, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log_f,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=die_with_parent)
        self.leader = None

    def nspawn_log(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()[-4000:]

    def find_leader(self, timeout=15):
        """The container's PID 1: a child of systemd-nspawn that is pid 1 in its own namespace."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return None
            for status in glob.glob("/proc/[0-9]*/status"):
                try:
                    with open(status) as f:
                        text = f.read()
                except OSError:
                    continue
                ppid = re.search(r"^PPid:\s+(\d+)", text, re.M)
                nspid = re.search(r"^NSpid:\s+(.*)$", text, re.M)
                if ppid and nspid and int(ppid.group(1)) == self.proc.pid and nspid.group(1).split()[-1] == "1" \
                        and len(nspid.group(1).split()) > 1:
                    self.leader = int(status.split("/")[2])
                    return self.leader
            time.sleep(0.05)
        return None

    def run(self, script, check=True, timeout=120, input=None):
        """Runs `script` with sh inside the container (all its namespaces); returns the result."""
        cmd = ["nsenter", "-t", str(self.leader), "-a",
               "env", "-i", f"PATH={CONTAINER_PATH}", "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive",
               "SYSTEMD_PAGER=", "/bin/sh", "-c", script]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise Failure(f"in the container, exit {r.returncode}: {script}\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
        return r

    def out(self, script, **kw):
        return self.run(script, **kw).stdout.strip()

    def wait_booted(self, timeout=60):
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"systemd-nspawn exited with {self.proc.returncode}"
            state = self.run("systemctl is-system-running", check=False, timeout=10).stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.2)
        return f"still '{state}' after {timeout}s"

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to power off
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                if self.leader:
                    try:
                        os.kill(self.leader, signal.SIGKILL)  # ends the whole pid namespace
                    except ProcessLookupError:
                        pass
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log_f.close()
        log(f"container {self.name} torn down (nspawn exit {self.proc.returncode})")


# ------------------------------------------------------------------------------------------------
# Host-side views

def host_bpf_progs():
    """{id: (name, uid)} of every BPF program on the host (bpftool sees the whole kernel)."""
    r = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise Failure(f"bpftool prog show failed: {r.stderr}")
    return {p["id"]: (p.get("name", ""), p.get("uid")) for p in json.loads(r.stdout or "[]")}


def tracegap_progs(progs, uid, baseline):
    """tracegap's capture programs (socket-layer `tp_btf__*` or syscall `tracepoint__*`) loaded by
    `uid` that were not there at `baseline`. Other tracegapd instances on this host (other tests,
    run as root) are told apart by uid."""
    return {i for i, (name, u) in progs.items()
            if name.startswith(("tp_btf__sock", "tracepoint__sys")) and u == uid and i not in baseline}


_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = _LINE.match(line)
            if m:
                out.append((m.group(1), dict(_LABEL.findall(m.group(3) or "")), float(m.group(4))))
    return out


def metric(samples, name, **labels):
    return sum(v for n, ls, v in samples if n == name and all(ls.get(k) == w for k, w in labels.items()))


def caps_of(status_text):
    caps = dict(re.findall(r"^(Cap\w+):\s+([0-9a-f]+)$", status_text, re.M))
    return {k: int(v, 16) for k, v in caps.items()}


GATEWAY = r'''
import http.server, sys, urllib.request
port, upstream = int(sys.argv[1]), int(sys.argv[2])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        # Calls its upstream without passing on the traceparent it received: a dropped context.
        with urllib.request.urlopen(f"http://127.0.0.1:{upstream}/", timeout=5) as r:
            r.read()
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
'''


# ------------------------------------------------------------------------------------------------
# The checks

def install(c, deb_name):
    log("installing the package with apt (dependencies from the Debian mirror)")
    c.run("apt-get update -q >/dev/null", timeout=180)
    r = c.run(f"apt-get install -y -q --no-install-recommends {DEB_MOUNT}/{deb_name}", timeout=300)
    new = re.search(r"The following NEW packages will be installed:\n((?:  .*\n)+)", r.stdout)
    log("apt installed: " + (" ".join(new.group(1).split()) if new else "(none listed)"))
    depends = c.out("dpkg-query -W -f='${Depends}' tracegap")
    for dep in re.findall(r"(?:^|, )([a-z0-9][a-z0-9.+-]+)", depends):
        expect(c.run(f"dpkg-query -W -f='${{Status}}' {dep} | grep -q 'install ok installed'", check=False).returncode == 0,
               f"dependency {dep} is installed")
    expect("not found" not in c.out("ldd /usr/sbin/tracegapd /usr/bin/tracegap"),
           "every shared library of tracegapd and tracegap resolves (Depends is complete)")


def check_files(c, version):
    expect(c.out("dpkg-query -W -f='${Conffiles}' tracegap").split()[:1] == ["/etc/tracegap/tracegapd.conf"],
           "/etc/tracegap/tracegapd.conf is a conffile")
    for path in ("/usr/sbin/tracegapd", "/usr/bin/tracegap", "/lib/systemd/system/tracegapd.service",
                 "/usr/share/man/man8/tracegapd.8.gz", "/usr/share/man/man1/tracegap.1.gz",
                 "/usr/share/doc/tracegap/copyright", "/usr/share/doc/tracegap/changelog.Debian.gz",
                 "/usr/lib/tracegap/tracegap-civetweb-libssl.so", "/usr/lib/tracegap/tracegap-civetweb-libcrypto.so"):
        expect(c.run(f"test -f {path}", check=False).returncode == 0, f"{path} is installed")
    expect(c.out("tracegap --version") == f"tracegap {version}", f"tracegap --version says {version}")
    user = c.out("getent passwd tracegap").split(":")
    expect(len(user) == 7 and int(user[2]) < 1000 and user[5] == "/nonexistent" and user[6].endswith("nologin"),
           f"system user tracegap (uid {user[2] if len(user) > 2 else '?'}, home /nonexistent, no login shell)")
    expect(c.run("getent group tracegap", check=False).returncode == 0, "group tracegap exists")
    # The config file shows every option of the installed daemon's --help with its default.
    opts = check_packaging.settable_options(c.out("tracegapd --help"))
    conf = c.out("cat /etc/tracegap/tracegapd.conf")
    for name, default in opts.items():
        if name in ("help", "version", "config"):
            continue
        if default is None:  # off unless set: the file shows an example value
            expect(f"\n# {name} = " in f"\n{conf}", f"tracegapd.conf shows '# {name} = <example>'")
        else:
            expect(f"\n# {name} = {default}\n" in f"\n{conf}\n", f"tracegapd.conf shows '# {name} = {default}'")


def check_service(c):
    expect(c.out("systemctl is-enabled tracegapd", check=False) == "enabled", "tracegapd.service is enabled")
    expect(c.out("systemctl is-active tracegapd", check=False) == "active",
           "tracegapd.service is active (postinst started it; Type=notify: READY=1 received)",
           c.out("systemctl status tracegapd --no-pager; journalctl -u tracegapd --no-pager -n 30", check=False))
    pid = int(c.out("systemctl show -p MainPID --value tracegapd"))
    status = c.out(f"cat /proc/{pid}/status")
    uid = c.out("id -u tracegap")
    gid = c.out("id -g tracegap")
    expect(re.search(rf"^Uid:\s+{uid}\s+{uid}\s+{uid}\s+{uid}$", status, re.M) is not None and
           re.search(rf"^Gid:\s+{gid}\s+{gid}\s+{gid}\s+{gid}$", status, re.M) is not None,
           f"the daemon (pid {pid} in the container) runs as tracegap ({uid}:{gid})")
    caps = caps_of(status)
    expect(all(caps[k] == UNIT_CAPS for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb")) and caps["CapInh"] == UNIT_CAPS,
           f"its capabilities are exactly CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH (CapEff {caps['CapEff']:016x})",
           status)
    expect(re.search(r"^NoNewPrivs:\s+1$", status, re.M) is not None and
           re.search(r"^Seccomp:\s+2$", status, re.M) is not None, "no_new_privs set, seccomp filter on")
    expect("/system.slice/tracegapd.service" in c.out(f"cat /proc/{pid}/cgroup"), "it runs in tracegapd.service's cgroup")
    expect(c.out("stat -c '%U %a' /run/tracegap") == "tracegap 750", "/run/tracegap is tracegap's, mode 0750")
    # systemd-analyze on the installed unit, inside the container.
    r = c.run("systemd-analyze verify --man=no /lib/systemd/system/tracegapd.service 2>&1", check=False)
    expect(r.returncode == 0 and not r.stdout.strip(), "systemd-analyze verify: clean", r.stdout)
    sec = c.out("systemd-analyze security --no-pager tracegapd.service 2>&1", check=False)
    m = re.search(r"Overall exposure level for tracegapd.service: ([0-9.]+) (\w+)", sec)
    score = float(m.group(1)) if m else None
    log(f"systemd-analyze security (installed unit, in the container): exposure {score} {m.group(2) if m else ''}")
    expect(score is not None and score <= MAX_EXPOSURE, f"exposure {score} <= {MAX_EXPOSURE}", sec[-2000:])
    return pid, int(uid), score


def check_traffic(c):
    """Real HTTP between transient units: a client with context, one without, and a gateway
    that receives context and drops it on its upstream call.

    Matched by process name (comm), which symlinks make distinct, not by the `unit` label:
    inside the container tracegapd lives in a pid namespace of its own, while the BPF programs
    report host pids, so it cannot look processes up in its /proc (their unit label stays
    empty) and does not recognise its own traffic. On a host, and in the DaemonSet (hostPID),
    there is one pid namespace and both work (the end-to-end tests cover them)."""
    log("driving HTTP traffic between transient units")
    c.run("cat > /tmp/tg-gateway.py", input=GATEWAY)
    for name, target in (("tg-httpd", "/usr/bin/python3"), ("tg-gateway", "/usr/bin/python3"),
                         ("tg-curl-ctx", "/usr/bin/curl"), ("tg-curl-noctx", "/usr/bin/curl"),
                         ("tg-curl-gw", "/usr/bin/curl"), ("tg-scrape", "/usr/bin/curl")):
        # comm is the name that was exec'd. Distinct names also keep this test's traffic apart
        # from what another tracegapd on the host (the e2e tests) counts for curl or python3.
        c.run(f"ln -sf {target} /usr/local/bin/{name}")
    c.run("systemd-run -q --unit=tg-httpd /usr/local/bin/tg-httpd -m http.server 18080 --bind 127.0.0.1 --directory /tmp")
    c.run("systemd-run -q --unit=tg-gateway /usr/local/bin/tg-gateway /tmp/tg-gateway.py 18081 18080")
    c.run("for i in $(seq 100); do ss -Hltn 'sport = :18080' | grep -q . && ss -Hltn 'sport = :18081' | grep -q . "
          "&& exit 0; sleep 0.1; done; exit 1")
    opts = "-sS -o /dev/null --max-time 10"
    c.run(f"systemd-run -q --wait --unit=tg-client-ctx /usr/local/bin/tg-curl-ctx {opts} "
          f"-H 'traceparent: {TRACEPARENT}' http://127.0.0.1:18080/")
    c.run(f"systemd-run -q --wait --unit=tg-client-noctx /usr/local/bin/tg-curl-noctx {opts} http://127.0.0.1:18080/")
    c.run(f"systemd-run -q --wait --unit=tg-client-gw /usr/local/bin/tg-curl-gw {opts} "
          f"-H 'traceparent: {TRACEPARENT}' http://127.0.0.1:18081/")
    want = [
        (("tracegap_requests_total", dict(direction="outbound", comm="tg-curl-ctx", context="valid")), 1),
        (("tracegap_requests_total", dict(direction="outbound", comm="tg-curl-ctx")), 1),
        (("tracegap_requests_total", dict(direction="outbound", comm="tg-curl-noctx", context="missing")), 1),
        (("tracegap_requests_total", dict(direction="outbound", comm="tg-curl-gw", context="valid")), 1),
        (("tracegap_requests_total", dict(direction="inbound", comm="tg-httpd", context="valid")), 1),
        # one from tg-curl-noctx, one from the gateway, which dropped the context
        (("tracegap_requests_total", dict(direction="inbound", comm="tg-httpd", context="missing")), 2),
        (("tracegap_requests_total", dict(direction="inbound", comm="tg-gateway", context="valid")), 1),
        (("tracegap_requests_total", dict(direction="outbound", comm="tg-gateway", context="missing")), 1),
        (("tracegap_outbound_total", dict(comm="tg-curl-ctx", outcome="origin")), 1),
        (("tracegap_outbound_total", dict(comm="tg-curl-noctx", outcome="origin")), 1),
        (("tracegap_outbound_total", dict(comm="tg-gateway", outcome="dropped")), 1),
        (("tracegap_outbound_total", dict(comm="tg-gateway")), 1),
    ]
    deadline = time.monotonic() + 10
    while True:
        samples = parse_metrics(c.out("tg-scrape -sSf --max-time 5 http://127.0.0.1:9477/metrics"))
        got = [metric(samples, n, **ls) for (n, ls), _ in want]
        if all(g >= w for g, (_, w) in zip(got, want)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(0.5)  # anything still counting up is caught by the exact comparison below
    samples = parse_metrics(c.out("tg-scrape -sSf --max-time 5 http://127.0.0.1:9477/metrics"))
    for (name, labels), value in want:
        got = metric(samples, name, **labels)
        expect(got == value, f"/metrics: {name}{labels} == {value}", f"got {got}; all tracegap samples:\n" +
               "\n".join(f"{n}{ls} {v}" for n, ls, v in samples if n.startswith("tracegap_")))
    units = sorted({ls.get("unit", "") for n, ls, v in samples if ls.get("comm", "").startswith("tg-")})
    log(f"unit labels of the test processes: {units} (empty in a pid namespace, see check_traffic)")
    expect(metric(samples, "tracegap_kernel_drops_total") == 0, "/metrics: no kernel drops")


def check_api(c, version):
    """The local API through the CLI, as root and as a user who may not use it."""
    expect(c.out("stat -c '%U %a' /run/tracegap/api.sock", check=False) == "tracegap 600",
           "api.sock exists, is tracegap's, mode 0600")
    doc = json.loads(c.out("tracegap processes --json"))
    gw = [p for p in doc["processes"] if p["comm"] == "tg-gateway"]
    expect(len(gw) == 1 and gw[0]["outbound"]["dropped"] == 1 and gw[0]["gaps"] == 1,
           "tracegap processes --json: tg-gateway has 1 dropped outbound request, 1 gap", json.dumps(doc)[:3000])
    detail = json.loads(c.out(f"tracegap process {gw[0]['pid']} --json"))
    examples = detail.get("gap_examples", [])
    trace_id = TRACEPARENT.split("-")[1]
    expect(len(examples) == 1 and examples[0]["outcome"] == "dropped" and trace_id in examples[0]["inbound_trace_ids"],
           "tracegap process PID --json: the gap example is the dropped request, with the inbound trace id",
           json.dumps(detail)[:3000])
    table = c.out("tracegap processes")
    expect("tg-gateway" in table, "tracegap processes (table) lists tg-gateway", table)
    status = json.loads(c.out("tracegap status --json"))
    expect(status.get("version") == version, f"tracegap status --json: version {version}")
    r = c.run("setpriv --reuid=65534 --regid=65534 --clear-groups tracegap status", check=False)
    expect(r.returncode == 3, f"an unprivileged user is refused by the API (exit {r.returncode}, expected 3)")


def journal_cursor(c):
    out = c.out("journalctl -u tracegapd -n 0 --show-cursor --no-pager")
    m = re.search(r"-- cursor: (\S+)", out)
    return m.group(1) if m else None


def journal_since(c, cursor):
    return c.out(f"journalctl -u tracegapd --after-cursor='{cursor}' -o cat --no-pager")


def check_reload(c, pid):
    conf = "/etc/tracegap/tracegapd.conf"
    c.run(f"cp {conf} /tmp/tracegapd.conf.orig")
    # A live option and a restart-only one.
    c.run(f"printf 'linger-ms = 300\\nmax-header-bytes = 2048\\n' >> {conf}")
    cursor = journal_cursor(c)
    c.run("systemctl reload tracegapd")
    log_text = journal_since(c, cursor)
    expect(c.out("systemctl is-active tracegapd", check=False) == "active" and
           int(c.out("systemctl show -p MainPID --value tracegapd")) == pid,
           "systemctl reload: still active, same process")
    expect("reloaded configuration" in log_text, "the log says 'reloaded configuration'", log_text)
    expect("--max-header-bytes changed; it takes effect only after a restart" in log_text,
           "a restart-only option is reported as such", log_text)
    # A config that does not parse keeps the running one.
    c.run(f"echo 'linger-ms = banana' >> {conf}")
    cursor = journal_cursor(c)
    c.run("systemctl reload tracegapd")
    log_text = journal_since(c, cursor)
    expect(c.out("systemctl is-active tracegapd", check=False) == "active" and
           "reload failed, keeping the running configuration" in log_text,
           "a bad config on reload is refused and the service keeps running", log_text)
    # Leave the conffile modified (with a valid setting): purge must remove it all the same.
    c.run(f"cp /tmp/tracegapd.conf.orig {conf} && echo 'linger-ms = 300' >> {conf}")


def check_restart(c, pid):
    c.run("systemctl kill -s SIGKILL tracegapd")
    deadline = time.monotonic() + 20
    new_pid = 0
    while time.monotonic() < deadline:
        state = c.out("systemctl is-active tracegapd", check=False)
        new_pid = int(c.out("systemctl show -p MainPID --value tracegapd") or 0)
        if state == "active" and new_pid not in (0, pid):
            break
        time.sleep(0.2)
    expect(new_pid not in (0, pid) and c.out("systemctl is-active tracegapd", check=False) == "active" and
           c.out("systemctl show -p NRestarts --value tracegapd") == "1",
           f"killed with SIGKILL, the daemon is restarted (Restart=on-failure): pid {pid} -> {new_pid}")
    return new_pid


def check_tls(c):
    """HTTPS on /metrics from the installed package under its hardened unit: Debian 12's civetweb
    gets OpenSSL 3 through tracegap's stand-in libssl.so (/usr/lib/tracegap), without libssl-dev."""
    with tempfile.TemporaryDirectory() as d:
        pem = os.path.join(d, "metrics.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", pem, "-out", pem], check=True, capture_output=True)
        with open(pem) as f:
            pem_text = f.read()
    conf = "/etc/tracegap/tracegapd.conf"
    expect(c.run("test -e /usr/lib/x86_64-linux-gnu/libssl.so", check=False).returncode != 0,
           "libssl-dev is not installed in the container (the unversioned libssl.so is absent)")
    c.run("cat > /tmp/metrics.pem", input=pem_text)
    c.run("install -o tracegap -g tracegap -m 0600 /tmp/metrics.pem /etc/tracegap/metrics.pem")
    c.run(f"cp {conf} /tmp/tracegapd.conf.before-tls && "
          f"echo 'metrics-tls-cert = /etc/tracegap/metrics.pem' >> {conf}")
    c.run("systemctl restart tracegapd")
    deadline = time.monotonic() + 20
    while True:
        r = c.run("tg-scrape -sS --max-time 5 --cacert /etc/tracegap/metrics.pem https://127.0.0.1:9477/metrics",
                  check=False)
        if (r.returncode == 0 and "tracegap_build_info" in r.stdout) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    expect(r.returncode == 0 and "tracegap_build_info" in r.stdout,
           "with metrics-tls-cert, /metrics answers over HTTPS (certificate verified by curl)",
           r.stderr + c.out("journalctl -u tracegapd -n 20 --no-pager", check=False))
    # An administrator's own file in /etc/tracegap would (rightly) survive a purge: remove it.
    c.run(f"cp /tmp/tracegapd.conf.before-tls {conf} && rm /etc/tracegap/metrics.pem && systemctl restart tracegapd")
    deadline = time.monotonic() + 20
    while c.run("tg-scrape -sSf --max-time 5 http://127.0.0.1:9477/metrics -o /dev/null", check=False).returncode \
            and time.monotonic() < deadline:
        time.sleep(0.3)
    expect(c.run("tg-scrape -sSf --max-time 5 http://127.0.0.1:9477/metrics -o /dev/null", check=False).returncode == 0,
           "back to plain HTTP after removing the option")
    return int(c.out("systemctl show -p MainPID --value tracegapd"))


def check_stop(c, uid, baseline):
    ours = tracegap_progs(host_bpf_progs(), uid, baseline)
    # The socket layer's send and receive programs where the kernel has them, else 9 syscall ones.
    expect(len(ours) >= 2, f"the running daemon has its {len(ours)} capture programs loaded "
                           f"(host bpftool, uid {uid}, not present before the test)")
    c.run("systemctl stop tracegapd")
    result = c.out("systemctl show -p Result -p ExecMainStatus -p ActiveState tracegapd")
    expect("Result=success" in result and "ExecMainStatus=0" in result and "ActiveState=inactive" in result,
           "systemctl stop: the daemon exits 0", result)
    deadline = time.monotonic() + 10
    while True:
        progs = host_bpf_progs()
        left = (ours & set(progs)) | tracegap_progs(progs, uid, baseline)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    expect(not left, "after stop no tracegap BPF program of the container is loaded", f"left: {sorted(left)}")
    expect(c.run("test -e /run/tracegap", check=False).returncode != 0, "/run/tracegap is gone after stop")


def check_each_capability_needed(c):
    """A drop-in takes away one capability at a time: the unit must fail to start each time,
    with the daemon's own exit code."""
    dropin = "/run/systemd/system/tracegapd.service.d"
    caps = ["CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH"]
    expected_exit = {"CAP_BPF": 3, "CAP_PERFMON": 3, "CAP_DAC_READ_SEARCH": 3}
    for cap in caps:
        keep = " ".join(x for x in caps if x != cap)
        c.run(f"mkdir -p {dropin} && printf '[Service]\\nCapabilityBoundingSet=\\nCapabilityBoundingSet={keep}\\n"
              f"AmbientCapabilities=\\nAmbientCapabilities={keep}\\n' > {dropin}/caps.conf && "
              "systemctl daemon-reload && systemctl reset-failed tracegapd 2>/dev/null; true")
        r = c.run("systemctl start tracegapd", check=False, timeout=60)
        status = c.out("systemctl show -p ExecMainStatus --value tracegapd")
        expect(r.returncode != 0 and status == str(expected_exit[cap]),
               f"without {cap} the service fails to start (daemon exit {status}, expected {expected_exit[cap]})")
    c.run(f"rm -rf {dropin} && systemctl daemon-reload && systemctl reset-failed tracegapd 2>/dev/null; true")


def check_no_other_syscall_needed(c):
    """With SystemCallErrorNumber=kill, a call outside SystemCallFilter= kills the daemon with
    SIGSYS instead of failing with EPERM: start, traffic, reload and stop must all go through."""
    dropin = "/run/systemd/system/tracegapd.service.d"
    c.run(f"mkdir -p {dropin} && printf '[Service]\\nSystemCallErrorNumber=kill\\n' > {dropin}/kill.conf && "
          "systemctl daemon-reload && systemctl reset-failed tracegapd 2>/dev/null; true")
    c.run("systemctl start tracegapd", timeout=60)
    c.run(f"/usr/local/bin/tg-curl-ctx -sS -o /dev/null --max-time 10 -H 'traceparent: {TRACEPARENT}' "
          "http://127.0.0.1:18080/ && tg-scrape -sSf -o /dev/null --max-time 5 http://127.0.0.1:9477/metrics")
    c.run("systemctl reload tracegapd && sleep 0.3 && systemctl stop tracegapd")
    result = c.out("systemctl show -p Result -p ExecMainCode -p ExecMainStatus tracegapd")
    c.run(f"rm -rf {dropin} && systemctl daemon-reload && systemctl reset-failed tracegapd 2>/dev/null; true")
    # ExecMainCode=1 is CLD_EXITED (a signal would be 2 or 3).
    expect("Result=success" in result and "ExecMainCode=1" in result and "ExecMainStatus=0" in result,
           "with SystemCallErrorNumber=kill: start, traffic, reload and stop, exit 0 (no call outside the filter)",
           result)


def check_root_with_two_caps(c):
    """The Kubernetes DaemonSet's security context: uid 0, only CAP_BPF and CAP_PERFMON, no new
    privileges, read-only root. (As uid 0, tracefs is readable without CAP_DAC_READ_SEARCH.)"""
    c.run("systemd-run -q --unit=tg-asroot -p Type=notify -p 'CapabilityBoundingSet=CAP_BPF CAP_PERFMON' "
          "-p NoNewPrivileges=yes -p ProtectSystem=strict -p RuntimeDirectory=tg-asroot "
          "/usr/sbin/tracegapd --listen 127.0.0.1:19477 --api-socket /run/tg-asroot/api.sock", timeout=60)
    pid = int(c.out("systemctl show -p MainPID --value tg-asroot"))
    caps = caps_of(c.out(f"cat /proc/{pid}/status"))
    ok = c.run("tg-scrape -sSf --max-time 5 http://127.0.0.1:19477/metrics | grep -q '^tracegap_build_info'",
               check=False).returncode == 0
    expect(c.out("systemctl is-active tg-asroot", check=False) == "active" and caps["CapEff"] == ROOT_K8S_CAPS and ok,
           f"as uid 0 with only CAP_BPF + CAP_PERFMON (CapEff {caps['CapEff']:016x}) the daemon runs and serves "
           "/metrics (the DaemonSet's security context)")
    c.run("systemctl stop tg-asroot")


def check_remove_purge(c):
    c.run("systemctl start tracegapd")
    expect(c.out("systemctl is-active tracegapd", check=False) == "active", "started again before removal")
    c.run("apt-get remove -y -q tracegap", timeout=120)
    expect(c.out("systemctl is-active tracegapd", check=False) != "active", "apt-get remove: the service is stopped")
    expect(c.run("test -e /lib/systemd/system/tracegapd.service || test -e /usr/sbin/tracegapd", check=False).returncode != 0,
           "apt-get remove: unit file and binary are gone")
    expect(c.run("test -f /etc/tracegap/tracegapd.conf && getent passwd tracegap >/dev/null", check=False).returncode == 0,
           "apt-get remove: the (modified) conffile and the user stay until purge")
    c.run("apt-get purge -y -q tracegap", timeout=120)
    expect(c.run("getent passwd tracegap", check=False).returncode != 0 and
           c.run("getent group tracegap", check=False).returncode != 0, "apt-get purge: user and group tracegap are gone")
    expect(c.run("test -e /etc/tracegap", check=False).returncode != 0, "apt-get purge: /etc/tracegap is gone")
    leftovers = c.out("ls -d /etc/systemd/system/tracegapd.service /etc/systemd/system/*/tracegapd.service "
                      "/var/lib/systemd/deb-systemd-helper-enabled/tracegapd.service* "
                      "/var/lib/systemd/deb-systemd-helper-enabled/*/tracegapd.service "
                      "/var/lib/systemd/deb-systemd-helper-masked/tracegapd.service 2>/dev/null", check=False)
    expect(not leftovers, "apt-get purge: no enablement symlink, mask or deb-systemd-helper state is left", leftovers)
    expect(c.out("systemctl show -p LoadState --value tracegapd") == "not-found", "apt-get purge: systemd knows no tracegapd.service")
    r = c.run("dpkg-query -W -f='${db:Status-Status}' tracegap", check=False)
    expect(r.returncode != 0 or r.stdout.strip() == "not-installed", "apt-get purge: dpkg has no trace of tracegap",
           r.stdout + r.stderr)


def check_without_systemd(root, deb_dir, deb_name):
    """Installs and purges the package in a container that runs a shell, not systemd: the
    maintainer scripts must succeed, create the user, record the unit as enabled, and start
    nothing."""
    log("install and purge without systemd running (chroot-like container)")
    script = f"""
set -e
export DEBIAN_FRONTEND=noninteractive
test ! -d /run/systemd/system
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends {DEB_MOUNT}/{deb_name} >/tmp/apt.log 2>&1 || {{ cat /tmp/apt.log; exit 1; }}
getent passwd tracegap >/dev/null
test -L /etc/systemd/system/multi-user.target.wants/tracegapd.service
if pgrep -x tracegapd >/dev/null; then echo 'tracegapd was started without systemd'; exit 1; fi
apt-get purge -y -q tracegap >/tmp/apt.log 2>&1 || {{ cat /tmp/apt.log; exit 1; }}
! getent passwd tracegap >/dev/null
! getent group tracegap >/dev/null
test ! -e /etc/systemd/system/multi-user.target.wants/tracegapd.service
test ! -e /etc/tracegap
echo NO-SYSTEMD-OK
"""
    cmd = nspawn_base(root, deb_dir, f"tracegap-nosystemd-{os.getpid()}") + [
        "--console=pipe", "--quiet", "/bin/sh", "-c", script]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                       preexec_fn=die_with_parent)
    expect(r.returncode == 0 and "NO-SYSTEMD-OK" in r.stdout,
           "without systemd: install creates the user and enables the unit, starts nothing; purge removes it all",
           f"exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")


# ------------------------------------------------------------------------------------------------

def preconditions(deb_dir):
    if os.geteuid() != 0:
        skip("not root (systemd-nspawn and BPF need root)")
    for tool in ("systemd-nspawn", "mmdebstrap", "nsenter", "bpftool", "setpriv"):
        if not shutil.which(tool):
            skip(f"{tool} not found (scripts/install-deps.sh installs systemd-container, mmdebstrap, "
                 "util-linux and bpftool)")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        skip("no kernel BTF at /sys/kernel/btf/vmlinux")
    if not sources_file():
        skip(f"no apt sources ({' or '.join(SOURCES_CANDIDATES)}) to build the container root from")
    debs = sorted(glob.glob(os.path.join(deb_dir, "tracegap_*.deb")))
    if len(debs) != 1:
        raise Failure(f"expected one tracegap_*.deb in {deb_dir} (packaging/build-deb.sh), found {debs}")
    return debs[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deb-dir", required=True)
    args = ap.parse_args()
    deb_dir = os.path.abspath(args.deb_dir)
    deb = preconditions(deb_dir)
    deb_name = os.path.basename(deb)
    version = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, text=True,
                             check=True).stdout.strip().rsplit("-", 1)[0]
    log(f"package {deb}")
    root = cached_root()

    baseline = set(host_bpf_progs())
    logfile = os.path.join(deb_dir, "install-test-nspawn.log")
    c = Container(root, deb_dir, logfile)
    score = None
    try:
        if not c.find_leader():
            skip(f"systemd-nspawn could not start a container here:\n{c.nspawn_log()}")
        state = c.wait_booted()
        if state not in ("running", "degraded"):
            skip(f"the container's systemd did not finish booting ({state}):\n{c.nspawn_log()}")
        log(f"container booted (systemctl is-system-running: {state}; leader pid {c.leader})")
        if state == "degraded":
            log("failed units: " + c.out("systemctl --failed --no-legend --plain", check=False))

        install(c, deb_name)
        check_files(c, version)
        pid, uid, score = check_service(c)
        check_traffic(c)
        check_api(c, version)
        check_reload(c, pid)
        pid = check_restart(c, pid)
        pid = check_tls(c)
        check_stop(c, uid, baseline)
        check_each_capability_needed(c)
        check_no_other_syscall_needed(c)
        check_root_with_two_caps(c)
        check_remove_purge(c)
        expect(not tracegap_progs(host_bpf_progs(), uid, baseline), "no tracegap BPF program left on the host")
    finally:
        c.close()
    check_without_systemd(root, deb_dir, deb_name)
    print(f"\ninstall test passed in {time.monotonic() - T0:.0f}s (systemd-analyze security exposure {score})",
          flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
