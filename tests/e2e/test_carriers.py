"""End to end: trace context carried by more than HTTP request headers, with real peers.

* WebSocket (npm `ws` client and server): the handshake is a request like any other; after the
  101, frames whose payloads look like HTTP/1 requests and responses and like HTTP/2 frames are
  never parsed, and nothing of them leaves the kernel (counted from the daemon's debug log of data
  events per process).
* Message queues, each with a real client library: RabbitMQ (Debian's rabbitmq-server, npm
  `amqplib`), NATS (Debian's nats-server, npm `nats`) and Kafka (npm `kafkajs` against a broker
  stand-in, tests/peers/kafka_standin.py: no Kafka broker is packaged in Debian). Publishes with
  valid, missing and malformed context; an OpenTelemetry HTTP service that publishes with and
  without the context it received; consumers that forward a message's context to an HTTP backend
  or drop it. Exact counts per process, and outcomes on both sides of the queue.
* An h2c upgrade (curl --http2 against Go's x/net/http2/h2c), and a CONNECT tunnel (curl -p
  through a small CONNECT proxy to nginx).
"""
import json
import os
import re
import subprocess
import time
import unittest

import peers
import tglib
from broker_peers import NatsServer, RabbitMQ
from kafka_peers import KafkaStandin
from peers import PEERS, NodeService
from tglib import OUT, REQ, deltas, outcomes, requests

UPGRADES = "tracegap_connection_upgrades_total"
PARSE_ERRORS = "tracegap_parse_errors_total"
DUPLICATES = "tracegap_tracestate_duplicates_total"
TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Node:
    """A tests/peers script that prints "ready" once serving; stopped with SIGTERM."""

    def __init__(self, script, *args):
        self.cmd = ["node", os.path.join(PEERS, script), *args]

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"{self.cmd} did not start: {line!r}")
        return self

    @property
    def pid(self):
        return self.proc.pid

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        return False


def data_events(daemon, comm):
    """Data events the daemon received from processes named `comm` (its debug log)."""
    return len(re.findall(rf"data conn=\d+ pid=\d+ comm={re.escape(comm)} ", daemon.output()))


