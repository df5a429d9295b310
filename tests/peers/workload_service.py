"""tracegap end-to-end test peer: a plain-HTTP service in Python's standard library only, so that
it runs unchanged in a bare Debian root in a container (tests/e2e/test_workloads.py bind-mounts
it read-only into a podman container) or on the host.

  python3 workload_service.py --name NAME --port PORT [--downstream-port PORT]
                              [--mode drop|forward]

- Its comm is "tg-" + NAME (prctl on the main thread; keep NAME at most 12 characters).
- Listens on 127.0.0.1:PORT, one request at a time, HTTP/1.1.
- Each inbound GET: with --downstream-port, ONE outbound GET to http://127.0.0.1:PORT/ on a new
  connection (http.client, which sends "Host: 127.0.0.1:PORT"), then 200 "ok". Outbound
  traceparent per --mode:
    drop     none (the context received is lost)
    forward  the received traceparent header, byte for byte
  Without --downstream-port it only answers 200 "ok" (a backend).
- Prints "ready" on stdout once listening; exits 0 on SIGTERM (also as PID 1 of a container,
  where SIGTERM has no default action).
"""
import argparse
import ctypes
import http.client
import http.server
import os
import signal
import sys


def set_comm(name):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--downstream-port", type=int)
    ap.add_argument("--mode", default="drop", choices=("drop", "forward"))
    args = ap.parse_args()
    set_comm("tg-" + args.name)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            if args.downstream_port:
                received = self.headers.get("traceparent")
                headers = {"traceparent": received} if args.mode == "forward" and received else {}
                conn = http.client.HTTPConnection("127.0.0.1", args.downstream_port, timeout=10)
                conn.request("GET", "/", headers=headers)
                conn.getresponse().read()
                conn.close()
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

    httpd = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print("ready", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
