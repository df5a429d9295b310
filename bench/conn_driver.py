#!/usr/bin/python3
"""Connection-scale load for bench/run.py (section "scale"), HTTP/1.1 on 127.0.0.1 only.

  conn_driver.py hold --port P --conns N [--hold-seconds S]
      Opens N keep-alive connections (at most --connect-concurrency connecting at once), sends one
      GET on each and reads its response, then prints "open N" and holds them all until a line
      arrives on stdin or S seconds pass. Then sends a second GET on every connection (keep-alive
      still works), closes them all and prints one JSON line (opened, ok, errors, seconds).
      Raises RLIMIT_NOFILE to what N needs.
  conn_driver.py short --port P --total N [--concurrency C] [--deadline S]
      N short connections, C at a time: connect, one GET with "Connection: close", read to EOF,
      close. Stops at N or after S seconds, whichever is first. Prints one JSON line (done,
      errors, seconds, rate).

The server closes first in "short" (Connection: close), so TIME_WAIT stays on the server side and
the client's ephemeral ports are free again at once.
"""
import argparse
import asyncio
import json
import resource
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: tg-bench\r\n\r\n"
REQUEST_CLOSE = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: tg-bench\r\nConnection: close\r\n\r\n"


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            hard = want  # root may raise the hard limit (up to fs.nr_open)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ValueError(head[:40])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)


async def hold(port, n, concurrency, hold_seconds):
    raise_nofile(n)
    sem = asyncio.Semaphore(concurrency)
    conns = []
    errors = 0
    start = time.monotonic()

    async def open_one():
        nonlocal errors
        async with sem:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
                w.write(REQUEST)
                await asyncio.wait_for(read_response(r), 10)
                conns.append((r, w))
            except (OSError, ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                errors += 1
                if errors <= 3:
                    print(f"conn_driver: open failed: {e!r}", file=sys.stderr)

    await asyncio.gather(*(open_one() for _ in range(n)))
    opened = len(conns)
    print(f"open {opened}", flush=True)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), hold_seconds)
    except asyncio.TimeoutError:
        pass

    ok = 0

    async def again(rw):
        nonlocal ok, errors
        r, w = rw
        async with sem:
            try:
                w.write(REQUEST)
                await asyncio.wait_for(read_response(r), 10)
                ok += 1
            except (OSError, ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                errors += 1

    await asyncio.gather(*(again(c) for c in conns))
    for _, w in conns:
        w.close()
    for _, w in conns:
        try:
            await w.wait_closed()
        except OSError:
            pass
    return {"opened": opened, "ok": ok, "errors": errors, "seconds": time.monotonic() - start}


async def short(port, total, concurrency, deadline_s):
    raise_nofile(concurrency)
    done = 0
    errors = 0
    started = 0
    start = time.monotonic()
    deadline = start + deadline_s

    async def worker():
        nonlocal done, errors, started
        while started < total and time.monotonic() < deadline:
            started += 1
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
                try:
                    w.write(REQUEST_CLOSE)
                    await asyncio.wait_for(read_response(r), 10)
                    await asyncio.wait_for(r.read(), 10)  # EOF: the server closed first
                    done += 1
                finally:
                    w.close()
            except (OSError, ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                errors += 1
                if errors <= 3:
                    print(f"conn_driver: short connection failed: {e!r}", file=sys.stderr)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - start
    return {"done": done, "errors": errors, "seconds": elapsed, "rate": done / elapsed if elapsed else 0.0}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    h = sub.add_parser("hold")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--conns", type=int, required=True)
    h.add_argument("--connect-concurrency", type=int, default=256)
    h.add_argument("--hold-seconds", type=float, default=60)
    s = sub.add_parser("short")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--total", type=int, required=True)
    s.add_argument("--concurrency", type=int, default=32)
    s.add_argument("--deadline", type=float, default=60)
    a = ap.parse_args()
    if a.mode == "hold":
        if not 0 < a.conns <= 60000 or not 0 < a.hold_seconds <= 600:
            ap.error("--conns must be in (0, 60000] and --hold-seconds in (0, 600]")
        res = asyncio.run(hold(a.port, a.conns, a.connect_concurrency, a.hold_seconds))
    else:
        if not 0 < a.total <= 1_000_000 or not 0 < a.deadline <= 600:
            ap.error("--total must be in (0, 1e6] and --deadline in (0, 600]")
        res = asyncio.run(short(a.port, a.total, a.concurrency, a.deadline))
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
