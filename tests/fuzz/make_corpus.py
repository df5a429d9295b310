#!/usr/bin/env python3
"""Regenerates the fuzzers' seed corpora (tests/fuzz/corpus/<target>/) from real traffic.

Real clients talk to real servers through a recording TCP proxy, which keeps every chunk each
side sent, in order: curl, Python's urllib, nginx (as a reverse proxy), Node's http module with
the OpenTelemetry SDK (tests/peers), nghttp, curl --http2 and grpc-js. The bytes are then turned
into what the kernel side would emit (bpf/tracegap.h): HTTP/1 header blocks without bodies, cut
where the sender's writes were cut; HTTP/2 frame records (no preface; payloads only of the frame
types TG_H2_PAYLOAD_COPIED keeps), and written in each target's input format (see the comments at
the top of each fuzz_*.cc). Hand-built cases complete them: the h2spec-style HPACK errors,
every traceparent/tracestate reason of docs/trace-context-reasons.md, and malformed records.

The captures carry dates and random ids, so a rerun changes the files; that is fine, they are
seeds. Peers that are missing (no node_modules, no nghttpd, ...) are skipped with a note.

Usage: tests/fuzz/make_corpus.py [--out DIR]   (needs curl, nginx, nghttp, nghttpd; node optional)
"""

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEERS = os.path.join(ROOT, "tests", "peers")

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"

# ---------------------------------------------------------------------------------------------
# Recording proxy

_seq_lock = threading.Lock()
_seq = [0]


