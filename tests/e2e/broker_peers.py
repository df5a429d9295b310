"""Real message brokers for the end-to-end tests, run on loopback as children of the test.

* RabbitMQ (Debian's rabbitmq-server 3.10, Erlang/OTP 25): `RabbitMQ`, `.port`, `.url`.
* NATS (Debian's nats-server 2.9): `NatsServer`, `.port`, `.url`.

Each is a context manager. All state (config, Mnesia/message store, logs, the Erlang cookie) lives
in a fresh temp dir that is removed on exit; every port is a free loopback port; the RabbitMQ node
name is unique per instance; so parallel runs do not clash and nothing from /etc/rabbitmq,
/var/lib/rabbitmq or /var/log/rabbitmq is read or written.

RabbitMQ as root: /usr/sbin/rabbitmq-server is a wrapper that `su`s to the rabbitmq user and
redirects output to /var/log/rabbitmq; /usr/lib/rabbitmq/bin/rabbitmq-server (the upstream script)
runs the node directly as the calling user, root included, and is what is used here. Erlang
distribution needs epmd: a private one is run in the foreground on its own free port
(ERL_EPMD_PORT), so the node never starts the shared, daemonized epmd on 4369, and the private one
is stopped on exit. No plugins are enabled (so no management plugin and no port 15672). Readiness is
a full AMQP 0-9-1 handshake (guest/guest, connection.open on vhost "/"), which only succeeds once
the broker has finished booting: 5-6 s on an idle 2-vCPU VM, up to ~15 s when loaded or when
several start at once (`startup_seconds`); the timeout is 60 s.

Processes: the rabbitmq-server script (/bin/sh, comm "rabbitmq-server"; it turns SIGTERM into a
clean stop), its child beam.smp (per-thread comms "beam.smp", "1_scheduler", "2_scheduler",
"0_poller", "N_dirty_io_sche", ...: socket I/O runs on the N_scheduler threads), erl_child_setup
(setsid) with its port programs inet_gethost and "sh -s rabbit_disk_monitor", and the private epmd.
On exit: SIGTERM (a clean stop takes ~1.5 s), then SIGKILL to whatever of that process tree is still
alive; nothing is left running.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import tglib

RABBITMQ_SBIN = "/usr/lib/rabbitmq/bin"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def _tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"({path}: {e})\n"


def _children():
    """{ppid: [pid, ...]} for every process on the host."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        out.setdefault(ppid, []).append(int(d))
    return out


def _tree(pid):
    """pid and all its live descendants (children reparented to init after their parent died are
    not found: call this before killing anything)."""
    kids = _children()
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(kids.get(p, []))
    return seen


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _kill_tree(proc, timeout=STOP_TIMEOUT):
    """SIGTERM to proc, then SIGKILL to whatever of its process tree (as it was before the
    SIGTERM, plus anything started since) is still alive after `timeout` s. Reaps proc."""
    if proc.poll() is not None:
        return
    pids = set(_tree(proc.pid))
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    if proc.poll() is None:
        pids.update(_tree(proc.pid))
    # Port programs exit when the node's pipes close; give them a moment, then kill the rest.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(_alive(p) for p in pids if p != proc.pid):
        time.sleep(0.05)
    for p in pids:
        if _alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    proc.wait(timeout=10)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------------
# AMQP 0-9-1 handshake (readiness check): just enough of the protocol to open and close a connection

def _shortstr(s):
    b = s.encode()
    return bytes([len(b)]) + b


def _longstr(b):
    return struct.pack(">I", len(b)) + b


def _method(cls, meth, args=b""):
    payload = struct.pack(">HH", cls, meth) + args
    return struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce"


def _read_method(sock):
    """(class, method, args) of the next frame, which must be a method frame on channel 0."""
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by the broker")
            buf += chunk
        return buf
    ftype, channel, size = struct.unpack(">BHI", exact(7))
    payload = exact(size)
    if exact(1) != b"\xce" or ftype != 1 or channel != 0:
        raise ConnectionError(f"unexpected AMQP frame type {ftype} on channel {channel}")
    cls, meth = struct.unpack(">HH", payload[:4])
    return cls, meth, payload[4:]


def _want(got, expected):
    if tuple(got[:2]) != expected:
        raise ConnectionError(f"expected AMQP method {expected}, got {tuple(got[:2])}")