class WebSocket(unittest.TestCase):
    FRAMES = 200

    @classmethod
    def setUpClass(cls):
        peers.ensure_node_modules()
        cls.daemon = tglib.Daemon("--log-level", "debug").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)

    def client(self, port, *args):
        r = subprocess.run(["node", os.path.join(PEERS, "ws-peer.js"), "--role", "client",
                            "--url", f"ws://127.0.0.1:{port}/chat", "--frames", str(self.FRAMES),
                            *args], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(summary["echoed"], self.FRAMES)

    def test_one_request_per_handshake_and_nothing_after_the_upgrade(self):
        port = tglib.free_port()
        with Node("ws-peer.js", "--role", "server", "--port", str(port)):
            before = self.daemon.scrape()
            srv_events, cli_events = data_events(self.daemon, "tg-ws-srv"), data_events(self.daemon, "tg-ws-cli")
            self.client(port, "--traceparent", TP)
            self.client(port)
            after = self.daemon.wait_for(
                lambda m: sum(requests(before, m, "tg-ws-srv", "inbound").values()) >= 2
                and deltas(before, m, UPGRADES, ("to",)).get("websocket", 0) >= 4)
        # Each handshake is one request, seen by both ends; its 101 ends HTTP/1 on both sockets.
        self.assertEqual(requests(before, after, "tg-ws-srv", "inbound"),
                         {("http1", "valid"): 1, ("http1", "missing"): 1})
        self.assertEqual(requests(before, after, "tg-ws-cli", "outbound"),
                         {("http1", "valid"): 1, ("http1", "missing"): 1})
        self.assertEqual(requests(before, after, "tg-ws-srv", "outbound"), {})
        self.assertEqual(requests(before, after, "tg-ws-cli", "inbound"), {})
        self.assertEqual(outcomes(before, after, "tg-ws-cli"), {("origin", "http1"): 2})
        self.assertEqual(deltas(before, after, UPGRADES, ("to",)), {"websocket": 4})
        # The frames (HTTP/1-looking text, an HTTP/2 preface and frames) were never parsed...
        self.assertEqual(deltas(before, after, PARSE_ERRORS, ("protocol", "reason")), {})
        self.assertEqual(deltas(before, after, tglib.HPACK_ERRORS, ("reason",)), {})
        # ... nor copied: per handshake, the request and the 101 on each end, nothing more.
        self.assertEqual(data_events(self.daemon, "tg-ws-srv") - srv_events, 4)
        self.assertEqual(data_events(self.daemon, "tg-ws-cli") - cli_events, 4)


# A forward proxy that answers CONNECT with 200 and then relays bytes both ways (what squid or
# haproxy do for HTTPS through a proxy); argv: port. Its comm is tg-connect.
CONNECT_PROXY = r"""
import select, socket, sys, threading
def relay(a, b):
    try:
        while True:
            r, _, _ = select.select([a, b], [], [])
            for s in r:
                d = s.recv(65536)
                if not d: return
                (b if s is a else a).sendall(d)
    finally:
        a.close(); b.close()
def serve(c):
    head = b""
    while b"\r\n\r\n" not in head: head += c.recv(4096)
    host, port = head.split(b" ")[1].decode().rsplit(":", 1)
    u = socket.create_connection((host, int(port)))
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    relay(c, u)
ls = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


class ConnectTunnel(unittest.TestCase):
    """curl through a CONNECT proxy (-p: a tunnel even for http://): the CONNECT is a request;
    after the proxy's 200, what the tunnel carries (here plain HTTP/1 requests to nginx) is never
    parsed on the tunnel's connection, only on the proxy's own connection to nginx."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = tglib.Daemon().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)

    def test_connect_2xx_ends_http1_on_the_tunnel(self):
        port = tglib.free_port()
        proxy = subprocess.Popen([tglib.named(tglib.PYTHON, "tg-connect"), "-c", CONNECT_PROXY,
                                  str(port)], stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(proxy.stdout.readline().strip(), "ready")
            with tglib.Nginx() as nginx:
                before = self.daemon.scrape()
                for _ in range(3):
                    r = subprocess.run([tglib.named("curl", "tg-curl-p"), "-sS", "-p", "-x",
                                        f"http://127.0.0.1:{port}", "-H", f"traceparent: {TP}",
                                        f"http://127.0.0.1:{nginx.port}/a", f"http://127.0.0.1:{nginx.port}/b"],
                                       capture_output=True, text=True, timeout=30)
                    self.assertEqual(r.returncode, 0, r.stderr)
                after = self.daemon.wait_for(
                    lambda m: deltas(before, m, UPGRADES, ("to",)).get("tunnel", 0) >= 6
                    and sum(requests(before, m, nginx.comm, "inbound").values()) >= 6)
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
            proxy.stdout.close()
        # The CONNECTs (one per curl run), seen at both ends of the client's connection.
        self.assertEqual(requests(before, after, "tg-curl-p", "outbound"), {("http1", "missing"): 3})
        self.assertEqual(requests(before, after, "tg-connect", "inbound"), {("http1", "missing"): 3})
        self.assertEqual(deltas(before, after, UPGRADES, ("to",)), {"tunnel": 6})
        # Through the tunnel: two requests per run reach nginx (counted there, on the proxy's
        # connection to it, as the proxy's outbound), never as the client's.
        self.assertEqual(requests(before, after, nginx.comm, "inbound"), {("http1", "valid"): 6})
        self.assertEqual(requests(before, after, "tg-connect", "outbound"), {("http1", "valid"): 6})
        # curl reads the proxy's answer to CONNECT one byte at a time, so the kernel, which reads a
        # response's status at the start of a call, does not see the 200 end HTTP/1 on curl's
        # socket and still copies what curl sends through the tunnel; the daemon knows (it saw the
        # CONNECT and the 200), parses none of it and counts it (docs/carriers.md). On the proxy's
        # socket, where the 200 is one write, the kernel stops at once.
        errors = deltas(before, after, PARSE_ERRORS, ("protocol", "reason"))
        self.assertEqual(set(errors), {("http1", "data_after_upgrade")} if errors else set())


class H2cUpgrade(unittest.TestCase):
    """curl --http2 (HTTP/1.1 Upgrade: h2c) against Go's x/net/http2/h2c server: the upgrade
    request is an HTTP/1 request, the 101 switches both sockets to HTTP/2, and the second request
    on the connection is an HTTP/2 request, decoded."""

    @classmethod
    def setUpClass(cls):
        cls.server = peers.build_go_peer("h2c-server.go", "tg-h2c-srv")
        cls.daemon = tglib.Daemon().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)

    def test_h2c_upgrade_then_http2(self):
        port = tglib.free_port()
        with GoServer(self.server, port):
            before = self.daemon.scrape()
            r = subprocess.run(["curl", "-sS", "--http2", "-H", f"traceparent: {TP}",
                                f"http://127.0.0.1:{port}/a", f"http://127.0.0.1:{port}/b"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("HTTP/2.0 /b", r.stdout)
            after = self.daemon.wait_for(
                lambda m: sum(requests(before, m, "tg-h2c-srv", "inbound").values()) >= 2)
        self.assertEqual(requests(before, after, "tg-h2c-srv", "inbound"),
                         {("http1", "valid"): 1, ("http2", "valid"): 1})
        self.assertEqual(requests(before, after, "curl", "outbound"),
                         {("http1", "valid"): 1, ("http2", "valid"): 1})
        self.assertEqual(deltas(before, after, UPGRADES, ("to",)), {"h2c": 2})
        self.assertEqual(deltas(before, after, tglib.HPACK_ERRORS, ("reason",)), {})
        self.assertEqual(deltas(before, after, PARSE_ERRORS, ("protocol", "reason")), {})


class GoServer(Node):
    def __init__(self, binary, port):
        self.cmd = [binary, "-port", str(port)]


class Consumer(Node):
    """A consumer role of tests/peers/<broker>-peer.js; `handled` counts the messages it has
    finished (it prints a line per message, which a thread drains)."""

    def __init__(self, script, *args):
        super().__init__(script, "--role", "consumer", *args)
        self.handled = 0

    def __enter__(self):
        super().__enter__()
        import threading

        def drain():
            for line in self.proc.stdout:
                if line.startswith("handled "):
                    self.handled = int(line.split()[1])
        self.thread = threading.Thread(target=drain, daemon=True)
        self.thread.start()
        return self

    def wait(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while self.handled < n and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.handled < n:
            raise AssertionError(f"the consumer handled {self.handled} of {n} messages")


class QueueCarrier:
    """The same matrix for every message queue, with its real client library (tests/peers/
    <PEER>): publishers with valid, missing and malformed context, and an OpenTelemetry HTTP service
    that publishes to a consumer that calls an HTTP backend, in three modes. The broker receives
    every publish and sends every delivery: counted, never given outcomes (docs/semantics.md)."""
    N = 8
    PROTOCOL = PEER = BROKER_COMM = None

    @classmethod
    def setUpClass(cls):
        peers.ensure_node_modules()
        cls.broker = cls.start_broker().__enter__()
        cls.daemon = tglib.Daemon().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.__exit__(None, None, None)
        cls.broker.__exit__(None, None, None)

    # Per broker: its context manager, how a peer reaches it, a destination's options.
    @classmethod
    def start_broker(cls):
        raise NotImplementedError

    def broker_args(self):
        raise NotImplementedError

    def destination_args(self, name):
        raise NotImplementedError

    def consumer_args(self, name):
        return self.destination_args(name)

    def publish(self, dest, context, name):
        r = subprocess.run(["node", os.path.join(PEERS, self.PEER), "--role", "publish",
                            *self.broker_args(), *self.destination_args(dest), "--count", str(self.N),
                            "--context", context, "--name", name],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_publishers_with_valid_missing_and_malformed_context(self):
        expected = {"valid": "valid", "none": "missing", "malformed": "malformed"}
        broker = self.BROKER_COMM
        for context, verdict in expected.items():
            with self.subTest(context=context):
                name = f"pub-{context}"[:12]
                before = self.daemon.scrape()
                self.publish(f"d-{context}", context, name)
                after = self.daemon.wait_for(
                    lambda m: sum(requests(before, m, f"tg-{name}", "outbound").values()) >= self.N
                    and sum(requests(before, m, broker, "inbound").values()) >= self.N)
                self.assertEqual(requests(before, after, f"tg-{name}", "outbound"),
                                 {(self.PROTOCOL, verdict): self.N})
                self.assertEqual(requests(before, after, f"tg-{name}", "inbound"), {})
                # A client that publishes on its own starts the work: origin, never a gap.
                self.assertEqual(outcomes(before, after, f"tg-{name}"), {("origin", self.PROTOCOL): self.N})
                # The broker received them: counted with their context, no outcome of its own.
                self.assertEqual(requests(before, after, broker, "inbound"), {(self.PROTOCOL, verdict): self.N})
                self.assertEqual(outcomes(before, after, broker), {})
                self.assertEqual(deltas(before, after, PARSE_ERRORS, ("protocol", "reason"),
                                        protocol=self.PROTOCOL), {})

    def test_outcomes_across_the_queue(self):
        # (service mode, consumer mode) -> service outcome, message context, consumer outcome,
        # backend context.
        cases = {
            ("propagate", "forward"): ("propagated", "valid", "propagated", "valid"),
            ("drop", "forward"): ("dropped", "missing", "untraced_upstream", "valid"),
            ("propagate", "drop"): ("propagated", "valid", "dropped", "missing"),
        }
        for (svc_mode, cons_mode), (svc_out, msg_ctx, cons_out, be_ctx) in cases.items():
            with self.subTest(service=svc_mode, consumer=cons_mode):
                dest = f"d-{svc_mode}-{cons_mode}"
                svc, cons, be = f"tg-svc-{svc_mode[:4]}", f"tg-cons-{cons_mode[:4]}", "tg-be-queue"
                port = tglib.free_port()
                with NodeService("be-queue") as backend, \
                        Consumer(self.PEER, *self.broker_args(), *self.consumer_args(dest),
                                 "--downstream", backend.url, "--mode", cons_mode,
                                 "--name", cons[3:]) as consumer, \
                        Node(self.PEER, "--role", "service", *self.broker_args(),
                             *self.destination_args(dest), "--port", str(port), "--mode", svc_mode,
                             "--name", svc[3:]):
                    before = self.daemon.scrape()
                    peers.node_send(f"http://127.0.0.1:{port}/order", self.N, "--new-trace-each")
                    consumer.wait(self.N)
                    after = self.daemon.wait_for(
                        lambda m: sum(outcomes(before, m, cons).values()) >= self.N
                        and sum(requests(before, m, be, "inbound").values()) >= self.N)
                p = self.PROTOCOL
                self.assertEqual(requests(before, after, svc, "inbound"), {("http1", "valid"): self.N})
                self.assertEqual(requests(before, after, svc, "outbound"), {(p, msg_ctx): self.N})
                self.assertEqual(outcomes(before, after, svc), {(svc_out, p): self.N})
                self.assertEqual(requests(before, after, cons, "inbound"), {(p, msg_ctx): self.N})
                self.assertEqual(requests(before, after, cons, "outbound"), {("http1", be_ctx): self.N})
                self.assertEqual(outcomes(before, after, cons), {(cons_out, "http1"): self.N})
                self.assertEqual(requests(before, after, be, "inbound"), {("http1", be_ctx): self.N})
                # The broker relays: both ways counted, never correlated.
                self.assertEqual(requests(before, after, self.BROKER_COMM, "outbound"), {(p, msg_ctx): self.N})
                self.assertEqual(outcomes(before, after, self.BROKER_COMM), {})


class Amqp(QueueCarrier, unittest.TestCase):
    """RabbitMQ (Debian's rabbitmq-server) with npm amqplib; consumers take one message at a time
    (prefetch 1)."""
    PROTOCOL, PEER, BROKER_COMM = "amqp", "amqp-peer.js", "beam.smp"

    @classmethod
    def start_broker(cls):
        return RabbitMQ()

    def broker_args(self):
        return ["--url", self.broker.url]

    def destination_args(self, name):
        return ["--queue", name]

    def consumer_args(self, name):
        return ["--queue", name, "--prefetch", "1"]


class Nats(QueueCarrier, unittest.TestCase):
    """Debian's nats-server with npm nats: a message without context is published with PUB (no
    header block at all), one with context with HPUB."""
    PROTOCOL, PEER, BROKER_COMM = "nats", "nats-peer.js", "tg-nats"

    @classmethod
    def start_broker(cls):
        return NatsServer()

    def broker_args(self):
        return ["--url", self.broker.url]

    def destination_args(self, name):
        return ["--subject", name]


class Kafka(QueueCarrier, unittest.TestCase):
    """npm kafkajs against tests/peers/kafka_standin.py (no Kafka broker can be installed from
    Debian: the stand-in speaks the real wire protocol, records pass through it untouched)."""
    PROTOCOL, PEER, BROKER_COMM = "kafka", "kafka-peer.js", "tg-kafka"

    @classmethod
    def start_broker(cls):
        return KafkaStandin()

    def broker_args(self):
        return ["--brokers", self.broker.brokers]

    def destination_args(self, name):
        return ["--topic", name]

    def consumer_args(self, name):
        return ["--topic", name, "--group", "g-" + name]


if __name__ == "__main__":
    tglib.main()
