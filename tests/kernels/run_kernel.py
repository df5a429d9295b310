#!/usr/bin/python3
"""The kernels tier (ctest -L kernels): tracegapd on other kernels.

    run_kernel.py host            guest_check.py run directly on the host, for the host's kernel
    run_kernel.py debian12-6.12   Debian 12's 6.12 kernel (linux-image-6.12-amd64): the socket path
    run_kernel.py debian12-6.1    Debian 12's stock kernel (the package linux-image-amd64 depends
                                  on), fetched and unpacked into BUILD/kernels by fetch_kernel.sh,
                                  booted under qemu (TCG: no KVM needed) with the host's root file
                                  system shared read-only over 9p and a tiny initramfs
                                  (initramfs.py, init.sh); guest_check.py runs inside it.

Either way guest_check.py writes result.json (and verify.json, daemon.log) into
BUILD/kernels/out/<release>/; this script prints a summary, the verifier headroom table (also
written to BUILD/kernels/headroom-<release>.md and, for every kernel checked so far,
BUILD/kernels/headroom.md), and for a guest the tail of its serial console (ttyS0, kept in
out/<release>/serial.log) on failure. It fails when a check fails or when a BPF program of a
variant that loaded needed more than headroom.LIMIT processed instructions.

Exit 77 (skipped) only when not root, or when qemu cannot run at all; tracegapd failing to load
is a failure. Environment: TRACEGAPD, TRACEGAP, PYTHONPATH (tests/e2e) as for the e2e tests;
TRACEGAP_BUILD_DIR (default: the parent of tracegapd's bin/) for the kernel cache and results;
KERNEL_BOOT_TIMEOUT (seconds, default 480) for one qemu run.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

import headroom
import initramfs

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
E2E = os.path.normpath(os.path.join(HERE, "..", "e2e"))
GUEST_CHECK = os.path.join(HERE, "guest_check.py")
FETCH = os.path.join(HERE, "fetch_kernel.sh")
PYTHON = "/usr/bin/python3"
QEMU = "qemu-system-x86_64"

# Kernels booted under qemu: name -> Debian (meta) package whose dependency is the kernel.
KERNELS = {
    "debian12-6.1": "linux-image-amd64",
    # Debian 12's 6.12 (bookworm-security): a second kernel build with the socket-layer tracepoints,
    # so that the socket path is not proven on the host's kernel alone.
    "debian12-6.12": "linux-image-6.12-amd64",
}

TRACEGAPD = os.path.abspath(os.environ.get("TRACEGAPD", "build/bin/tracegapd"))
TRACEGAP = os.path.abspath(os.environ.get("TRACEGAP", "build/bin/tracegap"))
BUILD = os.path.abspath(os.environ.get("TRACEGAP_BUILD_DIR")
                        or os.path.dirname(os.path.dirname(TRACEGAPD)))
KERNELS_DIR = os.path.join(BUILD, "kernels")
# Worst cases stay inside the tier's 15 minutes: host 300 s + one guest 480 s + fetching.
BOOT_TIMEOUT = float(os.environ.get("KERNEL_BOOT_TIMEOUT", "480"))
HOST_TIMEOUT = 300
START_TIMEOUT = 180  # tracegapd's BPF load (verification is slower under TCG; 2 s measured on 6.1)
# SIGTERM to exit: 2 s on the host (as the e2e tests), more under TCG emulation, where the kernel
# removing the system libssl's 10 uprobes one at a time (~55 ms each natively) took over 2 s on
# 6.1; the guest's daemon.log and result.json record the time it took.
GUEST_STOP_TIMEOUT = 20


def say(msg):
    print(f"run_kernel: {msg}", flush=True)


def skip(reason):
    say(f"SKIP: {reason}")
    sys.exit(SKIP)


def fail(reason):
    say(f"FAIL: {reason}")
    sys.exit(1)


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def guest_env():
    env = dict(os.environ)
    env.update(TRACEGAPD=TRACEGAPD, TRACEGAP=TRACEGAP, PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([E2E] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                   if p and os.path.abspath(p) != E2E]))
    return env


def load_result(out):
    try:
        with open(os.path.join(out, "result.json")) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"error": f"no readable result.json in {out}: {e}"}


# ------------------------------------------------------------------------------------------------
# The host's kernel

def run_host():
    out = fresh_dir(os.path.join(KERNELS_DIR, "out", "host"))
    t0 = time.monotonic()
    cmd = [PYTHON, GUEST_CHECK, "--out", out, "--label", "host", "--start-timeout", str(START_TIMEOUT)]
    say("running " + " ".join(cmd))
    try:
        subprocess.run(cmd, env=guest_env(), timeout=HOST_TIMEOUT)
    except subprocess.TimeoutExpired:
        say(f"guest_check.py did not finish within {HOST_TIMEOUT} s (killed)")
    return load_result(out), {"total wall": time.monotonic() - t0}, None


# ------------------------------------------------------------------------------------------------
# A kernel under qemu

def qemu_usable():
    if not shutil.which(QEMU):
        skip(f"{QEMU} not found (Debian package qemu-system-x86; scripts/install-deps.sh installs it)")
    try:
        r = subprocess.run([QEMU, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        skip(f"{QEMU} cannot run: {e}")
    if r.returncode != 0:
        skip(f"{QEMU} --version exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout.splitlines()[0] if r.stdout else QEMU


GUEST_SH = """\
# Written by tests/kernels/run_kernel.py; run by init.sh chrooted into the host's root.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
export TRACEGAPD='{tracegapd}' TRACEGAP='{tracegap}' PYTHONPATH='{e2e}'
cd /tmp
{python} -u '{check}' --out /run/tg-results --label '{label}' --start-timeout {start} --stop-timeout {stop}
"""


# Where init.sh puts tmpfs over the host's root: nothing the guest runs may live there.
GUEST_TMPFS = ("/tmp", "/run", "/var/tmp", "/var/log", "/var/cache", "/var/lib/nginx")


def run_qemu(name):
    meta = KERNELS[name]
    version = qemu_usable()
    for path in (TRACEGAPD, TRACEGAP, HERE, E2E):
        hidden = [d for d in GUEST_TMPFS if path == d or path.startswith(d + "/")]
        if hidden:
            fail(f"{path} is under {hidden[0]}, which the guest covers with a tmpfs: build elsewhere")
    times = {}
    t_all = time.monotonic()

    t0 = time.monotonic()
    say(f"fetching the kernel {meta} depends on")
    r = subprocess.run([FETCH, KERNELS_DIR, meta], stdout=subprocess.PIPE, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        fail(f"fetch_kernel.sh exited {r.returncode}: no kernel to boot (its errors are above)")
    kdir = r.stdout.strip().splitlines()[-1]
    release = os.path.basename(kdir)
    vmlinuz = os.path.join(kdir, "boot", f"vmlinuz-{release}")
    times["fetch"] = time.monotonic() - t0

    t0 = time.monotonic()
    initrd = os.path.join(kdir, "initramfs.cpio.gz")
    try:
        mods = initramfs.build(kdir, release, initrd)
    except (initramfs.InitramfsError, OSError) as e:
        fail(f"cannot build the initramfs: {e}")
    times["initramfs"] = time.monotonic() - t0
    say(f"initramfs {initrd} ({os.path.getsize(initrd) // 1024} KiB): busybox, modules {' '.join(mods)}")

    out = fresh_dir(os.path.join(KERNELS_DIR, "out", release))
    with open(os.path.join(out, "guest.sh"), "w") as f:
        f.write(GUEST_SH.format(tracegapd=TRACEGAPD, tracegap=TRACEGAP, e2e=E2E, python=PYTHON,
                                check=GUEST_CHECK, label=name, start=START_TIMEOUT,
                                stop=GUEST_STOP_TIMEOUT))
    serial = os.path.join(out, "serial.log")
    qemu_err = os.path.join(out, "qemu.stderr")
    cmd = [QEMU, "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", "2048",
           "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot",
           "-serial", f"file:{serial}",
           "-kernel", vmlinuz, "-initrd", initrd,
           "-append", "console=ttyS0 panic=-1 oops=panic loglevel=4 quiet",
           "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
           "-virtfs", f"local,path={out},mount_tag=results,security_model=none"]
    say(f"booting {release} under {version} (TCG), timeout {BOOT_TIMEOUT:g} s")
    say(" ".join(cmd))
    t0 = time.monotonic()
    timed_out = False
    with open(qemu_err, "w") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=BOOT_TIMEOUT)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            rc = proc.wait()
    times["qemu wall"] = time.monotonic() - t0
    times["total wall"] = time.monotonic() - t_all
    serial_text = read(serial)
    m = re.search(r"tg-init: \[([\d.]+)\] running guest.sh", serial_text)
    if m:
        times["boot (guest uptime at guest.sh)"] = float(m.group(1))
    result = load_result(out)
    problems = []
    if timed_out:
        problems.append(f"qemu did not finish within {BOOT_TIMEOUT:g} s: killed (KERNEL_BOOT_TIMEOUT)")
    elif rc != 0:
        problems.append(f"qemu exited {rc}: {read(qemu_err).strip()}")
    if not m:
        problems.append("the guest never reached guest.sh (see the serial log: init, modules, 9p)")
    guest_rc = read(os.path.join(out, "guest.rc")).strip()
    if m and not guest_rc and not timed_out:
        problems.append("guest.sh did not finish (no guest.rc)")
    return result, times, {"serial": serial_text, "problems": problems, "release": release}


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# ------------------------------------------------------------------------------------------------
# Report

def write_headroom(kernel, verify, notes):
    rs = headroom.rows(verify, kernel) if verify else []
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", kernel)
    with open(os.path.join(KERNELS_DIR, f"headroom-{safe}.md"), "w") as f:
        f.write(headroom.markdown(rs, f"Verifier headroom on {kernel}", notes))
    with open(os.path.join(KERNELS_DIR, f"headroom-{safe}.json"), "w") as f:
        json.dump({"kernel": kernel, "rows": rs, "notes": notes}, f)
    all_rows, all_notes = [], []
    for path in sorted(glob.glob(os.path.join(KERNELS_DIR, "headroom-*.json"))):
        with open(path) as f:
            d = json.load(f)
        all_rows += [tuple(r) for r in d["rows"]]
        all_notes += [f"{d['kernel']}: {n}" for n in d["notes"]]
    with open(os.path.join(KERNELS_DIR, "headroom.md"), "w") as f:
        f.write(headroom.markdown(all_rows, "Verifier headroom, every kernel checked", all_notes))
    return rs


def report(name, result, times, guest):
    problems = list(guest["problems"]) if guest else []
    kernel = result.get("kernel") or (guest or {}).get("release") or name
    print(f"\n===== kernels tier: {name} (kernel {kernel}) =====", flush=True)
    if "error" in result:
        problems.append(result["error"])
    for c in result.get("checks", []):
        print(f"  {'PASS' if c['ok'] else 'FAIL'}  {c['name']}: expected {c['expected']}, observed {c['observed']}")
        if not c["ok"] and c.get("detail"):
            print("        " + c["detail"].replace("\n", "\n        "))
    failed = [c["name"] for c in result.get("checks", []) if not c["ok"]]
    if failed:
        problems.append("failed checks: " + "; ".join(failed))
    elif "checks" in result and not result.get("ok"):
        problems.append("the guest check reported failure")
    print(f"  capture variant: {result.get('capture_variant')}; daemon start-up lines: "
          + (" | ".join(result.get("capture_lines", [])) or "(none)"))

    verify = result.get("verify") or {}
    notes = []
    if verify.get("status") == "ran" and "json" in verify:
        rs = write_headroom(kernel, verify["json"],
                            [f"not loaded: {(e or v).splitlines()[0]}" for v, e in headroom.not_loaded(verify["json"])])
        print("  verifier headroom (tracegapd --verify-only):")
        print("    " + (headroom.text_table(rs).replace("\n", "\n    ") if rs else "(no variant loaded)"))
        for v, e in headroom.not_loaded(verify["json"]):
            print(f"    variant {v} did not load: {e}")
        over = headroom.over_limit(rs)
        if over:
            problems.append(f"{len(over)} program(s) over {headroom.LIMIT} processed insns: "
                            + ", ".join(f"{r[0]} ({r[1]}) {r[3]}" for r in over))
    else:
        notes.append(f"tracegapd --verify-only: {verify.get('status', 'not run')}")
        print(f"  verifier headroom: {notes[-1]}")
        if result.get("kernel"):
            write_headroom(kernel, None, notes)
    inside = ", ".join(f"{k} {v} s" for k, v in result.get("timings_s", {}).items())
    print("  times: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
          + (f"; in the check: {inside}" if inside else ""))
    with open(os.path.join(KERNELS_DIR, f"summary-{name}.json"), "w") as f:
        json.dump({"name": name, "kernel": kernel, "problems": problems, "times_s": times,
                   "capture_variant": result.get("capture_variant"),
                   "result_ok": result.get("ok", False)}, f, indent=1)
    if problems:
        if guest:
            # The checks above carry the daemon's output; without them, the console is all there is.
            n = 40 if "checks" in result else 150
            lines = guest["serial"].rstrip().splitlines()
            print(f"\n----- serial console, last {min(len(lines), n)} of {len(lines)} lines "
                  f"({os.path.join(KERNELS_DIR, 'out', guest['release'], 'serial.log')}) -----")
            print("\n".join(lines[-n:]))
            print("----- end of serial console -----")
        for p in problems:
            say(f"FAIL ({name}): {p}")
        return 1
    say(f"PASS ({name}): {len(result.get('checks', []))} checks on {kernel}")
    return 0


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ["host", *KERNELS]:
        sys.exit(f"usage: run_kernel.py {{host|{'|'.join(KERNELS)}}}")
    name = sys.argv[1]
    if os.geteuid() != 0:
        skip("not root (tracegapd needs CAP_BPF and CAP_PERFMON; the guest shares the host's root)")
    if not os.access(TRACEGAPD, os.X_OK):
        fail(f"no tracegapd at {TRACEGAPD} (set TRACEGAPD)")
    os.makedirs(KERNELS_DIR, exist_ok=True)
    if name == "host":
        result, times, guest = run_host()
    else:
        result, times, guest = run_qemu(name)
    return report(name, result, times, guest)


if __name__ == "__main__":
    sys.exit(main())
