"""End to end: the workload labels (workload, container, namespace) on the per-process metrics and
the client -> server edges (tracegap_edge_requests_total), for a service in a real container and
for a process in a cgroup laid out exactly as the kubelet lays out a pod.

Containers (Containers.*): podman runs a stdlib-only Python service (tests/peers/
workload_service.py, bind-mounted read-only) on a throw-away overlay of the cached Debian 12 root
(tests/support/debian_root.py; `--rootfs DIR:O`, so nothing is pulled and the root is never
modified), with --network host so it listens on 127.0.0.1. For each inbound request it calls a
backend on the host, dropping the traceparent it received (container tg-wl-drop-<pid>) or
forwarding it unchanged (tg-wl-fwd-<pid>). The container's process must be labelled
workload = container = the container's name (podman keeps it in
/var/lib/containers/storage/<driver>-containers/containers.json; the process's cgroup is
.../libpod-<64 hex>), its outbound calls counted as dropped / passthrough under that workload, and
the edge client=<name> server="127.0.0.1:<backend port>" (the Host header http.client sends)
likewise.

How podman behaves on a host without systemd as PID 1 (what this test relies on):
- cgroup manager cgroupfs: the container's processes are in /libpod_parent/libpod-<id> in every
  v1 hierarchy and in the v2 one (the `0::` line), conmon in /libpod_parent/conmon.
- As root it asks the OCI runtime to raise RLIMIT_NOFILE and RLIMIT_NPROC to 1048576; where the
  test runs without CAP_SYS_RESOURCE (a sandbox) that fails ("setrlimit `RLIMIT_NOFILE`:
  Operation not permitted"), so the test passes limits within its own.
- crun refuses a hybrid host whose v2 hierarchy still has a controller (e.g. hugetlb:
  "cgroups in hybrid mode not supported, drop all controllers from cgroupv2"); there runc is used.
- Python as the container's PID 1 has no default action for SIGTERM: workload_service.py handles
  it, and containers are removed with `podman rm -f -t 0`.

Kubernetes (Kubelet.*): no kubelet runs here, so the test builds what the daemon reads on a real
node, with the real paths:
- the pod's cgroup, as the kubelet's systemd cgroup driver names it with containerd as the CRI:
    /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid, '-' -> '_'>.slice/
        cri-containerd-<64 hex container id>.scope
  created in the cgroup v2 hierarchy and the v1 name=systemd one on a hybrid host
  (/sys/fs/cgroup/unified and /sys/fs/cgroup/systemd), in /sys/fs/cgroup alone on a pure v2 host;
  the service joins it before exec (writes itself to cgroup.procs), as runc puts a container's
  process into its cgroup before exec;
- the kubelet's log directory (/var/log on a node; tracegapd --kubelet-log-dir points at a temp
  dir here):
    pods/<namespace>_<pod>_<uid>/<container>/0.log
    containers/<pod>_<namespace>_<container>-<container id>.log -> .../pods/.../<container>/0.log
The service (on the host, in that cgroup) drops the context on its way to a backend; its
requests must carry workload="<namespace>/<pod>", namespace, container, and its edge
client="<namespace>/<pod>". The cgroups are removed again (deepest first) also on failure; ones a
killed run left behind (pod uid 7e570000-0000-4000-8000-<pid>) are removed by the next run.

Needs root and BPF (else exit 77, skipped), podman (scripts/install-deps.sh installs it: missing
is a failure) and the cached Debian root (built once with mmdebstrap from the host's apt sources).
"""
import ctypes
import glob
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import tglib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import debian_root  # noqa: E402

PEER = os.path.normpath(os.path.join(HERE, "..", "peers", "workload_service.py"))
PEER_IN_CONTAINER = "/opt/tracegap/workload_service.py"
REQ, OUT = tglib.REQ, tglib.OUT
EDGE = "tracegap_edge_requests_total"
N = 5
SETTLE = 15.0  # seconds the daemon gets to count N requests
STATE_TIMEOUT = 60.0  # container start, backend start


def new_traceparent():
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def drive(port, n=N):
    """n GETs with a new valid traceparent each, from curl (comm "curl")."""
    for _ in range(n):
        tglib.curl(f"http://127.0.0.1:{port}/", f"traceparent: {new_traceparent()}")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def daemon_has_option(option):
    r = subprocess.run([tglib.TRACEGAPD, "--help"], capture_output=True, text=True, timeout=30)
    return option in r.stdout


