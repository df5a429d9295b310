#!/usr/bin/env python3
"""tracegap end-to-end test peer: a single-node Kafka broker STAND-IN (Python 3.11 stdlib only).

    python3 kafka_standin.py --port P [--host 127.0.0.1] [--name NAME] [--partitions N]
                             [--max-version API=V ...] [--log-requests]

No Kafka broker can be run on the test machines (none in Debian, no Maven registry), so this is
the smallest broker that lets the real npm `kafkajs` 2.2.4 client produce and consume with a
consumer group. It speaks the real Kafka wire protocol (request header v1, response header v0,
only NON-flexible versions: kafkajs 2.2.4 implements no flexible version) on HOST:PORT and prints
"ready" on stdout once listening. SIGTERM/SIGINT: exit 0.

Process name: the comm (/proc/PID/comm) is set to NAME (default "tg-kafka", at most 15 bytes)
with prctl(PR_SET_NAME) on the main thread. All socket I/O runs on that one thread (asyncio, and
the listening socket is created by hand so no getaddrinfo executor thread is ever started), so
every read and write of the broker is made by a thread named NAME.

One broker (node id 1, 127.0.0.1:PORT, rack null, cluster id "tg-kafka-standin"), which is also
the controller and every group's coordinator. No replication, no transactions, no quotas, no
authentication, nothing on disk: all state lives in memory and dies with the process.

APIs and versions (ApiVersions advertises exactly these ranges; kafkajs always picks
min(its max, our max), so by default it uses the LAST version of each range):

    ApiVersions 0..2   Metadata 1..6      Produce 3..7       Fetch 4..11      ListOffsets 1..3
    FindCoordinator 0..2   JoinGroup 0..5   SyncGroup 0..3   Heartbeat 0..3   LeaveGroup 0..3
    OffsetFetch 1..4   OffsetCommit 2..5

--max-version API=V (repeatable; API is a name above or a numeric api key) lowers the advertised
maximum, e.g. --max-version Produce=3 makes kafkajs produce with v3. A request with a version
outside the (capped) range, or an api key not listed, closes the connection (as Kafka does);
ApiVersions with an unsupported version is answered in v0 with UNSUPPORTED_VERSION (35).

Topics: created on demand by Metadata (when the request allows auto-creation: always in v1..v3,
allow_auto_topic_creation in v4+), with --partitions partitions each (default 1), leader = this
broker. Names must match [a-zA-Z0-9._-]{1,249} (else INVALID_TOPIC_EXCEPTION). Produce/Fetch/
ListOffsets on an unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION.

Produce: every record batch of the record set (magic 2 only; else CORRUPT_MESSAGE) is stored AS IS
per topic-partition except its baseOffset (bytes 0..7), which is rewritten to the partition's log
end offset; the log end offset then advances by lastOffsetDelta + 1. The batch CRC-32C covers only
the bytes from `attributes` onwards (not baseOffset, batchLength, partitionLeaderEpoch, magic), so
no CRC is recomputed. Compressed batches are stored untouched as well (the consumer decompresses).
acks must be -1, 0 or 1 (else INVALID_REQUIRED_ACKS); with acks 0 no response is sent, as in Kafka.
Everything is "committed" at once (high watermark = last stable offset = log end offset).

Fetch: sessionless (session_id 0 in responses), read_committed == read_uncommitted (no aborted
transactions, empty list). From fetch_offset, whole stored batches starting with the one that
contains fetch_offset, up to partition_max_bytes and the request's max_bytes, but always at least
one batch for the first partition that has data (KIP-74). fetch_offset past the log end (or < 0):
OFFSET_OUT_OF_RANGE. If less than min_bytes is available the response is held until a Produce
adds data to one of the fetched partitions or max_wait_ms passes (long poll, as in Kafka).

Consumer groups: the Kafka group protocol, simplified. JoinGroup v4+ with an empty member id
first gets MEMBER_ID_REQUIRED with a fresh id (KIP-394, as Kafka >= 2.2). A join starts a
rebalance; it completes as soon as every current member has (re)joined (no initial delay), or
after the largest rebalance timeout, dropping members that did not rejoin. The first member is the
leader and gets every member's metadata; as in Kafka, the LEADER computes the assignment (kafkajs:
its RoundRobinAssigner, MemberAssignment = version int16, [topic string, [partition int32]],
userData bytes) and sends it in SyncGroup; the coordinator stores it and hands each member its own
bytes (empty bytes for a member with nothing assigned, which kafkajs decodes as "no partitions").
Heartbeat / SyncGroup / OffsetCommit: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS
as in Kafka's GroupCoordinator (a heartbeat during a rebalance answers REBALANCE_IN_PROGRESS, which
makes the member rejoin; offsets can still be committed then, but not between JoinGroup and
SyncGroup). LeaveGroup, or no heartbeat for session_timeout_ms, removes a member and rebalances the
rest. OffsetCommit/OffsetFetch store and return committed offsets per group (-1 when none;
generation -1 with an empty member id commits without membership).

--log-requests: one line per request on stderr,
    req conn=C api=NAME key=K v=V corr=N client=CLIENT_ID
(tests/e2e/kafka_peers.py reads them to report which versions a client used). Protocol errors and
dropped connections are always logged on stderr.
"""
import argparse
import asyncio
import bisect
import ctypes
import itertools
import os
import re
import signal
import socket
import struct
import sys
import time
import uuid