def _next_seq():
    with _seq_lock:
        _seq[0] += 1
        return _seq[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Recorder:
    """Forwards 127.0.0.1:port to 127.0.0.1:upstream and keeps every chunk of every connection:
    conns[i] is a list of (seq, 'c' or 's', bytes), 'c' being what the client sent."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.port = free_port()
        self.conns = []
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            chunks = []
            with self._lock:
                self.conns.append(chunks)
            for src, dst, tag in ((client, server, "c"), (server, client, "s")):
                threading.Thread(target=self._pump, args=(src, dst, tag, chunks), daemon=True).start()

    def _pump(self, src, dst, tag, chunks):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            with self._lock:
                chunks.append((_next_seq(), tag, data))
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self):
        time.sleep(0.3)  # let the last chunks through
        self._sock.close()


# ---------------------------------------------------------------------------------------------
# HTTP/1: header blocks only, as the kernel emits them


def _chunked_body_len(buf, start):
    """Length of a chunked body starting at buf[start], trailers included, or None if short."""
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(buf[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)
            return None if end < 0 else end + 4 - start
        pos += size + 2


def http1_header_events(chunks, tag, request_methods=None, stop_at_upgrade=False):
    """The header bytes of one direction, as events cut where the sender's writes were cut.
    Bodies are dropped (the kernel never copies them). Returns (events, methods) where methods
    lists the request methods seen (to know which responses have no body)."""
    buf = b"".join(c for _, t, c in chunks if t == tag)
    cuts = []
    pos = 0
    for _, t, c in chunks:
        if t == tag:
            pos += len(c)
            cuts.append(pos)
    keep = []  # (start, end) of header blocks
    methods = []
    pos = 0
    index = 0
    while pos < len(buf):
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        end += 4
        keep.append((pos, end))
        head = buf[pos:end].decode("latin-1")
        start_line, *lines = head.split("\r\n")
        fields = {}
        for line in lines:
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
        body = 0
        is_response = start_line.startswith("HTTP/")
        if not is_response:
            methods.append(start_line.split(" ")[0])
        status = int(start_line.split(" ")[1]) if is_response else 0
        method = request_methods[index] if is_response and request_methods and index < len(request_methods) else ""
        if is_response and status >= 200:
            index += 1
        if is_response and status == 101 and stop_at_upgrade:
            pos = end
            break
        if "chunked" in fields.get("transfer-encoding", ""):
            body = _chunked_body_len(buf, end) or 0
        elif "content-length" in fields:
            body = int(fields["content-length"])
        elif is_response and status >= 200 and status not in (204, 304) and method != "HEAD":
            body = len(buf) - end  # read until close
        if is_response and (method == "HEAD" or status in (204, 304) or status < 200):
            body = 0
        pos = end + body
        if stop_at_upgrade and not is_response and "upgrade" in fields:
            break
    events = []
    for start, end in keep:
        prev = start
        for cut in cuts:
            if start < cut < end:
                events.append(buf[prev:cut])
                prev = cut
        events.append(buf[prev:end])
    return events, methods


# ---------------------------------------------------------------------------------------------
# HTTP/2: frame records

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
COPIED = {0x1, 0x3, 0x4, 0x5, 0x7, 0x9}  # TG_H2_PAYLOAD_COPIED


class H2Records:
    """Turns one direction's wire bytes, chunk by chunk, into the kernel's frame records."""

    def __init__(self, skip_preface):
        self.skip = len(H2_PREFACE) if skip_preface else 0
        self.header = b""
        self.remaining = 0
        self.copy = False

    def feed(self, data):
        out = bytearray()
        i = 0
        if self.skip:
            n = min(self.skip, len(data))
            i, self.skip = n, self.skip - n
        while i < len(data):
            if self.remaining == 0:
                take = min(9 - len(self.header), len(data) - i)
                self.header += data[i:i + take]
                i += take
                if len(self.header) == 9:
                    out += self.header
                    length = int.from_bytes(self.header[:3], "big")
                    self.copy = self.header[3] in COPIED
                    self.remaining = length
                    self.header = b""
                continue
            take = min(self.remaining, len(data) - i)
            if self.copy:
                out += data[i:i + take]
            self.remaining -= take
            i += take
        return bytes(out)


def h2_events(chunks, max_events=31):
    """(tag, records) per chunk in time order, consecutive same-direction chunks merged; the
    client's preface is dropped."""
    conv = {"c": H2Records(True), "s": H2Records(False)}
    events = []
    for _, tag, data in chunks:
        rec = conv[tag].feed(data)
        if not rec:
            continue
        if events and events[-1][0] == tag:
            events[-1] = (tag, events[-1][1] + rec)
        else:
            events.append((tag, rec))
    return events[:max_events]


# ---------------------------------------------------------------------------------------------
# Fuzzer input formats


def script(config, events):
    """fuzz_support.h's event script: events are (ctl, bytes)."""
    assert len(events) < 32
    out = bytearray([config, len(events)])
    for ctl, data in events:
        out += bytes([ctl]) + struct.pack("<H", min(len(data), 0xFFFF))
    for _, data in events:
        out += data
    return bytes(out)


RECORD_SEPARATOR = b"TG\xa5\x5a"  # fuzz_event_decoder.cc kSeparator

TG_EVENT_DATA, TG_EVENT_CLOSE = 1, 2
TG_DATA_CONTINUATION, TG_DATA_TRUNCATED, TG_DATA_LOST_BEFORE = 1, 2, 4
TG_DATA_NEW_CONN, TG_DATA_HTTP2, TG_DATA_H2_FROM_START = 8, 16, 32


def record(kind, direction=0, flags=0, tgid=0, conn=0, ts=0, comm=b"", lport=0, rport=0, data=b""):
    """One ring buffer record (struct tg_data_event, or a bare tg_event_header for CLOSE)."""
    hdr = struct.pack("<BBHIIIQQ16s", kind, direction, flags, tgid, tgid, 0, conn, ts, comm)
    if kind != TG_EVENT_DATA:
        return hdr
    addr = bytes([127, 0, 0, 1]) + bytes(12)
    tup = struct.pack("<HHHH16s16s", 2, lport, rport, 0, addr, addr)
    return hdr + tup + struct.pack("<II", len(data), len(data)) + data


class RecordStream:
    """Builds the records two processes' syscalls produce for one connection between them."""

    def __init__(self, client, server, conn_base, ports):
        self.sides = {"c": client, "s": server}  # (tgid, comm)
        self.conn_base = conn_base
        self.ports = ports
        self.seen = set()
        self.records = []
        self.ts = 1_000_000_000

    def add(self, tag, data, h2=False, continuation=False):
        other = "s" if tag == "c" else "c"
        # The sender's write (egress), then the receiver's read of the same bytes (ingress).
        for side, direction in ((tag, 0), (other, 1)):
            tgid, comm = self.sides[side]
            conn = self.conn_base + (0 if side == "c" else 1)
            flags = 0
            if conn not in self.seen:
                flags |= TG_DATA_NEW_CONN
                self.seen.add(conn)
            if h2:
                flags |= TG_DATA_HTTP2 | TG_DATA_H2_FROM_START
            elif continuation:
                flags |= TG_DATA_CONTINUATION
            lport, rport = self.ports if side == "c" else self.ports[::-1]
            self.ts += 50_000
            self.records.append(record(TG_EVENT_DATA, direction, flags, tgid, conn, self.ts, comm,
                                       lport, rport, data))

    def close(self):
        for off in (0, 1):
            self.ts += 50_000
            self.records.append(record(TG_EVENT_CLOSE, conn=self.conn_base + off, ts=self.ts))


def http1_records(chunks, client, server, conn_base, ports, stream=None):
    stream = stream or RecordStream(client, server, conn_base, ports)
    req_events, methods = http1_header_events(chunks, "c")
    resp_events, _ = http1_header_events(chunks, "s", methods)
    # Interleave: request events, then response events, message by message.
    for tag, evs in (("c", req_events), ("s", resp_events)):
        mid = False
        for e in evs:
            stream.add(tag, e, continuation=mid)
            mid = not e.endswith(b"\r\n\r\n")
    return stream


# ---------------------------------------------------------------------------------------------
# Peers


class Peers:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.docroot = os.path.join(tmp, "www")
        os.makedirs(self.docroot)
        os.chmod(tmp, 0o755)  # nginx's workers run as another user
        with open(os.path.join(self.docroot, "index.html"), "w") as f:
            f.write("<html>hello</html>\n")

    def spawn(self, args, port, **kw):
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        wait_port(port)
        return p

    def python_http(self):
        port = free_port()
        self.spawn([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                    "--directory", self.docroot], port)
        return port

    def nginx(self, upstream):
        port, h2port = free_port(), free_port()
        conf = os.path.join(self.tmp, "nginx.conf")
        t = self.tmp
        with open(conf, "w") as f:
            f.write(f"""
worker_processes 1;
daemon off;
pid {t}/nginx.pid;
error_log {t}/nginx.err;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {t}/b; proxy_temp_path {t}/p; fastcgi_temp_path {t}/f;
  uwsgi_temp_path {t}/u; scgi_temp_path {t}/s;
  server {{
    listen 127.0.0.1:{port};
    root {self.docroot};
    location /up/ {{ proxy_pass http://127.0.0.1:{upstream}/; }}
  }}
  server {{ listen 127.0.0.1:{h2port} http2; root {self.docroot}; }}
}}
""")
        self.spawn(["nginx", "-c", conf, "-p", t, "-e", f"{t}/nginx.err"], port)
        wait_port(h2port)
        return port, h2port

    def nghttpd(self):
        port = free_port()
        self.spawn(["nghttpd", "--no-tls", "-d", self.docroot, str(port)], port)
        return port

    def node(self, script_name, *args, port):
        return self.spawn(["node", os.path.join(PEERS, script_name), *args], port, cwd=PEERS)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


def run(args, check=True, **kw):
    subprocess.run(args, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=30, **kw)


def have(tool):
    return shutil.which(tool) is not None


def capture_all(tmp):
    """Returns {name: (kind, chunks)} with kind 'h1', 'h2' or 'h2c'."""
    peers = Peers(tmp)
    caps = {}
    try:
        py = peers.python_http()
        up = Recorder(py)  # nginx -> python, recorded
        ngx, ngx_h2 = peers.nginx(up.port)

        rec = Recorder(ngx)
        run(["curl", "-s", "-o", "/dev/null", "-o", "/dev/null", "-H", f"traceparent: {TRACEPARENT}",
             "-H", f"tracestate: {TRACESTATE}", f"http://127.0.0.1:{rec.port}/index.html",
             f"http://127.0.0.1:{rec.port}/missing?token=secret"])
        run(["curl", "-s", "-o", "/dev/null", "-d", "a=1&b=2", "-H", "X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7",
             f"http://127.0.0.1:{rec.port}/form"])
        run(["curl", "-s", "-o", "/dev/null", "-I", f"http://127.0.0.1:{rec.port}/index.html"])
        run(["curl", "-s", "-o", "/dev/null", "-H", f"traceparent: {TRACEPARENT}",
             f"http://127.0.0.1:{rec.port}/up/index.html?q=1"])
        rec.close()
        up.close()
        names = ["curl_nginx_get", "curl_nginx_post", "curl_nginx_head", "curl_nginx_proxy"]
        for name, chunks in zip(names, rec.conns):
            caps[name] = ("h1", chunks)
        if up.conns:
            caps["nginx_python_upstream"] = ("h1", up.conns[0])
            # The proxy hop as nginx's own syscalls see it: inbound from curl, outbound upstream.
            caps["_nginx_hop"] = ("hop", (rec.conns[3], up.conns[0]))

        rec = Recorder(py)
        req = urllib.request.Request(f"http://127.0.0.1:{rec.port}/index.html",
                                     headers={"traceparent": TRACEPARENT, "uber-trace-id": "abc:def:0:1"})
        urllib.request.urlopen(req, timeout=10).read()
        rec.close()
        caps["urllib_python"] = ("h1", rec.conns[0])

        if have("curl") and have("nghttpd"):
            h2d = peers.nghttpd()
            # curl's h2c upgrade request (nghttpd does not implement the upgrade and answers
            # with frames, so curl gives up: only the request is kept).
            rec = Recorder(h2d)
            run(["curl", "-s", "-o", "/dev/null", "--http2", "-H", f"traceparent: {TRACEPARENT}",
                 f"http://127.0.0.1:{rec.port}/index.html"], check=False)
            rec.close()
            caps["curl_h2c_upgrade"] = ("h2c", rec.conns[0])
            if have("nghttp"):
                rec = Recorder(h2d)
                run(["nghttp", "-n", "-H", f"traceparent: {TRACEPARENT}", "-H", f"tracestate: {TRACESTATE}",
                     f"http://127.0.0.1:{rec.port}/index.html", f"http://127.0.0.1:{rec.port}/index.html?x=1"])
                rec.close()
                caps["nghttp_nghttpd"] = ("h2", rec.conns[0])

        # (curl 7.88 fails a second URL on a reused h2c connection: one URL per run.)
        rec = Recorder(ngx_h2)
        run(["curl", "-s", "-o", "/dev/null", "--http2-prior-knowledge", "-H",
             f"traceparent: {TRACEPARENT}", f"http://127.0.0.1:{rec.port}/index.html?q=1"])
        rec.close()
        caps["curl_nginx_h2"] = ("h2", rec.conns[0])
        if have("nghttp"):
            rec = Recorder(ngx_h2)
            run(["nghttp", "-n", "-H", "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1",
                 f"http://127.0.0.1:{rec.port}/index.html", f"http://127.0.0.1:{rec.port}/missing"])
            rec.close()
            caps["nghttp_nginx_h2"] = ("h2", rec.conns[0])

        if have("node") and os.path.isdir(os.path.join(PEERS, "node_modules")):
            down = free_port()
            peers.node("http-service.js", "--name", "down", "--port", str(down), port=down)
            rec_down = Recorder(down)
            front = free_port()
            peers.node("http-service.js", "--name", "front", "--port", str(front), "--downstream",
                       f"http://127.0.0.1:{rec_down.port}/work", port=front)
            rec = Recorder(front)
            run(["node", os.path.join(PEERS, "send.js"), "--url", f"http://127.0.0.1:{rec.port}/api?id=7",
                 "--count", "2", "--new-trace-each"], cwd=PEERS)
            rec.close()
            rec_down.close()
            caps["node_send_otel"] = ("h1", rec.conns[0])
            caps["node_otel_downstream"] = ("h1", rec_down.conns[0])

            gport = free_port()
            peers.node("grpc-service.js", "--name", "gsvc", "--port", str(gport), port=gport)
            rec = Recorder(gport)
            run(["node", os.path.join(PEERS, "grpc-send.js"), "--target", f"127.0.0.1:{rec.port}",
                 "--count", "2", "--new-trace-each", "--pad", "40"], cwd=PEERS)
            rec.close()
            caps["grpc_js"] = ("h2", rec.conns[0])
        else:
            print("make_corpus: node peers not installed; skipping the OpenTelemetry captures")
    finally:
        peers.stop()
    return caps


# ---------------------------------------------------------------------------------------------
# Hand-built cases


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


SETTINGS = frame(0x4, 0, 0, struct.pack(">HI", 1, 4096) + struct.pack(">HI", 4, 65535))
GOOD_GET = b"\x82\x86\x84\x41\x8a\x08\x9d\x5c\x0b\x81\x70\xdc\x78\x0f\x03"  # GET http / host
# h2spec-style HPACK violations (RFC 7541), each a header block that must fail to decode.
BAD_BLOCKS = {
    "hpack_index_0": b"\x80",
    "hpack_index_out_of_range": b"\x82\x86\x84\xc6",          # index 70; the table holds 1 entry
    "hpack_size_update_after_field": b"\x82\x3f\xe1\x1f",    # size update 4096 after :method
    "hpack_size_update_above_setting": b"\x3f\xe2\x1f\x82",  # 4097 > SETTINGS_HEADER_TABLE_SIZE
    "hpack_huffman_padding_too_long": b"\x82\x86\x04\x82\x63\xff",  # "/" + 10 bits of padding
    "hpack_huffman_padding_not_ones": b"\x82\x86\x04\x81\x60",      # "/" padded with 00
    "hpack_huffman_eos_in_string": b"\x82\x86\x04\x84\xff\xff\xff\xff",
    "hpack_string_past_block_end": b"\x82\x86\x04\x8a\x63",
}

TRACE_CASES = {
    "tp_valid": f"traceparent: {TRACEPARENT}\ntracestate: {TRACESTATE}\n",
    "tp_future_version": "traceparent: cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future\n",
    "tp_duplicate": f"traceparent: {TRACEPARENT}\nTraceParent: {TRACEPARENT}\n",
    "tp_length": "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1\n",
    "tp_delimiter": "traceparent: 00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
    "tp_version": "traceparent: ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
    "tp_non_hex": "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-0x\n",
    "tp_zero_ids": "traceparent: 00-00000000000000000000000000000000-0000000000000000-01\n",
    "tp_uppercase": "traceparent: 0A-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01\n",
    "tp_comma_joined": f"traceparent: {TRACEPARENT},{TRACEPARENT}\n",
    "ts_orphan": "tracestate: rojo=00f067aa0ba902b7\n",
    "ts_bad_members": f"traceparent: {TRACEPARENT}\ntracestate: rojo=1 ,congo\ntracestate: Rojo=1,k=a=b,k= ,=1\n",
    "ts_multi_tenant_dup": f"traceparent: {TRACEPARENT}\ntracestate: t@sys=1,a=1\ntracestate: a=2\n",
    "ts_too_many": f"traceparent: {TRACEPARENT}\ntracestate: " + ",".join(f"k{i}=v" for i in range(33)) + "\n",
    "legacy_all": "b3: 80f198ee56343ba8-e457b5a2e4d86bd1-1\nX-B3-TraceId: 80f198ee56343ba8\n"
                  "uber-trace-id: abc:def:0:1\nuberctx-user: x\nX-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\n"
                  "grpc-trace-bin: AAA\nsw8: 1-x\nsw8-correlation: y\n",
}


def bad_records():
    good = record(TG_EVENT_DATA, 0, TG_DATA_NEW_CONN, 7, 9, 1, b"curl", 5000, 80,
                  b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    too_long = bytearray(good)
    too_long[92:96] = struct.pack("<I", 9000)  # data_len past the record
    bad_dir = bytearray(good)
    bad_dir[1] = 2
    return {
        "records_malformed": RECORD_SEPARATOR.join([
            good[:47], good[:95], bytes([3]) + good[1:], bytes(bad_dir), bytes(too_long),
            record(TG_EVENT_CLOSE, conn=9, ts=2), b""]),
    }


# ---------------------------------------------------------------------------------------------
# Output


# Whole conversations as records are large (96 bytes of header per event, both processes): a
# few kinds are enough, the fuzzer combines them.
EVENT_DECODER_SEEDS = {"curl_nginx_head", "grpc_js", "nghttp_nghttpd", "node_send_otel",
                       "urllib_python", "nginx_proxy_hop", "records_malformed",
                       "housekeeping_after_loss"}

# fuzz_event_decoder.cc's housekeeping marker: kind 0xff, a live-set mask, an idle cutoff.
HOUSEKEEPING = b"\xff\x55" + struct.pack("<Q", 1 << 63)


def with_housekeeping(records):
    """The records with the main loop's housekeeping (after a loss) run in the middle."""
    return RECORD_SEPARATOR.join(records[:4] + [HOUSEKEEPING] + records[4:])


def write(out, target, name, data):
    if target == "fuzz_event_decoder" and name not in EVENT_DECODER_SEEDS:
        return
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def header_lines(block):
    return b"\n".join(block.split(b"\r\n")[1:]).strip() + b"\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    args = ap.parse_args()
    for target in ("fuzz_http1", "fuzz_http2", "fuzz_trace_context", "fuzz_event_decoder"):
        shutil.rmtree(os.path.join(args.out, target), ignore_errors=True)

    with tempfile.TemporaryDirectory(prefix="tracegap-corpus-") as tmp:
        caps = capture_all(tmp)

    conn_base = 100
    h2_records_for_decoder = []
    for name, (kind, chunks) in sorted(caps.items()):
        if kind == "hop":
            # nginx's own view: the request from curl in (conn 10), upstream out (conn 11).
            front, upstream = chunks
            s = RecordStream((3000, b"curl"), (2000, b"nginx"), 10, (40000, 8080))
            http1_records(front, None, None, 10, None, s)
            s2 = RecordStream((2000, b"nginx"), (4000, b"python3"), 20, (40001, 8000))
            http1_records(upstream, None, None, 20, None, s2)
            # In time order: curl's request reaches nginx before nginx calls upstream.
            recs = s.records[:2] + s2.records + s.records[2:]
            s.close()
            s2.close()
            write(args.out, "fuzz_event_decoder", "nginx_proxy_hop",
                  RECORD_SEPARATOR.join(recs + s.records[-2:] + s2.records[-2:]))
            continue
        if kind == "h1":
            req, methods = http1_header_events(chunks, "c")
            resp, _ = http1_header_events(chunks, "s", methods)
            # Consistent mode, limit 4096 (config 6); one file per direction.
            write(args.out, "fuzz_http1", name + "_requests", script(6, [(0, e) for e in req][:31]))
            write(args.out, "fuzz_http1", name + "_responses", script(6, [(0, e) for e in resp][:31]))
            for block in b"".join(req).split(b"\r\n\r\n")[:1]:
                write(args.out, "fuzz_trace_context", name, header_lines(block))
            s = http1_records(chunks, (1000, b"client"), (2000, name[:15].encode()), conn_base,
                              (41000 + conn_base, 8080))
            s.close()
            write(args.out, "fuzz_event_decoder", name, RECORD_SEPARATOR.join(s.records))
            if name == "node_send_otel":
                write(args.out, "fuzz_event_decoder", "housekeeping_after_loss",
                      with_housekeeping(s.records))
            conn_base += 10
            continue
        if kind == "h2c":
            req, _ = http1_header_events(chunks, "c", stop_at_upgrade=True)
            write(args.out, "fuzz_http1", name, script(6, [(0, e) for e in req][:31]))
            continue
        events = h2_events(chunks)
        # Client = egress, FROM_START on every event (ctl bit 1); default limits (config 0).
        write(args.out, "fuzz_http2", name,
              script(0, [((0 if tag == "c" else 1) | 0x02, data) for tag, data in events]))
        s = RecordStream((1000, b"client"), (2000, name[:15].encode()), conn_base, (42000 + conn_base, 8443))
        for tag, data in events:
            s.add(tag, data, h2=True)
        s.close()
        write(args.out, "fuzz_event_decoder", name, RECORD_SEPARATOR.join(s.records))
        conn_base += 10
        h2_records_for_decoder.append(name)

    # HPACK errors: a valid request first (so the dynamic table is in use), then the bad block.
    for name, block in BAD_BLOCKS.items():
        first = SETTINGS + frame(0x1, 0x5, 1, GOOD_GET)
        bad = frame(0x1, 0x5, 3, block)
        write(args.out, "fuzz_http2", name, script(0, [(0x02, first), (0x02, bad)]))
    # A request, then its response joined late (unsynced), then a loss.
    write(args.out, "fuzz_http2", "unsynced_and_lost",
          script(1, [(0x02, SETTINGS + frame(0x1, 0x5, 1, GOOD_GET)), (0x01, frame(0x1, 0x5, 1, b"\x88")),
                     (0x1e, frame(0x1, 0x5, 5, GOOD_GET))]))

    for name, text in TRACE_CASES.items():
        write(args.out, "fuzz_trace_context", name, text.encode())
    for name, data in bad_records().items():
        write(args.out, "fuzz_event_decoder", name, data)

    # HTTP/1 raw mode (config bit 3) with truncation and loss flags, limit 64 (config 3).
    req = b"GET /a?b=c HTTP/1.1\r\nHost: x\r\ntraceparent: " + TRACEPARENT.encode()
    write(args.out, "fuzz_http1", "raw_truncated_lost",
          script(0x0b, [(0x00, req[:30]), (0x03, req[30:]), (0x04, b"\r\n\r\nHTTP/1.1 200 OK\r\n"),
                        (0x01, b"\r\n")]))

    total = 0
    for target in sorted(os.listdir(args.out)):
        d = os.path.join(args.out, target)
        if not os.path.isdir(d):
            continue
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        total += size
        print(f"make_corpus: {target}: {len(os.listdir(d))} files, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