def labels_of(m, before, name, **match):
    """The label sets (other than the matched ones) of `name`'s samples whose value grew since
    `before`, for failure messages: what the daemon did label the process with."""
    out = []
    want = set(match.items())
    for (n, ls), v in m.samples.items():
        if n == name and want <= set(ls) and v - before.samples.get((n, ls), 0.0) > 0:
            out.append(dict(sorted((k, x) for k, x in ls if k not in match)))
    return out


def die_with_parent():
    """In a child before exec: SIGKILL when this test process dies, however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG


class HostService:
    """tests/peers/workload_service.py on the host (comm "tg-" + name). `join` runs in the child
    before exec (the kubelet fixture puts it into the pod's cgroup there); `before_stop(pid)` runs
    before it is stopped (the fixture takes it out again)."""

    def __init__(self, name, downstream_port=None, mode="drop", join=None, before_stop=None):
        self.name, self.downstream_port, self.mode = name, downstream_port, mode
        self.comm = "tg-" + name
        self.join, self.before_stop = join, before_stop
        self.port = tglib.free_port()
        self.proc = None

    def _preexec(self):
        die_with_parent()
        if self.join:
            self.join()

    def __enter__(self):
        cmd = [tglib.PYTHON, PEER, "--name", self.name, "--port", str(self.port), "--mode", self.mode]
        if self.downstream_port:
            cmd += ["--downstream-port", str(self.downstream_port)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, preexec_fn=self._preexec)
        try:
            tglib.wait_port(self.port, timeout=STATE_TIMEOUT, proc=self.proc, name=f"tg-{self.name}")
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def pid(self):
        return self.proc.pid

    def __exit__(self, *exc):
        if self.before_stop and self.proc.poll() is None:
            self.before_stop(self.proc.pid)
        tglib.stop(self.proc)
        return False


# ------------------------------------------------------------------------------------------------
# podman

CONTAINER_PREFIX = "tg-wl-"
_NAME_RE = re.compile(r"^tg-wl-[a-z]+-(\d+)$")


def oci_runtime():
    """crun, unless this is a hybrid cgroup host whose v2 hierarchy has a controller (crun
    refuses those: "cgroups in hybrid mode not supported, drop all controllers from cgroupv2"),
    then runc, which does not mind."""
    controllers = "/sys/fs/cgroup/unified/cgroup.controllers"
    if os.path.exists(controllers):
        with open(controllers) as f:
            if f.read().strip():
                return "runc"
    return "crun"


def podman(*args, check=True, timeout=60):
    r = subprocess.run(["podman", "--runtime", oci_runtime(), *args], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {r.returncode}:\n{r.stderr}")
    return r


def remove_stale_containers():
    """Containers of earlier runs of this test that were killed before their cleanup."""
    r = podman("ps", "-a", "--format", "{{.Names}}", check=False)
    for name in r.stdout.split():
        m = _NAME_RE.match(name)
        if m and not pid_alive(int(m.group(1))):
            podman("rm", "-f", "-t", "0", name, check=False)


def container_rlimits():
    """--ulimit options within this process's own hard limits: podman (as root) otherwise asks for
    RLIMIT_NOFILE and RLIMIT_NPROC of 1048576, which the runtime cannot set without
    CAP_SYS_RESOURCE."""
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1024)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 4096)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


class PodmanService:
    """workload_service.py in a podman container named tg-wl-<kind>-<test pid>, on an overlay of
    the cached Debian root, host network. Started attached (`podman run --rm`, its output in a
    temp file) so that an early exit is seen at once; always removed with `podman rm -f -t 0`
    (and by the next run if this one is killed before that)."""

    def __init__(self, root, kind, downstream_port, mode):
        self.root, self.kind, self.downstream_port, self.mode = root, kind, downstream_port, mode
        self.name = f"{CONTAINER_PREFIX}{kind}-{os.getpid()}"
        self.comm = f"tg-wl-{kind}"
        self.port = tglib.free_port()
        self.log_path = tempfile.mktemp(prefix=f"{self.name}-", suffix=".log")
        self.proc = None
        self.start_seconds = None

    def __enter__(self):
        cmd = ["podman", "--runtime", oci_runtime(), "run", "--rm", "--name", self.name,
               "--network", "host", *container_rlimits(),
               "-v", f"{PEER}:{PEER_IN_CONTAINER}:ro",
               "--rootfs", f"{self.root}:O",
               "/usr/bin/python3", PEER_IN_CONTAINER, "--name", f"wl-{self.kind}",
               "--port", str(self.port), "--downstream-port", str(self.downstream_port),
               "--mode", self.mode]
        self.log = open(self.log_path, "w+")
        t0 = time.monotonic()
        # (A parent-death signal does not reach podman, which passes SIGTERM on to the container
        # otherwise: a killed run's containers are removed by the next run.)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            tglib.wait_port(self.port, timeout=STATE_TIMEOUT, proc=self.proc, name=f"container {self.name}")
        except BaseException as e:
            out = self.output()
            self.__exit__()
            raise AssertionError(f"container {self.name} did not serve: {e}\n{' '.join(cmd)}\n{out}") from None
        self.start_seconds = time.monotonic() - t0
        info = podman("inspect", "--format", "{{.State.Pid}} {{.Id}}", self.name).stdout.split()
        self.pid, self.id = int(info[0]), info[1]
        return self

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-3000:]

    def __exit__(self, *exc):
        podman("rm", "-f", "-t", "0", self.name, check=False)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log_path)
        return False


class Containers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("podman"):
            raise AssertionError("podman is not installed (scripts/install-deps.sh installs podman, crun and runc)")
        if not shutil.which(oci_runtime()):
            raise AssertionError(f"this host needs the OCI runtime {oci_runtime()}, which is not installed "
                                 "(scripts/install-deps.sh)")
        cls.root = debian_root.cached_root(lambda msg: print(msg, flush=True))
        remove_stale_containers()
        cls.daemon = tglib.Daemon().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)
        # podman's cgroupfs manager leaves its parent cgroups (/libpod_parent/conmon,
        # /libpod_parent) behind; with no container left they go too (podman makes them again).
        if not podman("ps", "-a", "-q", check=False).stdout.strip():
            for path in sorted(podman_parent_cgroups(), key=len, reverse=True):
                rmdir_retry(path, timeout=2.0, missing_ok=True, busy_ok=True)

    def run_case(self, kind, mode, outcome):
        with HostService("wl-backend") as backend, \
                PodmanService(self.root, kind, backend.port, mode) as c:
            print(f"\n  container {c.name} ({oci_runtime()}) serving after {c.start_seconds:.2f}s, "
                  f"host pid {c.pid}", flush=True)
            with open(f"/proc/{c.pid}/cgroup") as f:
                cgroups = f.read()
            self.assertIn(f"libpod-{c.id}", cgroups, "the container's process is in podman's cgroup")
            before = self.daemon.scrape()
            drive(c.port)
            after = self.daemon.wait_for(lambda m: m.delta(before, OUT, comm=c.comm) >= N, timeout=SETTLE)
            # Counted at all (by comm): the capture works for a process in a container.
            self.assertEqual(tglib.outcomes(before, after, c.comm), {(outcome, "http1"): N},
                             f"outbound of {c.comm} by comm")
            self.assertEqual(after.delta(before, REQ, comm=backend.comm, direction="inbound"), N,
                             "the backend on the host was called once per request")
            # The labels.
            got = labels_of(after, before, REQ, comm=c.comm, direction="inbound")
            self.assertEqual(after.delta(before, REQ, direction="inbound", context="valid",
                                         workload=c.name, container=c.name), N,
                             f"inbound requests of {c.comm} labelled workload=container={c.name}; got {got}")
            got = labels_of(after, before, OUT, comm=c.comm)
            self.assertEqual(after.delta(before, OUT, outcome=outcome, workload=c.name, container=c.name), N,
                             f"outbound {outcome} of {c.comm} under workload={c.name}; got {got}")
            server = f"127.0.0.1:{backend.port}"
            got = labels_of(after, before, EDGE, server=server)
            self.assertEqual(after.delta(before, EDGE, client=c.name, server=server, outcome=outcome), N,
                             f"edge {c.name} -> {server} ({outcome}); edges to {server}: {got}")

    def test_container_that_drops(self):
        self.run_case("drop", "drop", "dropped")

    def test_container_that_forwards(self):
        self.run_case("fwd", "forward", "passthrough")


def podman_parent_cgroups():
    """/libpod_parent and /libpod_parent/conmon in every mounted hierarchy (podman's cgroupfs
    manager)."""
    out = set()
    for mount in cgroup_mounts()["all"]:
        out |= {os.path.join(mount, "libpod_parent"), os.path.join(mount, "libpod_parent", "conmon")}
    return out


# ------------------------------------------------------------------------------------------------
# The kubelet's layout

K8S_NAMESPACE = "tg-e2e"
K8S_POD = "checkout-7d9f8b6c5d-x2x9q"
K8S_CONTAINER = "checkout"
# A pod uid this test recognises as its own (7e57 = "test"), ending in the test's pid.
UID_PREFIX = "7e570000-0000-4000-8000-"


def cgroup_mounts():
    """{"v2": mount of the cgroup v2 hierarchy or None, "systemd": mount of the v1 name=systemd
    hierarchy or None, "all": every cgroup mount}, from /proc/self/mounts."""
    out = {"v2": None, "systemd": None, "all": []}
    with open("/proc/self/mounts") as f:
        for line in f:
            _dev, mnt, fstype, opts = line.split()[:4]
            if fstype not in ("cgroup", "cgroup2"):
                continue
            out["all"].append(mnt)
            if fstype == "cgroup2":
                out["v2"] = out["v2"] or mnt
            elif "name=systemd" in opts.split(","):
                out["systemd"] = out["systemd"] or mnt
    return out


def kubelet_hierarchies():
    """The mounts where the pod's cgroups are made: the v2 one (the daemon's first choice, the
    `0::` line) and, on a hybrid host, v1 name=systemd (its second)."""
    m = cgroup_mounts()
    if m["v2"] == "/sys/fs/cgroup" or os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return ["/sys/fs/cgroup"]
    return [p for p in (m["v2"], m["systemd"]) if p]


def rmdir_retry(path, timeout=5.0, missing_ok=False, busy_ok=False):
    """rmdir a cgroup, retrying while it is busy (a process that just exited)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            if missing_ok:
                return False
            raise
        except OSError:
            if time.monotonic() > deadline:
                if busy_ok:
                    return False
                raise
            time.sleep(0.05)


