#!/usr/bin/python3
"""The kernels tier's check, run inside a qemu guest (tests/kernels/init.sh, chrooted into the
host's root over 9p) or directly on the host for the host's kernel (tests/kernels/run_kernel.py).

1. `tracegapd --verify-only --verify-json OUT/verify.json`: every BPF build loaded without being
   attached; the per-program verifier counts go into the result (run_kernel.py judges headroom).
   If this tracegapd does not know the option yet, that is recorded as "not available".
2. tracegapd started (tglib.Daemon, with a long start-up timeout for emulation); its start-up line
   naming the BPF build and the HTTP/2 mode recorded.
3. HTTP/1: curl -> nginx on loopback, 5 requests with a valid traceparent, 3 without, 2 malformed;
   exact tracegap_requests_total for curl (outbound) and nginx (inbound), malformed reasons.
4. HTTP/2: nghttp -> nghttpd (prior knowledge, no TLS), 5 valid + 3 missing; exact counts with
   protocol="http2", outcomes, no HPACK errors.
5. SIGTERM stops tracegapd with exit code 0.

Writes OUT/result.json ({"ok", "kernel", "capture_lines", "capture_variant", "verify", "checks": [{"name", "ok",
"expected", "observed", "detail"}], "timings_s"}) and OUT/daemon.log; exits 1 on any failure.
Needs TRACEGAPD, TRACEGAP and PYTHONPATH=tests/e2e as the e2e tests do.
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import traceback

import tglib
from peers import Nghttpd, nghttp
from tglib import HPACK_ERRORS, MALFORMED, deltas, outcomes
from tglib import requests as h2_requests

REQ = "tracegap_requests_total"
MAL = "tracegap_malformed_total"
N_VALID, N_MISSING = 5, 3
MALFORMED_USED = MALFORMED[:2]  # (traceparent, reason)


def log(msg):
    print(f"guest_check: {msg}", flush=True)


def jsonable(v):
    """Dicts with tuple keys (test_http2's deltas) as {"a/b": n}."""
    if isinstance(v, dict):
        return {"/".join(k) if isinstance(k, tuple) else str(k): jsonable(x) for k, x in sorted(v.items(), key=str)}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


class Result:
    def __init__(self, label):
        self.data = {"label": label, "kernel": platform.release(), "ok": False, "checks": [],
                     "capture_lines": [], "capture_variant": None, "verify": None, "timings_s": {}, "info": {}}

    def check(self, name, expected, observed, ok=None, detail=""):
        ok = (expected == observed) if ok is None else bool(ok)
        self.data["checks"].append({"name": name, "ok": ok, "expected": jsonable(expected),
                                    "observed": jsonable(observed), "detail": detail})
        log(f"{'PASS' if ok else 'FAIL'} {name}: expected {jsonable(expected)}, observed {jsonable(observed)}"
            + (f"\n{detail}" if detail and not ok else ""))
        return ok

    def timing(self, name, t0):
        self.data["timings_s"][name] = round(time.monotonic() - t0, 2)

    def write(self, out):
        checks = self.data["checks"]
        self.data["ok"] = bool(checks) and all(c["ok"] for c in checks)
        tmp = os.path.join(out, "result.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
        os.replace(tmp, os.path.join(out, "result.json"))
        return self.data["ok"]


def tail(text, n=40):
    return "\n".join(text.rstrip().splitlines()[-n:])


# ------------------------------------------------------------------------------------------------

def info(res):
    i = res.data["info"]
    i["btf"] = os.path.exists("/sys/kernel/btf/vmlinux")
    i["tracegapd"] = tglib.TRACEGAPD
    if shutil.which("bpftool"):
        r = subprocess.run(["bpftool", "prog", "list"], capture_output=True, text=True, timeout=60)
        i["bpf_progs_before"] = sum(1 for l in r.stdout.splitlines() if re.match(r"^\d+:", l))
    log(f"kernel {res.data['kernel']}, BTF {'present' if i['btf'] else 'MISSING'}, "
        f"{i.get('bpf_progs_before', '?')} BPF programs loaded before the check")


def verify_only(res, out, timeout):
    path = os.path.join(out, "verify.json")
    if os.path.exists(path):
        os.unlink(path)
    t0 = time.monotonic()
    cmd = [tglib.TRACEGAPD, "--verify-only", "--verify-json", path]
    log("running " + " ".join(cmd))
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        res.timing("verify_only", t0)
        res.data["verify"] = {"status": "timeout"}
        res.check("verify-only finishes", f"within {timeout} s", "timed out", ok=False)
        return
    res.timing("verify_only", t0)
    output = (r.stdout + r.stderr).strip()
    if (r.returncode == 2 and not os.path.exists(path)
            and re.search(r"unrecogni[sz]ed option|unknown option", output, re.I)):
        log(f"tracegapd has no --verify-only yet ({output.splitlines()[0] if output else 'exit 2'}): "
            "recorded as not available")
        res.data["verify"] = {"status": "not available", "output": tail(output, 5)}
        return
    print(output, flush=True)  # the daemon's own table
    v = {"status": "ran", "exit_code": r.returncode, "output": tail(output, 60)}
    res.data["verify"] = v
    res.check("verify-only exits 0 (at least one build loads)", 0, r.returncode, detail=tail(output, 3))
    try:
        with open(path) as f:
            v["json"] = json.load(f)
    except (OSError, ValueError) as e:
        res.check("verify-only writes its JSON", "valid JSON at " + path, f"{type(e).__name__}: {e}", ok=False)
        return
    variants = v["json"].get("variants", [])
    res.check("verify-only: variants loaded", "at least one",
              {x.get("name", "?"): "loaded" if x.get("loaded") else
               (x.get("error") or x.get("result") or "not loaded").splitlines()[0] for x in variants},
              ok=any(x.get("loaded") for x in variants))


def capture_lines(text):
    """The daemon's start-up lines naming the BPF build and HTTP/2 mode (wording may change)."""
    return [l.strip() for l in text.splitlines()
            if l[:1] not in ("", " ", "\t", ";")
            and re.search(r"capture:|capture variant|capturing|build=|http2=|kernel.reads|direct.reads|"
                          r"bpf_probe_read_kernel", l, re.I)][:6]


def capture_variant(lines):
    """The variant the daemon said it runs ("capture variant NAME (...)" on its capturing line, or
    build=... http2=...), else None."""
    for l in lines:
        m = re.search(r"capturing.*capture variant (\S+?)[ ;(]", l) or re.search(r"(build=\S+(?: http2=\S+)?)", l)
        if m:
            return m.group(1)
    return None


def start_daemon(res, out, timeout, stop_timeout):
    t0 = time.monotonic()
    d = tglib.Daemon(start_timeout=timeout, stop_timeout=stop_timeout)
    log(f"starting tracegapd (up to {timeout} s to serve /metrics)")
    try:
        d.__enter__()
    except Exception as e:  # noqa: BLE001 (any failure to start is the check's failure)
        res.timing("daemon_start", t0)
        output = d.output() if os.path.exists(d.log_path) else ""
        observed = f"exited {d.proc.returncode}" if d.proc and d.proc.poll() is not None \
            else (str(e).splitlines() or [type(e).__name__])[0]
        if d.proc and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        save(out, "daemon.log", output)
        res.data["capture_lines"] = capture_lines(output)
        res.check("tracegapd starts and serves /metrics", "serving", observed,
                  ok=False, detail="tracegapd output (last lines):\n" + tail(output, 60))
        return None
    res.timing("daemon_start", t0)
    res.data["capture_lines"] = capture_lines(d.output())
    res.data["capture_variant"] = capture_variant(res.data["capture_lines"])
    res.check("tracegapd starts and serves /metrics", "serving", "serving")
    log(f"capture variant: {res.data['capture_variant']}; start-up lines: "
        + (" | ".join(res.data["capture_lines"]) or "(none names the build)"))
    return d


def save(out, name, text):
    with open(os.path.join(out, name), "w") as f:
        f.write(text)


def http1(res, d, timeout):
    t0 = time.monotonic()

    def counts(before, m, comm, direction):
        return {ctx: int(m.delta(before, REQ, comm=comm, direction=direction, context=ctx, protocol="http1"))
                for ctx in ("valid", "missing", "malformed", "unknown")}

    def reasons(before, m, comm, direction):
        return {reason: int(m.delta(before, MAL, comm=comm, direction=direction, header="traceparent", reason=reason))
                for _, reason in MALFORMED_USED}

    with tglib.Nginx() as nginx:
        url = f"http://127.0.0.1:{nginx.port}/"
        before = d.scrape()
        for _ in range(N_VALID):
            tglib.curl(url, f"traceparent: {tglib.VALID_TP}")
        for _ in range(N_MISSING):
            tglib.curl(url)
        for tp, _ in MALFORMED_USED:
            tglib.curl(url, f"traceparent: {tp}")
        want = {"valid": N_VALID, "missing": N_MISSING, "malformed": len(MALFORMED_USED), "unknown": 0}
        after = d.wait_for(lambda m: counts(before, m, "curl", "outbound") == want
                           and counts(before, m, tglib.Nginx.COMM, "inbound") == want, timeout=timeout)
        res.check("http1: curl outbound requests", want, counts(before, after, "curl", "outbound"))
        res.check("http1: nginx inbound requests", want, counts(before, after, tglib.Nginx.COMM, "inbound"))
        want_r = {reason: 1 for _, reason in MALFORMED_USED}
        res.check("http1: curl outbound malformed reasons", want_r, reasons(before, after, "curl", "outbound"))
        res.check("http1: nginx inbound malformed reasons", want_r, reasons(before, after, tglib.Nginx.COMM, "inbound"))
    res.timing("http1", t0)


def http2(res, d, timeout):
    t0 = time.monotonic()
    n = N_VALID + N_MISSING
    with Nghttpd() as server:
        url = f"http://127.0.0.1:{server.port}/"
        before = d.scrape()
        nghttp(url, N_VALID, f"traceparent: {tglib.VALID_TP}")
        nghttp(url, N_MISSING)
        after = d.wait_for(
            lambda m: sum(h2_requests(before, m, "nghttpd", "inbound").values()) >= n
            and sum(h2_requests(before, m, "nghttp", "outbound").values()) >= n, timeout=timeout)
        want = {("http2", "valid"): N_VALID, ("http2", "missing"): N_MISSING}
        res.check("http2: nghttp outbound requests", want, h2_requests(before, after, "nghttp", "outbound"))
        res.check("http2: nghttpd inbound requests", want, h2_requests(before, after, "nghttpd", "inbound"))
        res.check("http2: nghttp outbound outcomes", {("origin", "http2"): n}, outcomes(before, after, "nghttp"))
        res.check("http2: HPACK errors", {}, deltas(before, after, HPACK_ERRORS, ("reason",)))
    res.timing("http2", t0)


def stop_daemon(res, d, out):
    name = f"tracegapd exits 0 on SIGTERM (within {d.stop_timeout:g} s)"
    t0 = time.monotonic()
    try:
        d.__exit__(None, None, None)
        res.check(name, 0, d.exit_code)
    except AssertionError as e:
        res.check(name, 0, str(e), ok=False)
    res.timing("daemon_stop", t0)
    save(out, "daemon.log", d.output())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory for result.json, verify.json, daemon.log")
    ap.add_argument("--label", default="host")
    ap.add_argument("--start-timeout", type=float, default=180.0,
                    help="seconds for tracegapd to load its programs (verify-only, and /metrics)")
    ap.add_argument("--stop-timeout", type=float, default=2.0,
                    help="seconds for tracegapd to exit after SIGTERM (run_kernel.py allows more under TCG)")
    ap.add_argument("--traffic-timeout", type=float, default=60.0,
                    help="seconds for counts to arrive after the traffic")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tglib.name_this_process("tg-kcheck")
    res = Result(args.label)
    t_all = time.monotonic()
    try:
        info(res)
        verify_only(res, args.out, args.start_timeout)
        res.write(args.out)
        d = start_daemon(res, args.out, args.start_timeout, args.stop_timeout)
        if d is not None:
            try:
                for step in (http1, http2):
                    try:
                        step(res, d, args.traffic_timeout)
                    except Exception:  # noqa: BLE001 (a step that breaks is a failed check)
                        res.check(f"{step.__name__}: traffic runs", "no error", "exception", ok=False,
                                  detail=traceback.format_exc())
            finally:
                stop_daemon(res, d, args.out)
    except Exception:  # noqa: BLE001
        res.check("guest check runs", "no error", "exception", ok=False, detail=traceback.format_exc())
    res.timing("total", t_all)
    ok = res.write(args.out)
    failed = [c["name"] for c in res.data["checks"] if not c["ok"]]
    log(f"{'PASS' if ok else 'FAIL'} on {res.data['kernel']}: {len(res.data['checks']) - len(failed)} of "
        f"{len(res.data['checks'])} checks passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
