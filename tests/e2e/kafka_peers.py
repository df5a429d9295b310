"""A Kafka broker for the end-to-end tests: tests/peers/kafka_standin.py, run on loopback as a child
of the test.

No real Kafka broker can run on the test machines (none in Debian, no Maven registry), so the tests
use a stand-in written for them: one Python 3 (stdlib, asyncio) process that speaks the real Kafka
wire protocol well enough for the npm `kafkajs` client (tests/peers/kafka-peer.js) to produce and
to consume in a consumer group (see the stand-in's docstring and tests/peers/README.md).

    with KafkaStandin() as kafka:
        kafka.brokers == "127.0.0.1:PORT"   # for kafka-peer.js --brokers
        kafka.requests()                    # [("Produce", 7), ("Fetch", 11), ...] so far

Its comm is `name` (default "tg-kafka", set with prctl on its only thread, which does all the
socket I/O). All its state is in memory; its stderr (one line per request, topic creation, group
generations, protocol errors) goes to a temp file removed on exit. `max_versions`, e.g.
{"Produce": 3, "Fetch": 4}, lowers what it advertises in ApiVersions, which makes kafkajs use
those versions.
"""
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import time

import tglib

PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers")
STANDIN = os.path.join(PEERS, "kafka_standin.py")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

_REQ = re.compile(r"^kafka-standin: req conn=(\d+) api=(\S+) key=(\d+) v=(\d+) ")


def ensure_kafkajs():
    """npm ci in tests/peers unless kafkajs is installed (peers.ensure_node_modules does not look
    for it)."""
    if not os.path.isdir(os.path.join(PEERS, "node_modules", "kafkajs")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEERS,
                       check=True, stdout=subprocess.DEVNULL)


class KafkaStandin:
    """tests/peers/kafka_standin.py on 127.0.0.1:port (a free port unless given); ready once it
    prints "ready" (it listens by then), typically 0.1 s after the start.

    `.port`, `.brokers` ("127.0.0.1:PORT"), `.pid`, `.log_path`; `log_text()` its stderr so far;
    `requests()` the (api name, version) of every request it has received, in order (both still
    work after exit). On exit: SIGTERM (it exits at once), SIGKILL after 5 s; waited for.
    """

    def __init__(self, port=None, name="tg-kafka", partitions=1, max_versions=None,
                 start_timeout=START_TIMEOUT):
        self.port = port or tglib.free_port()
        self.name = name
        self.partitions = partitions
        self.max_versions = dict(max_versions or {})
        self.start_timeout = start_timeout
        self.dir = None
        self.proc = None
        self.startup_seconds = None
        self._final_log = None  # the stderr, kept when the temp dir is removed

    @property
    def brokers(self):
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    @property
    def log_path(self):
        return os.path.join(self.dir, "standin.err")

    def log_text(self):
        if self._final_log is not None:
            return self._final_log
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError as e:
            return f"({self.log_path}: {e})\n"

    def requests(self):
        out = []
        for line in self.log_text().splitlines():
            m = _REQ.match(line)
            if m:
                out.append((m.group(2), int(m.group(4))))
        return out

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="tg-kafka-")
        self._final_log = None
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def _start(self):
        cmd = [tglib.PYTHON, STANDIN, "--port", str(self.port), "--name", self.name,
               "--partitions", str(self.partitions), "--log-requests"]
        for api, version in self.max_versions.items():
            cmd += ["--max-version", f"{api}={version}"]
        started = time.monotonic()
        with open(self.log_path, "w") as err:
            self.proc = subprocess.Popen(cmd, cwd=self.dir, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=err, text=True,
                                         start_new_session=True)
        # It prints nothing on stdout after "ready", so the pipe never fills.
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(self.start_timeout):
                raise TimeoutError(f"kafka stand-in not ready on {self.brokers} after "
                                   f"{self.start_timeout:.0f} s\n--- stderr ---\n{self.log_text()}")
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.wait(timeout=5)
            raise RuntimeError(f"kafka stand-in did not start (exit {self.proc.returncode}, "
                               f"stdout {line!r})\n--- stderr ---\n{self.log_text()}")
        self.startup_seconds = time.monotonic() - started

    def _stop(self):
        try:
            if self.proc is not None:
                if self.proc.poll() is None:
                    self.proc.send_signal(signal.SIGTERM)
                    try:
                        self.proc.wait(timeout=STOP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait(timeout=10)
                self.proc.stdout.close()
        finally:
            if self.dir is not None:
                self._final_log = self.log_text()
                shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self._stop()
        return False