def remove_stale_pod_cgroups():
    """Pod cgroups that a killed earlier run of this test left behind, and (not on a real node:
    no /var/lib/kubelet) their parents once empty."""
    for h in kubelet_hierarchies():
        qos = os.path.join(h, "kubepods.slice", "kubepods-besteffort.slice")
        for pod in glob.glob(os.path.join(qos, "kubepods-besteffort-pod" + UID_PREFIX.replace("-", "_") + "*.slice")):
            m = re.search(r"_([0-9a-f]{12})\.slice$", pod)
            if m and pid_alive(int(m.group(1), 16)):
                continue  # a concurrent run's
            for d in glob.glob(os.path.join(pod, "*.scope")) + [pod]:
                rmdir_retry(d, timeout=1.0, missing_ok=True, busy_ok=True)
        if not os.path.exists("/var/lib/kubelet"):
            for d in (qos, os.path.dirname(qos)):
                if os.path.isdir(d) and not any(e.is_dir() for e in os.scandir(d)):
                    rmdir_retry(d, timeout=1.0, missing_ok=True, busy_ok=True)


class KubeletFixture:
    """The pod's cgroups in every hierarchy of kubelet_hierarchies(), and its log directory."""

    def __init__(self):
        self.uid = UID_PREFIX + f"{os.getpid():012x}"
        self.container_id = secrets.token_hex(32)
        self.rel = os.path.join("kubepods.slice", "kubepods-besteffort.slice",
                                f"kubepods-besteffort-pod{self.uid.replace('-', '_')}.slice",
                                f"cri-containerd-{self.container_id}.scope")
        self.hierarchies = kubelet_hierarchies()
        self.created = []  # cgroup directories made here, in creation order
        self.log_dir = None

    def __enter__(self):
        try:
            for h in self.hierarchies:
                path = h
                for part in self.rel.split(os.sep):
                    path = os.path.join(path, part)
                    if not os.path.isdir(path):
                        os.mkdir(path)
                        self.created.append(path)
            self.log_dir = tempfile.mkdtemp(prefix="tg-kubelet-log-")
            pod_dir = os.path.join(self.log_dir, "pods", f"{K8S_NAMESPACE}_{K8S_POD}_{self.uid}", K8S_CONTAINER)
            os.makedirs(pod_dir)
            log = os.path.join(pod_dir, "0.log")
            with open(log, "w") as f:
                f.write("2025-01-01T00:00:00.000000000Z stdout F ready\n")  # the CRI log format
            os.makedirs(os.path.join(self.log_dir, "containers"))
            os.symlink(log, os.path.join(self.log_dir, "containers",
                                         f"{K8S_POD}_{K8S_NAMESPACE}_{K8S_CONTAINER}-{self.container_id}.log"))
        except BaseException:
            self.__exit__()
            raise
        return self

    def join(self):
        """preexec_fn: the child writes itself into the pod's container cgroup in each hierarchy
        before exec."""
        for h in self.hierarchies:
            with open(os.path.join(h, self.rel, "cgroup.procs"), "w") as f:
                f.write("0")

    def leave(self, pid):
        """Moves `pid` (if alive) back to the root cgroup of each hierarchy."""
        for h in self.hierarchies:
            try:
                with open(os.path.join(h, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
            except (ProcessLookupError, OSError):
                pass

    def __exit__(self, *exc):
        errors = []
        for path in reversed(self.created):  # deepest first
            try:
                rmdir_retry(path, timeout=5.0, missing_ok=True)
            except OSError as e:
                errors.append(f"{path}: {e}")
        self.created = []
        if self.log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        if errors:
            raise AssertionError("could not remove the test's cgroups: " + "; ".join(errors))
        return False


class Kubelet(unittest.TestCase):
    def test_pod_in_kubelet_cgroup_that_drops(self):
        hierarchies = kubelet_hierarchies()
        self.assertTrue(hierarchies, "no cgroup v2 or v1 name=systemd hierarchy is mounted")
        remove_stale_pod_cgroups()
        has_option = daemon_has_option("--kubelet-log-dir")
        workload = f"{K8S_NAMESPACE}/{K8S_POD}"
        with KubeletFixture() as fx, HostService("wl-backend") as backend:
            with HostService("wl-kube", downstream_port=backend.port, mode="drop", join=fx.join,
                             before_stop=fx.leave) as svc:
                # The fixture itself: the process is in the pod's container cgroup.
                with open(f"/proc/{svc.pid}/cgroup") as f:
                    lines = f.read().splitlines()
                want = "/" + fx.rel
                if hierarchies == ["/sys/fs/cgroup"]:
                    self.assertIn(f"0::{want}", lines)
                else:
                    self.assertTrue(any(l.startswith("0::") and l.endswith(want) for l in lines), lines)
                    if cgroup_mounts()["systemd"]:
                        self.assertTrue(any(":name=systemd:" in l and l.endswith(want) for l in lines), lines)
                args = ["--kubelet-log-dir", fx.log_dir] if has_option else []
                with tglib.Daemon(*args) as daemon:
                    before = daemon.scrape()
                    drive(svc.port)
                    after = daemon.wait_for(lambda m: m.delta(before, OUT, comm="tg-wl-kube") >= N,
                                            timeout=SETTLE)
                    self.assertEqual(tglib.outcomes(before, after, "tg-wl-kube"), {("dropped", "http1"): N},
                                     "outbound of tg-wl-kube by comm")
                    note = "" if has_option else " (this tracegapd has no --kubelet-log-dir option)"
                    got = labels_of(after, before, REQ, comm="tg-wl-kube", direction="inbound")
                    self.assertEqual(after.delta(before, REQ, direction="inbound", context="valid",
                                                 workload=workload, namespace=K8S_NAMESPACE,
                                                 container=K8S_CONTAINER), N,
                                     f"inbound requests labelled workload={workload}, namespace={K8S_NAMESPACE}, "
                                     f"container={K8S_CONTAINER}; got {got}{note}")
                    got = labels_of(after, before, OUT, comm="tg-wl-kube")
                    self.assertEqual(after.delta(before, OUT, outcome="dropped", workload=workload,
                                                 namespace=K8S_NAMESPACE, container=K8S_CONTAINER), N,
                                     f"dropped outbound under workload={workload}; got {got}{note}")
                    server = f"127.0.0.1:{backend.port}"
                    got = labels_of(after, before, EDGE, server=server)
                    self.assertEqual(after.delta(before, EDGE, client=workload, server=server,
                                                 outcome="dropped"), N,
                                     f"edge {workload} -> {server} (dropped); edges to {server}: {got}{note}")


if __name__ == "__main__":
    tglib.skip_unless_bpf()
    if not debian_root.is_cached() and not debian_root.sources_file():
        print("SKIP: end-to-end test cannot run here: no cached Debian root and no apt sources "
              f"({' or '.join(debian_root.SOURCES_CANDIDATES)}) to build it from", flush=True)
        sys.exit(tglib.SKIP)
    tglib.main()
