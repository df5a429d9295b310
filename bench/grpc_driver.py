#!/usr/bin/python3
"""gRPC unary load for bench/run.py: a server and a client, python3-grpcio only (no protoc).

Both sides use generic handlers with raw-bytes messages (no (de)serializers), on an insecure
channel on 127.0.0.1. The method is /tracegap.bench.Echo/Call; the reply is a fixed 2-byte
payload.

  grpc_driver.py server --port P
      serves until SIGINT/SIGTERM; prints "listening P" once ready.
  grpc_driver.py client --port P --duration S [--concurrency N] [--rate R] [--max-calls M]
      N concurrent callers for at most S seconds (and at most M calls); with --rate, the callers
      are paced to R calls/s in total. Prints one JSON line: calls, errors, seconds, rate,
      p50_us, p99_us (latency of each call, measured around the call).

Every run is bounded in time and count; it only ever talks to 127.0.0.1.
"""
import argparse
import asyncio
import json
import signal
import sys
import time

import grpc
from grpc import aio

METHOD = "/tracegap.bench.Echo/Call"
REPLY = b"ok"


async def serve(port):
    server = aio.server(options=[("grpc.so_reuseport", 0)])

    async def call(request, context):
        return REPLY

    handler = grpc.method_handlers_generic_handler(
        "tracegap.bench.Echo", {"Call": grpc.unary_unary_rpc_method_handler(call)})
    server.add_generic_rpc_handlers((handler,))
    if server.add_insecure_port(f"127.0.0.1:{port}") != port:
        print(f"grpc_driver: cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        sys.exit(1)
    await server.start()
    print(f"listening {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    await server.stop(0.5)


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


async def client(port, duration, concurrency, rate, max_calls, payload):
    latencies = []
    errors = 0
    calls = 0
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = channel.unary_unary(METHOD)
        # One warm-up call: connection set-up is not part of the measurement.
        await stub(payload, timeout=10)
        start = time.perf_counter()
        deadline = start + duration
        period = concurrency / rate if rate else 0.0

        async def caller(k):
            nonlocal calls, errors
            next_at = start + (k * period / concurrency if period else 0.0)
            while True:
                now = time.perf_counter()
                if now >= deadline or calls >= max_calls:
                    return
                if period:
                    if next_at > now:
                        await asyncio.sleep(next_at - now)
                        if time.perf_counter() >= deadline:
                            return
                    next_at = max(next_at + period, time.perf_counter() - period)
                calls += 1
                t0 = time.perf_counter_ns()
                try:
                    await stub(payload, timeout=10)
                    latencies.append((time.perf_counter_ns() - t0) / 1000.0)
                except grpc.RpcError:
                    errors += 1

        await asyncio.gather(*(caller(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    ok = len(latencies)
    return {"calls": ok, "errors": errors, "seconds": elapsed, "rate": ok / elapsed if elapsed else 0.0,
            "p50_us": percentile(latencies, 0.50), "p99_us": percentile(latencies, 0.99)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("client")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--duration", type=float, required=True)
    c.add_argument("--concurrency", type=int, default=16)
    c.add_argument("--rate", type=float, default=0.0, help="calls/s in total (0: as fast as possible)")
    c.add_argument("--max-calls", type=int, default=5_000_000)
    c.add_argument("--payload-bytes", type=int, default=16)
    a = ap.parse_args()
    if a.mode == "server":
        asyncio.run(serve(a.port))
    else:
        if a.duration <= 0 or a.duration > 600:
            ap.error("--duration must be in (0, 600]")
        res = asyncio.run(client(a.port, a.duration, a.concurrency, a.rate, a.max_calls, b"x" * a.payload_bytes))
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