NODE_ID = 1
CLUSTER_ID = "tg-kafka-standin"
MAX_FRAME = 100 * 1024 * 1024
TOPIC_RE = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")

# Error codes (org.apache.kafka.common.protocol.Errors)
NONE = 0
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
INVALID_REQUIRED_ACKS = 21
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27
UNSUPPORTED_VERSION = 35
MEMBER_ID_REQUIRED = 79

RECORD_BATCH_OVERHEAD = 61  # baseOffset .. recordCount of a v2 record batch


def set_comm(name):
    """prctl(PR_SET_NAME, name): the calling thread's comm (15 bytes at most)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME = 15
    except (OSError, AttributeError) as e:
        log(f"warning: cannot set the process name: {e}")


def log(msg):
    sys.stderr.write(f"kafka-standin: {msg}\n")
    sys.stderr.flush()


class ProtocolError(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# Primitive types (non-flexible encodings only)

class Reader:
    def __init__(self, buf, pos=0):
        self.buf = buf
        self.pos = pos

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise ProtocolError(f"truncated request (need {n} bytes at {self.pos} of {len(self.buf)})")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def _unpack(self, fmt, n):
        return struct.unpack(fmt, self._take(n))[0]

    def int8(self):
        return self._unpack(">b", 1)

    def int16(self):
        return self._unpack(">h", 2)

    def int32(self):
        return self._unpack(">i", 4)

    def int64(self):
        return self._unpack(">q", 8)

    def boolean(self):
        return self.int8() != 0

    def nstring(self):
        n = self.int16()
        return None if n < 0 else self._take(n).decode("utf-8", "replace")

    def string(self):
        s = self.nstring()
        if s is None:
            raise ProtocolError("null where a STRING is required")
        return s

    def nbytes(self):
        n = self.int32()
        return None if n < 0 else bytes(self._take(n))

    def array(self, item):
        """[item] (None for a null array)."""
        n = self.int32()
        if n < 0:
            return None
        if n > len(self.buf) - self.pos:
            raise ProtocolError(f"bad array length {n}")
        return [item(self) for _ in range(n)]


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def boolean(v):
    return b"\x01" if v else b"\x00"


def nstring(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def nbytes(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + bytes(b)


def array(items, enc):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


# ------------------------------------------------------------------------------------------------
# Log

class Partition:
    def __init__(self):
        self.batches = []  # [(base_offset, last_offset, max_timestamp, bytes)]
        self.ends = []  # last_offset of each batch (for bisect)
        self.sizes = [0]  # sizes[i] = total bytes of batches[:i]
        self.log_end = 0
        self.log_start = 0

    def append(self, record_set):
        """Stores every batch of record_set with rewritten base offsets. Returns (error, base_offset)."""
        batches = []
        pos = 0
        while pos < len(record_set):
            if len(record_set) - pos < RECORD_BATCH_OVERHEAD:
                return CORRUPT_MESSAGE, -1
            length = struct.unpack_from(">i", record_set, pos + 8)[0]
            size = 12 + length
            if length < RECORD_BATCH_OVERHEAD - 12 or pos + size > len(record_set):
                return CORRUPT_MESSAGE, -1
            if record_set[pos + 16] != 2:  # magic
                return CORRUPT_MESSAGE, -1
            last_delta = struct.unpack_from(">i", record_set, pos + 23)[0]
            max_ts = struct.unpack_from(">q", record_set, pos + 35)[0]
            if last_delta < 0:
                return CORRUPT_MESSAGE, -1
            batches.append((bytearray(record_set[pos:pos + size]), last_delta, max_ts))
            pos += size
        if not batches:
            return CORRUPT_MESSAGE, -1
        first = self.log_end
        for batch, last_delta, max_ts in batches:
            base = self.log_end
            struct.pack_into(">q", batch, 0, base)  # baseOffset: not covered by the CRC-32C
            self.batches.append((base, base + last_delta, max_ts, bytes(batch)))
            self.ends.append(base + last_delta)
            self.sizes.append(self.sizes[-1] + len(batch))
            self.log_end = base + last_delta + 1
        return NONE, first

    def read(self, offset, max_bytes, at_least_one):
        """Whole batches from the one containing `offset`, within max_bytes (at least one if
        at_least_one). Returns bytes."""
        out = []
        total = 0
        for i in range(bisect.bisect_left(self.ends, offset), len(self.batches)):
            data = self.batches[i][3]
            if total + len(data) > max_bytes and not (at_least_one and not out):
                break
            out.append(data)
            total += len(data)
        return b"".join(out)

    def available(self, offset):
        """Bytes of the whole batches from the one containing `offset` on."""
        return self.sizes[-1] - self.sizes[bisect.bisect_left(self.ends, offset)]

    def offset_for_time(self, ts):
        for base, _last, max_ts, _data in self.batches:
            if max_ts >= ts:
                return base
        return None


# ------------------------------------------------------------------------------------------------
# Consumer groups

class Member:
    def __init__(self, member_id, client_id, client_host):
        self.id = member_id
        self.client_id = client_id
        self.client_host = client_host
        self.group_instance_id = None
        self.session_timeout = 10000
        self.rebalance_timeout = 10000
        self.protocol_type = ""
        self.protocols = []  # [(name, metadata)]
        self.join_future = None
        self.sync_future = None
        self.assignment = b""
        self.last_seen = time.monotonic()


class Group:
    def __init__(self, group_id):
        self.id = group_id
        self.state = "Empty"
        self.generation = 0
        self.protocol_type = None
        self.protocol = None
        self.leader = None
        self.members = {}  # member_id -> Member (insertion order)
        self.pending_ids = set()  # handed out with MEMBER_ID_REQUIRED, not joined yet
        self.offsets = {}  # (topic, partition) -> (offset, metadata)
        self.timer = None


# ------------------------------------------------------------------------------------------------
# The broker

APIS = {
    # key: (name, min, max)
    0: ("Produce", 3, 7),
    1: ("Fetch", 4, 11),
    2: ("ListOffsets", 1, 3),
    3: ("Metadata", 1, 6),
    8: ("OffsetCommit", 2, 5),
    9: ("OffsetFetch", 1, 4),
    10: ("FindCoordinator", 0, 2),
    11: ("JoinGroup", 0, 5),
    12: ("Heartbeat", 0, 3),
    13: ("LeaveGroup", 0, 3),
    14: ("SyncGroup", 0, 3),
    18: ("ApiVersions", 0, 2),
}


class Broker:
    def __init__(self, host, port, partitions, versions, log_requests):
        self.host = host
        self.port = port
        self.partitions = partitions
        self.versions = versions  # key -> (min, max)
        self.log_requests = log_requests
        self.topics = {}  # name -> [Partition]
        self.groups = {}
        self.data_event = asyncio.Event()
        self.conn_ids = itertools.count(1)
        self.writers = set()

    # ---- connections ---------------------------------------------------------------------------

    async def serve_conn(self, reader, writer):
        conn = next(self.conn_ids)
        self.writers.add(writer)
        peer = writer.get_extra_info("peername")
        client_host = f"/{peer[0]}" if peer else "/127.0.0.1"
        try:
            while True:
                try:
                    head = await reader.readexactly(4)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                size = struct.unpack(">i", head)[0]
                if size < 8 or size > MAX_FRAME:
                    log(f"conn={conn}: bad frame size {size}, closing")
                    return
                body = await reader.readexactly(size)
                r = Reader(body)
                api_key, api_version, corr = r.int16(), r.int16(), r.int32()
                client_id = r.nstring()
                name = APIS.get(api_key, (f"api{api_key}",))[0]
                if self.log_requests:
                    log(f"req conn={conn} api={name} key={api_key} v={api_version} corr={corr} "
                        f"client={client_id}")
                resp = await self.dispatch(conn, api_key, api_version, client_id, client_host, r)
                if resp is None:  # acks=0 produce
                    continue
                if resp is False:
                    return
                frame = i32(4 + len(resp)) + i32(corr) + resp
                writer.write(frame)
                await writer.drain()
        except ProtocolError as e:
            log(f"conn={conn}: protocol error: {e}; closing")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    async def dispatch(self, conn, key, version, client_id, client_host, r):
        if key == 18 and not (self.versions[18][0] <= version <= self.versions[18][1]):
            # Kafka answers an unsupported ApiVersions version in v0 with UNSUPPORTED_VERSION.
            return self.api_versions_body(0, UNSUPPORTED_VERSION)
        if key not in self.versions:
            log(f"conn={conn}: unsupported api key {key} (v{version}); closing")
            return False
        lo, hi = self.versions[key]
        if not lo <= version <= hi:
            log(f"conn={conn}: unsupported {APIS[key][0]} v{version} (supported {lo}..{hi}); closing")
            return False
        handler = getattr(self, "h_" + APIS[key][0])
        return await handler(version, r, client_id=client_id, client_host=client_host)

    # ---- ApiVersions (18) ------------------------------------------------------------------------

    def api_versions_body(self, version, error=NONE):
        out = i16(error) + array(sorted(self.versions.items()),
                                 lambda kv: i16(kv[0]) + i16(kv[1][0]) + i16(kv[1][1]))
        if version >= 1:
            out += i32(0)
        return out

    async def h_ApiVersions(self, v, r, **_):
        return self.api_versions_body(v)

    # ---- Metadata (3) ----------------------------------------------------------------------------

    def topic(self, name, create):
        t = self.topics.get(name)
        if t is None and create and TOPIC_RE.match(name) and name not in (".", ".."):
            t = self.topics[name] = [Partition() for _ in range(self.partitions)]
            log(f"created topic {name!r} ({self.partitions} partition(s))")
        return t

    async def h_Metadata(self, v, r, **_):
        names = r.array(lambda r: r.string())
        allow_create = r.boolean() if v >= 4 else True
        if names is None:
            names = list(self.topics)
        out = b""
        if v >= 3:
            out += i32(0)  # throttle_time_ms
        out += array([None], lambda _: i32(NODE_ID) + nstring(self.host) + i32(self.port) + nstring(None))
        if v >= 2:
            out += nstring(CLUSTER_ID)
        out += i32(NODE_ID)  # controller_id

        def enc_topic(name):
            parts = self.topic(name, allow_create)
            if parts is None:
                err = INVALID_TOPIC_EXCEPTION if not TOPIC_RE.match(name) else UNKNOWN_TOPIC_OR_PARTITION
                return i16(err) + nstring(name) + boolean(False) + array([], None)

            def enc_part(i):
                p = i16(NONE) + i32(i) + i32(NODE_ID) + array([NODE_ID], i32) + array([NODE_ID], i32)
                if v >= 5:
                    p += array([], i32)  # offline_replicas
                return p
            return i16(NONE) + nstring(name) + boolean(False) + array(list(range(len(parts))), enc_part)
        out += array(names, enc_topic)
        return out

    # ---- Produce (0) -----------------------------------------------------------------------------

    async def h_Produce(self, v, r, **_):
        r.nstring()  # transactional_id (no transactions: ignored)
        acks = r.int16()
        r.int32()  # timeout_ms
        topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.int32(), r.nbytes()))))
        results = []
        appended = False
        for name, parts in topics or []:
            res = []
            for index, records in parts or []:
                t = self.topics.get(name)
                if acks not in (-1, 0, 1):
                    res.append((index, INVALID_REQUIRED_ACKS, -1))
                elif t is None or not 0 <= index < len(t):
                    res.append((index, UNKNOWN_TOPIC_OR_PARTITION, -1))
                elif records is None:
                    res.append((index, CORRUPT_MESSAGE, -1))
                else:
                    err, base = t[index].append(records)
                    appended = appended or err == NONE
                    res.append((index, err, base))
            results.append((name, res))
        if appended:
            self.data_event.set()
            self.data_event = asyncio.Event()
        if acks == 0:
            return None

        def enc_part(p):
            index, err, base = p
            out = i32(index) + i16(err) + i64(base) + i64(-1)  # log_append_time: -1 (CreateTime)
            if v >= 5:
                out += i64(0)  # log_start_offset
            return out
        return array(results, lambda t: nstring(t[0]) + array(t[1], enc_part)) + i32(0)

    # ---- Fetch (1) -------------------------------------------------------------------------------

    async def h_Fetch(self, v, r, **_):
        r.int32()  # replica_id
        max_wait = max(0, r.int32())
        min_bytes = r.int32()
        max_bytes = r.int32()
        r.int8()  # isolation_level (no transactions: both levels read the same)
        if v >= 7:
            r.int32()  # session_id
            r.int32()  # session_epoch

        def part(r):
            index = r.int32()
            if v >= 9:
                r.int32()  # current_leader_epoch
            offset = r.int64()
            if v >= 5:
                r.int64()  # log_start_offset (followers only)
            return index, offset, r.int32()
        topics = r.array(lambda r: (r.string(), r.array(part))) or []
        if v >= 7:
            r.array(lambda r: (r.string(), r.array(lambda r: r.int32())))  # forgotten_topics_data
        if v >= 11:
            r.string()  # rack_id

        deadline = time.monotonic() + max_wait / 1000.0
        while True:
            event = self.data_event
            avail, errors = 0, False
            for name, parts in topics:
                t = self.topics.get(name)
                for index, offset, _pmax in parts or []:
                    if t is None or not 0 <= index < len(t) or not 0 <= offset <= t[index].log_end:
                        errors = True
                    else:
                        avail += t[index].available(offset)
            remaining = deadline - time.monotonic()
            if errors or avail >= max(min_bytes, 1) or (min_bytes <= 0) or remaining <= 0:
                break
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                pass

        budget = max_bytes if max_bytes > 0 else 0x7FFFFFFF
        first = True

        def enc_part(t, p):
            nonlocal budget, first
            index, offset, pmax = p
            records = b""
            hw = -1
            if t is None or not 0 <= index < len(t):
                err = UNKNOWN_TOPIC_OR_PARTITION
            else:
                plog = t[index]
                hw = plog.log_end
                if not 0 <= offset <= plog.log_end:
                    err = OFFSET_OUT_OF_RANGE
                else:
                    err = NONE
                    records = plog.read(offset, min(pmax, budget), first)
                    if records:
                        budget = max(0, budget - len(records))
                        first = False
            out = i32(index) + i16(err) + i64(hw) + i64(hw)  # high_watermark, last_stable_offset
            if v >= 5:
                out += i64(0 if hw >= 0 else -1)  # log_start_offset
            out += array([], None)  # aborted_transactions
            if v >= 11:
                out += i32(-1)  # preferred_read_replica
            return out + nbytes(records)

        def enc_topic(tp):
            name, parts = tp
            t = self.topics.get(name)
            return nstring(name) + array(parts or [], lambda p: enc_part(t, p))

        out = i32(0)  # throttle_time_ms
        if v >= 7:
            out += i16(NONE) + i32(0)  # error_code, session_id (no fetch sessions)
        return out + array(topics, enc_topic)

    # ---- ListOffsets (2) -------------------------------------------------------------------------

    async def h_ListOffsets(self, v, r, **_):
        r.int32()  # replica_id
        if v >= 2:
            r.int8()  # isolation_level
        topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.int32(), r.int64())))) or []

        def enc(name):
            def enc_part(p):
                index, ts = p
                t = self.topics.get(name)
                if t is None or not 0 <= index < len(t):
                    return i32(index) + i16(UNKNOWN_TOPIC_OR_PARTITION) + i64(-1) + i64(-1)
                log_ = t[index]
                if ts == -1:
                    off, rts = log_.log_end, -1
                elif ts == -2:
                    off, rts = log_.log_start, -1
                else:
                    off = log_.offset_for_time(ts)
                    rts = ts if off is not None else -1
                    off = -1 if off is None else off
                return i32(index) + i16(NONE) + i64(rts) + i64(off)
            return enc_part
        out = i32(0) if v >= 2 else b""
        return out + array(topics, lambda t: nstring(t[0]) + array(t[1] or [], enc(t[0])))

    # ---- FindCoordinator (10) --------------------------------------------------------------------

    async def h_FindCoordinator(self, v, r, **_):
        r.string()  # key (group id)
        if v >= 1:
            r.int8()  # key_type (0 group, 1 transaction): this broker either way
        out = b""
        if v >= 1:
            out += i32(0) + i16(NONE) + nstring(None)
        else:
            out += i16(NONE)
        return out + i32(NODE_ID) + nstring(self.host) + i32(self.port)

    # ---- groups ----------------------------------------------------------------------------------

    def group(self, group_id):
        g = self.groups.get(group_id)
        if g is None:
            g = self.groups[group_id] = Group(group_id)
        return g

    def prepare_rebalance(self, g):
        if g.state == "PreparingRebalance":
            return
        g.state = "PreparingRebalance"
        for m in g.members.values():  # members waiting in SyncGroup must rejoin
            if m.sync_future is not None and not m.sync_future.done():
                m.sync_future.set_result(REBALANCE_IN_PROGRESS)
            m.sync_future = None
        timeout = max((m.rebalance_timeout for m in g.members.values()), default=10000) / 1000.0
        if g.timer is not None:
            g.timer.cancel()
        g.timer = asyncio.get_running_loop().call_later(timeout, self.rebalance_timeout, g)

    def rebalance_timeout(self, g):
        g.timer = None
        if g.state != "PreparingRebalance":
            return
        for mid in [mid for mid, m in g.members.items() if m.join_future is None]:
            log(f"group {g.id!r}: member {mid} did not rejoin in time: removed")
            del g.members[mid]
        self.complete_join(g)

    def try_complete_join(self, g):
        if g.state == "PreparingRebalance" and all(m.join_future is not None for m in g.members.values()):
            self.complete_join(g)

    def complete_join(self, g):
        if g.timer is not None:
            g.timer.cancel()
            g.timer = None
        g.generation += 1
        if not g.members:
            g.state, g.leader, g.protocol, g.protocol_type = "Empty", None, None, None
            return
        if g.leader not in g.members:
            g.leader = next(iter(g.members))
        leader = g.members[g.leader]
        common = set.intersection(*({n for n, _ in m.protocols} for m in g.members.values()))
        g.protocol = next((n for n, _ in leader.protocols if n in common), None)
        g.state = "CompletingRebalance"
        for m in g.members.values():
            m.assignment = b""
            members = []
            if m.id == g.leader:
                members = [(x.id, x.group_instance_id, dict(x.protocols).get(g.protocol, b""))
                           for x in g.members.values()]
            fut, m.join_future = m.join_future, None
            if fut is not None and not fut.done():
                fut.set_result((NONE, g.generation, g.protocol, g.leader, m.id, members))
        log(f"group {g.id!r}: generation {g.generation}, protocol {g.protocol!r}, "
            f"leader {g.leader}, {len(g.members)} member(s)")

    def remove_member(self, g, mid, why):
        m = g.members.pop(mid, None)
        if m is None:
            return
        log(f"group {g.id!r}: member {mid} {why}")
        for fut in (m.join_future, m.sync_future):
            if fut is not None and not fut.done():
                fut.set_result(UNKNOWN_MEMBER_ID)
        if not g.members:
            if g.timer is not None:
                g.timer.cancel()
                g.timer = None
            g.state, g.leader = "Empty", None
        elif g.state == "PreparingRebalance":
            self.try_complete_join(g)
        else:
            self.prepare_rebalance(g)

    async def expire_members(self):
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for g in list(self.groups.values()):
                for m in list(g.members.values()):
                    if m.join_future is None and now - m.last_seen > m.session_timeout / 1000.0:
                        self.remove_member(g, m.id, "session timed out")

    async def h_JoinGroup(self, v, r, client_id=None, client_host=None, **_):
        group_id = r.string()
        session_timeout = r.int32()
        rebalance_timeout = r.int32() if v >= 1 else session_timeout
        member_id = r.string()
        instance_id = r.nstring() if v >= 5 else None
        protocol_type = r.string()
        protocols = r.array(lambda r: (r.string(), r.nbytes() or b"")) or []

        def resp(err, gen=-1, proto="", leader="", mid="", members=()):
            out = i32(0) if v >= 2 else b""
            out += i16(err) + i32(gen) + nstring(proto or "") + nstring(leader or "") + nstring(mid or "")

            def enc_m(x):
                e = nstring(x[0])
                if v >= 5:
                    e += nstring(x[1])
                return e + nbytes(x[2])
            return out + array(list(members), enc_m)

        if not group_id:
            return resp(INVALID_GROUP_ID)
        g = self.group(group_id)
        others = [m for mid, m in g.members.items() if mid != member_id]
        if not protocols or (others and protocol_type != g.protocol_type):
            return resp(INCONSISTENT_GROUP_PROTOCOL, mid=member_id)
        if others:
            common = set.intersection(*({n for n, _ in m.protocols} for m in others))
            if not common & {n for n, _ in protocols}:
                return resp(INCONSISTENT_GROUP_PROTOCOL, mid=member_id)
        if member_id == "":
            member_id = f"{client_id or 'client'}-{uuid.uuid4()}"
            if v >= 4:
                g.pending_ids.add(member_id)
                return resp(MEMBER_ID_REQUIRED, mid=member_id)
        elif member_id in g.pending_ids:
            g.pending_ids.discard(member_id)
        elif member_id not in g.members:
            return resp(UNKNOWN_MEMBER_ID, mid=member_id)
        m = g.members.get(member_id)
        if m is None:
            m = g.members[member_id] = Member(member_id, client_id, client_host)
        m.group_instance_id = instance_id
        m.session_timeout = session_timeout
        m.rebalance_timeout = rebalance_timeout
        m.protocols = protocols
        m.last_seen = time.monotonic()
        g.protocol_type = protocol_type
        fut = asyncio.get_running_loop().create_future()
        if m.join_future is not None and not m.join_future.done():
            m.join_future.set_result(UNKNOWN_MEMBER_ID)  # superseded by this join
        m.join_future = fut
        self.prepare_rebalance(g)
        self.try_complete_join(g)
        res = await fut
        m.last_seen = time.monotonic()
        if isinstance(res, int):
            return resp(res, mid=member_id)
        return resp(*res)

    async def h_SyncGroup(self, v, r, **_):
        group_id = r.string()
        generation = r.int32()
        member_id = r.string()
        if v >= 3:
            r.nstring()  # group_instance_id
        assignments = r.array(lambda r: (r.string(), r.nbytes() or b"")) or []

        def resp(err, assignment=b""):
            return (i32(0) if v >= 1 else b"") + i16(err) + nbytes(assignment)

        g = self.groups.get(group_id)
        m = g.members.get(member_id) if g else None
        if m is None:
            return resp(UNKNOWN_MEMBER_ID)
        m.last_seen = time.monotonic()
        if generation != g.generation:
            return resp(ILLEGAL_GENERATION)
        if g.state == "PreparingRebalance":
            return resp(REBALANCE_IN_PROGRESS)
        if g.state == "Stable":
            return resp(NONE, m.assignment)
        # CompletingRebalance
        if member_id == g.leader:
            given = dict(assignments)
            for x in g.members.values():
                x.assignment = given.get(x.id, b"")
            g.state = "Stable"
            for x in g.members.values():
                if x.sync_future is not None and not x.sync_future.done():
                    x.sync_future.set_result(NONE)
                x.sync_future = None
            return resp(NONE, m.assignment)
        fut = m.sync_future = asyncio.get_running_loop().create_future()
        err = await fut
        m.last_seen = time.monotonic()
        return resp(err, m.assignment if err == NONE else b"")

    async def h_Heartbeat(self, v, r, **_):
        group_id = r.string()
        generation = r.int32()
        member_id = r.string()
        if v >= 3:
            r.nstring()
        g = self.groups.get(group_id)
        m = g.members.get(member_id) if g else None
        if m is None:
            err = UNKNOWN_MEMBER_ID
        else:
            m.last_seen = time.monotonic()
            if generation != g.generation:
                err = ILLEGAL_GENERATION
            elif g.state == "PreparingRebalance":
                err = REBALANCE_IN_PROGRESS
            else:
                err = NONE
        return (i32(0) if v >= 1 else b"") + i16(err)

    async def h_LeaveGroup(self, v, r, **_):
        group_id = r.string()
        if v >= 3:
            members = r.array(lambda r: (r.string(), r.nstring())) or []
        else:
            members = [(r.string(), None)]
        g = self.groups.get(group_id)
        results = []
        for mid, inst in members:
            if g is not None and mid in g.members:
                self.remove_member(g, mid, "left the group")
                results.append((mid, inst, NONE))
            else:
                results.append((mid, inst, UNKNOWN_MEMBER_ID))
        if v >= 3:
            return i32(0) + i16(NONE) + array(results, lambda x: nstring(x[0]) + nstring(x[1]) + i16(x[2]))
        return (i32(0) if v >= 1 else b"") + i16(results[0][2])

    async def h_OffsetCommit(self, v, r, **_):
        group_id = r.string()
        generation = r.int32()
        member_id = r.string()
        if v <= 4:
            r.int64()  # retention_time_ms
        topics = r.array(lambda r: (r.string(), r.array(
            lambda r: (r.int32(), r.int64(), r.nstring())))) or []
        g = self.group(group_id)
        if generation < 0 and member_id == "" and not g.members:
            err = NONE  # a commit without group membership
        elif member_id not in g.members:
            err = UNKNOWN_MEMBER_ID
        elif generation != g.generation:
            err = ILLEGAL_GENERATION
        elif g.state == "CompletingRebalance":
            err = REBALANCE_IN_PROGRESS
        else:  # Stable, or PreparingRebalance (allowed, as in Kafka: the heartbeat tells of it)
            err = NONE
            g.members[member_id].last_seen = time.monotonic()

        def enc(t):
            name, parts = t

            def enc_part(p):
                index, offset, meta = p
                e = err
                if e == NONE:
                    tp = self.topics.get(name)
                    if tp is None or not 0 <= index < len(tp):
                        e = UNKNOWN_TOPIC_OR_PARTITION
                    else:
                        g.offsets[(name, index)] = (offset, meta)
                return i32(index) + i16(e)
            return nstring(name) + array(parts or [], enc_part)
        return (i32(0) if v >= 3 else b"") + array(topics, enc)

    async def h_OffsetFetch(self, v, r, **_):
        group_id = r.string()
        topics = r.array(lambda r: (r.string(), r.array(lambda r: r.int32())))
        g = self.groups.get(group_id)
        offsets = g.offsets if g else {}
        if topics is None:  # v2+: every committed offset of the group
            by_topic = {}
            for (name, index) in sorted(offsets):
                by_topic.setdefault(name, []).append(index)
            topics = list(by_topic.items())

        def enc(t):
            name, parts = t

            def enc_part(index):
                off, meta = offsets.get((name, index), (-1, ""))
                return i32(index) + i64(off) + nstring(meta) + i16(NONE)
            return nstring(name) + array(parts or [], enc_part)
        out = (i32(0) if v >= 3 else b"") + array(topics, enc)
        if v >= 2:
            out += i16(NONE)
        return out


# ------------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(prog="kafka_standin.py", description="single-node Kafka stand-in")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--name", default="tg-kafka")
    p.add_argument("--partitions", type=int, default=1)
    p.add_argument("--max-version", action="append", default=[], metavar="API=V")
    p.add_argument("--log-requests", action="store_true")
    a = p.parse_args(argv)
    if not 0 <= a.port <= 65535:
        p.error(f"bad --port {a.port}")
    if not 1 <= a.partitions <= 1000:
        p.error(f"bad --partitions {a.partitions}")
    if len(a.name.encode()) > 15:
        log(f"warning: comm is limited to 15 bytes; {a.name!r} will be truncated")
    versions = {k: (lo, hi) for k, (_n, lo, hi) in APIS.items()}
    by_name = {n.lower(): k for k, (n, _lo, _hi) in APIS.items()}
    for spec in a.max_version:
        api, _, ver = spec.partition("=")
        key = int(api) if api.isdigit() else by_name.get(api.lower())
        if key not in versions or not ver.isdigit():
            p.error(f"bad --max-version {spec!r} (API is one of {', '.join(n for n, _, _ in APIS.values())})")
        lo, hi = versions[key]
        if not lo <= int(ver) <= hi:
            p.error(f"bad --max-version {spec!r}: {APIS[key][0]} supports {lo}..{hi}")
        versions[key] = (lo, int(ver))
    a.versions = versions
    return a


async def main(a):
    set_comm(a.name)
    broker = Broker(a.host, a.port, a.partitions, a.versions, a.log_requests)
    sock = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.host, a.port))
    sock.listen(128)
    sock.setblocking(False)
    if a.port == 0:
        broker.port = sock.getsockname()[1]
    server = await asyncio.start_server(broker.serve_conn, sock=sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    expirer = asyncio.create_task(broker.expire_members())
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await stop.wait()
    expirer.cancel()
    server.close()
    for w in list(broker.writers):
        w.close()


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    try:
        asyncio.run(main(args))
    except OSError as e:
        log(f"error: {e}")
        sys.exit(1)
    sys.exit(0)
