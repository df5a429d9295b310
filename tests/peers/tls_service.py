"""tracegap end-to-end test peer: an HTTPS service in Debian's Python (the ssl module over the
system's libssl.so.3), thread per request.

  /usr/bin/python3 tls_service.py --name NAME --port PORT --cert CERT --key KEY
                                  [--downstream URL --cafile CA] [--mode propagate|drop|restart]

- Its comm is "tg-" + NAME (prctl on the main thread; keep NAME at most 12 characters).
- Each inbound request: with --downstream, ONE outbound HTTPS GET to it (a new connection, the
  certificate checked against --cafile), then 200 with JSON {received, sent, status}.
  Outbound traceparent per --mode, from the inbound one (version-traceid-parentid-flags):
    propagate  the same trace id, a new parent id
    drop       no traceparent
    restart    a new trace id and parent id
- Prints "ready" on stdout once listening; exits 0 on SIGTERM.
"""
import argparse
import ctypes
import http.client
import http.server
import json
import os
import secrets
import signal
import ssl
import sys
import urllib.parse


def set_comm(name):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME


def outbound_traceparent(mode, received):
    if mode == "drop":
        return None
    trace_id = secrets.token_hex(16)
    if mode == "propagate" and received and len(received.split("-")) == 4:
        trace_id = received.split("-")[1]
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--downstream")
    ap.add_argument("--cafile")
    ap.add_argument("--mode", default="propagate", choices=("propagate", "drop", "restart"))
    args = ap.parse_args()
    set_comm("tg-" + args.name)
    client_ctx = ssl.create_default_context(cafile=args.cafile) if args.downstream else None
    down = urllib.parse.urlsplit(args.downstream) if args.downstream else None

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            received = self.headers.get("traceparent")
            body = {"received": received}
            if down is not None:
                sent = outbound_traceparent(args.mode, received)
                headers = {"traceparent": sent} if sent else {}
                conn = http.client.HTTPSConnection(down.hostname, down.port, context=client_ctx,
                                                   timeout=10)
                conn.request("GET", down.path or "/", headers=headers)
                r = conn.getresponse()
                r.read()
                conn.close()
                body.update(sent=sent, status=r.status)
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(args.cert, args.key)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: (httpd.server_close(), os._exit(0)))
    print("ready", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