def amqp_handshake(port, user="guest", password="guest", vhost="/", timeout=5.0):
    """Opens and closes one AMQP 0-9-1 connection to 127.0.0.1:port (PLAIN auth). Raises
    (ConnectionError, OSError) unless the broker opens `vhost` for `user`."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        _want(_read_method(s), (10, 10))  # connection.start
        s.sendall(_method(10, 11, struct.pack(">I", 0) + _shortstr("PLAIN")
                          + _longstr(f"\0{user}\0{password}".encode()) + _shortstr("en_US")))
        cls, meth, args = _read_method(s)
        _want((cls, meth), (10, 30))  # connection.tune
        channel_max, frame_max, _heartbeat = struct.unpack(">HIH", args[:8])
        s.sendall(_method(10, 31, struct.pack(">HIH", channel_max, frame_max, 0)))
        s.sendall(_method(10, 40, _shortstr(vhost) + _shortstr("") + b"\x00"))
        _want(_read_method(s), (10, 41))  # connection.open-ok
        s.sendall(_method(10, 50, struct.pack(">H", 200) + _shortstr("") + struct.pack(">HH", 0, 0)))
        _want(_read_method(s), (10, 51))  # connection.close-ok


# ------------------------------------------------------------------------------------------------

class RabbitMQ:
    """A private RabbitMQ node on 127.0.0.1:port (AMQP 0-9-1, user guest/guest, vhost "/").

    with RabbitMQ() as mq: mq.url == "amqp://guest:guest@127.0.0.1:PORT"
    `startup_seconds`: from starting the node to the first successful handshake.
    `ctl(*args)`: runs rabbitmqctl against this node (e.g. ctl("list_queues", "name", "messages")),
    returns its stdout; takes ~1 s (another Erlang VM).
    """

    def __init__(self, port=None, start_timeout=START_TIMEOUT):
        self.port = port or tglib.free_port()
        self.dist_port = tglib.free_port()
        self.epmd_port = tglib.free_port()
        self.start_timeout = start_timeout
        self.nodename = f"tg-{os.getpid()}-{uuid.uuid4().hex[:8]}@localhost"
        self.dir = None
        self.proc = self.epmd = None
        self.startup_seconds = None

    @property
    def url(self):
        return f"amqp://guest:guest@127.0.0.1:{self.port}"

    @property
    def pid(self):
        """The beam.smp process (a child of self.proc, the rabbitmq-server script)."""
        for p in _tree(self.proc.pid):
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == "beam.smp":
                        return p
            except OSError:
                pass
        return None

    @property
    def log(self):
        return os.path.join(self.dir, "log", self.nodename + ".log")

    def _env(self):
        d = self.dir
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RABBITMQ_", "ERL_", "ERLANG_"))}
        env.update({
            "HOME": os.path.join(d, "home"),  # .erlang.cookie is created here
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_CRASH_DUMP": os.path.join(d, "erl_crash.dump"),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
            "RABBITMQ_CONFIG_FILE": os.path.join(d, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(d, "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": os.path.join(d, "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": os.path.join(d, "plugins-expand"),
        })
        return env

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="tg-rabbitmq-")
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def _start(self):
        d = self.dir
        for sub in ("home", "mnesia", "log"):
            os.mkdir(os.path.join(d, sub))
        with open(os.path.join(d, "rabbitmq.conf"), "w") as f:
            f.write("log.console = false\n"
                    "log.file.level = info\n"
                    "loopback_users.guest = true\n")
        with open(os.path.join(d, "advanced.config"), "w") as f:
            f.write("[].\n")
        with open(os.path.join(d, "rabbitmq-env.conf"), "w") as f:
            f.write("")
        with open(os.path.join(d, "enabled_plugins"), "w") as f:
            f.write("[].\n")  # no management plugin, no other plugin
        env = self._env()
        with open(os.path.join(d, "epmd.out"), "w") as out:
            self.epmd = subprocess.Popen(["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                                         cwd=d, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        tglib.wait_port(self.epmd_port, proc=self.epmd, name="epmd")
        started = time.monotonic()
        with open(os.path.join(d, "server.out"), "w") as out:
            self.proc = subprocess.Popen([os.path.join(RABBITMQ_SBIN, "rabbitmq-server")], cwd=d, env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = started + self.start_timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self.proc.returncode} while starting\n"
                                   + self._log_tail())
            try:
                amqp_handshake(self.port, timeout=2.0)
                break
            except (OSError, ConnectionError, struct.error) as e:
                last = e
            if time.monotonic() > deadline:
                raise TimeoutError(f"rabbitmq not ready on 127.0.0.1:{self.port} after "
                                   f"{self.start_timeout:.0f} s (last: {last!r})\n" + self._log_tail())
            time.sleep(0.1)
        self.startup_seconds = time.monotonic() - started

    def _log_tail(self):
        try:
            with open(self.log, errors="replace") as f:
                errors = [l for l in f if "[error]" in l or "[critical]" in l][:20]
        except OSError:
            errors = []
        return ("--- server output ---\n" + _tail(os.path.join(self.dir, "server.out"))
                + (f"--- {self.log}: errors ---\n" + "".join(errors) if errors else "")
                + f"--- {self.log}: tail ---\n" + _tail(self.log))

    def ctl(self, *args, timeout=60):
        r = subprocess.run([os.path.join(RABBITMQ_SBIN, "rabbitmqctl"), "-q", *args], cwd=self.dir,
                           env=self._env(), capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}")
        return r.stdout

    def _stop(self):
        try:
            if self.proc is not None:
                _kill_tree(self.proc)
        finally:
            if self.epmd is not None:
                _kill_tree(self.epmd, timeout=5)
            shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self._stop()
        return False


class NatsServer:
    """nats-server on 127.0.0.1:port, no auth, no monitoring port, no JetStream, readiness by
    port. Run through a symlink named `comm` (tglib.named), so its comm is "tg-nats" by default;
    comm=None runs /usr/sbin/nats-server itself (comm "nats-server")."""

    def __init__(self, port=None, comm="tg-nats"):
        self.port = port or tglib.free_port()
        self.comm = comm
        self.dir = None
        self.proc = None

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="tg-nats-")
        out_path = os.path.join(self.dir, "server.out")
        try:
            with open(out_path, "w") as out:
                self.proc = subprocess.Popen(
                    [tglib.named("nats-server", self.comm) if self.comm else "nats-server",
                     "-a", "127.0.0.1", "-p", str(self.port)],
                    cwd=self.dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True)
            try:
                tglib.wait_port(self.port, timeout=20, proc=self.proc, name="nats-server")
            except (RuntimeError, TimeoutError) as e:
                raise RuntimeError(f"{e}\n--- nats-server output ---\n{_tail(out_path)}") from None
        except BaseException:
            self._stop()
            raise
        return self

    def _stop(self):
        try:
            if self.proc is not None:
                _kill_tree(self.proc, timeout=10)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self._stop()
        return False
