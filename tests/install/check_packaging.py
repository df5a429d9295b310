#!/usr/bin/python3
"""Static checks of tracegap's packaging, so that it cannot drift from the daemon:

- packaging/tracegapd.conf lists every option of `tracegapd --help` as `# name = default`, with
  the default --help shows, and nothing else; uncommented, it is accepted by tracegapd;
- the man pages document every option of `tracegapd --help` / `tracegap --help` (with the
  same defaults), every exit code, and every metric family the daemon registers;
- systemd/tracegapd.service passes `systemd-analyze verify`, scores <= 2.5 in
  `systemd-analyze security`, and grants exactly the capabilities documented;
- the Kubernetes and Prometheus YAML files parse, and the DaemonSet has what docs/deploy.md says.

Usage: check_packaging.py --source DIR --tracegapd BIN --tracegap BIN
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

MAX_EXPOSURE = 2.5
UNIT_CAPS = {"CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH"}
EXIT_PRIVILEGES = 3
EXIT_USAGE = 2

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ------------------------------------------------------------------------------------------------
# tracegapd --help

_OPT = re.compile(r"^  (?:-(\w) \[ )?--([a-z][a-z0-9-]*)(?: \])?(?: ([A-Z][A-Z:]*))?(?: \(=([^)]*)\))?")


def settable_options(help_text):
    """{name: default or None} for every option of `tracegapd --help` that a config file may set
    (the one-shot checks after "Checks (command line only)" may not; the man page has them)."""
    opts = {}
    for line in help_text.splitlines():
        if line.startswith("Checks (command line only)"):
            break
        m = _OPT.match(line)
        if m:
            opts[m.group(2)] = m.group(4)
    return opts


def daemon_options(tracegapd):
    """{name: default or None} for every settable option in `tracegapd --help`, and the exit
    codes."""
    out = run([tracegapd, "--help"])
    if out.returncode != 0:
        raise SystemExit(f"FAIL: {tracegapd} --help exited {out.returncode}: {out.stderr}")
    opts = settable_options(out.stdout)
    codes = set()
    m = re.search(r"Exit codes: (.*)", out.stdout, re.S)
    if m:
        codes = {int(c) for c in re.findall(r"(\d+) [A-Za-z]", m.group(1))}
    return opts, codes


def cli_help(tracegap):
    out = run([tracegap, "--help"])
    if out.returncode != 0:
        raise SystemExit(f"FAIL: {tracegap} --help exited {out.returncode}: {out.stderr}")
    text = out.stdout
    options = set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", text))
    commands = set(re.findall(r"^  (processes|process|status)\b", text, re.M))
    codes = set()
    m = re.search(r"^Exit codes:\n((?:  \d+ .*\n?)+)", text, re.M)
    if m:
        codes = {int(c) for c in re.findall(r"^  (\d+) ", m.group(1), re.M)}
    return options, commands, codes


def roff_plain(path):
    """The man page source with roff's escaped minus signs made plain."""
    with open(path) as f:
        return f.read().replace("\\-", "-")


# ------------------------------------------------------------------------------------------------

def check_config(src, tracegapd, opts):
    path = os.path.join(src, "packaging/tracegapd.conf")
    with open(path) as f:
        lines = f.read().splitlines()
    settable = {n: d for n, d in opts.items() if n not in ("help", "version", "config")}
    shown = {}
    for line in lines:
        m = re.match(r"^# ([a-z][a-z0-9-]*) = (.*)$", line)
        if m:
            shown[m.group(1)] = m.group(2)
        elif line.strip() and not line.startswith("#"):
            check(False, f"tracegapd.conf: only comments expected, found '{line}'")
    for name, default in sorted(settable.items()):
        if default is None:  # off unless set: the file shows an example value
            check(name in shown, f"tracegapd.conf shows '# {name} = <example>'")
        else:
            check(shown.get(name) == default,
                  f"tracegapd.conf has '# {name} = {default}' (found {shown.get(name)!r})")
    for name in sorted(set(shown) - set(settable)):
        check(False, f"tracegapd.conf shows '{name}', which tracegapd --help does not list")

    # Uncommented, the file must be accepted. Run unprivileged so that tracegapd stops right
    # after parsing, at the privilege check (exit 3); a config error would be exit 2.
    tmp = tempfile.mkdtemp(prefix="tg-conf-")
    try:
        os.chmod(tmp, 0o755)
        conf = os.path.join(tmp, "tracegapd.conf")
        with open(conf, "w") as f:
            # Options without a default name files that exist only where they are configured.
            f.write("\n".join(f"{n} = {v}" for n, v in shown.items() if settable.get(n) is not None) + "\n")
        os.chmod(conf, 0o644)
        bad = os.path.join(tmp, "bad.conf")
        with open(bad, "w") as f:
            f.write("max-header-bytes = 1\n")
        os.chmod(bad, 0o644)
        prefix = []
        if os.geteuid() == 0:
            prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                      "--inh-caps=-all", "--bounding-set=-all"]
        r = run(prefix + [tracegapd, "--config", conf], timeout=30)
        check(r.returncode == EXIT_PRIVILEGES,
              f"tracegapd accepts the uncommented tracegapd.conf (exit {r.returncode}, expected "
              f"{EXIT_PRIVILEGES} = stopped at the privilege check after parsing): {r.stderr.strip()}")
        r = run(prefix + [tracegapd, "--config", bad], timeout=30)
        check(r.returncode == EXIT_USAGE, f"control: a bad config file exits {EXIT_USAGE} (got {r.returncode})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_man_pages(src, tracegapd, tracegap, opts, daemon_codes):
    page = roff_plain(os.path.join(src, "packaging/man/tracegapd.8"))
    # Each option is one ".TP" entry of the OPTIONS section: its tag line names it, its text
    # ends with "Default: VALUE." for the options that have one.
    options_section = page.split(".SH OPTIONS", 1)[-1].split("\n.SH ", 1)[0]
    entries = {}
    for entry in options_section.split("\n.TP\n")[1:]:
        tag, _, body = entry.partition("\n")
        for name in re.findall(r"--([a-z][a-z0-9-]*)", tag):
            entries[name] = body
    help_text = run([tracegapd, "--help"]).stdout
    checks = re.findall(r"^  --([a-z][a-z0-9-]*)", help_text.split("Checks (command line only)", 1)[-1], re.M)
    check(len(checks) >= 2, f"tracegapd --help lists the command-line checks ({checks})")
    for name in checks:
        check(name in entries, f"tracegapd(8) OPTIONS has an entry for --{name}")
    for name, default in sorted(opts.items()):
        check(name in entries, f"tracegapd(8) OPTIONS has an entry for --{name}")
        if default is not None:
            check(f"Default: {default}." in entries.get(name, ""), f"tracegapd(8) gives --{name}'s default {default}")
    exit_section = page.split(".SH EXIT STATUS", 1)[-1].split(".SH ", 1)[0]
    for code in sorted(daemon_codes):
        check(f".B {code}\n" in exit_section, f"tracegapd(8) documents exit status {code}")
    for section in ("FILES", "METRICS", "SIGNALS"):
        check(f".SH {section}" in page, f"tracegapd(8) has a {section} section")
    with open(os.path.join(src, "metrics/metrics.cc")) as f:
        families = set(re.findall(r'"(tracegap_[a-z0-9_]+)"', f.read()))
    check(len(families) >= 5, f"found the metric families in metrics/metrics.cc ({len(families)})")
    metrics_section = page.split(".SH METRICS", 1)[-1].split(".SH ", 1)[0]
    for family in sorted(families):
        check(f".B {family}\n" in metrics_section, f"tracegapd(8) documents metric {family}")

    cli_page = roff_plain(os.path.join(src, "packaging/man/tracegap.1"))
    options, commands, codes = cli_help(tracegap)
    check(len(options) >= 5 and len(commands) == 3 and len(codes) >= 5,
          f"parsed tracegap --help ({sorted(options)}, {sorted(commands)}, {sorted(codes)})")
    for opt in sorted(options):
        check(f"--{opt}" in cli_page, f"tracegap(1) documents --{opt}")
    for cmd in sorted(commands):
        check(re.search(rf"^\.B[I]? {cmd}\b", cli_page, re.M) is not None, f"tracegap(1) documents command {cmd}")
    cli_exit = cli_page.split(".SH EXIT STATUS", 1)[-1].split(".SH ", 1)[0]
    for code in sorted(codes):
        check(f".B {code}\n" in cli_exit, f"tracegap(1) documents exit status {code}")

    # Both pages render without groff warnings (what lintian checks too).
    for rel in ("packaging/man/tracegapd.8", "packaging/man/tracegap.1"):
        r = run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", os.path.join(src, rel)],
                env=dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80"))
        check(r.returncode == 0 and not r.stderr.strip(), f"{rel} renders without warnings {r.stderr.strip()}")


def unit_settings(path):
    settings = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";", "[")):
                continue
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def check_unit(src, tracegapd):
    unit = os.path.join(src, "systemd/tracegapd.service")
    s = unit_settings(unit)
    check(s.get("Type") == ["notify"], "unit: Type=notify")
    check(s.get("ExecStart") == ["/usr/sbin/tracegapd --config /etc/tracegap/tracegapd.conf"], "unit: ExecStart")
    check(s.get("ExecReload") == ["/bin/kill -HUP $MAINPID"], "unit: ExecReload sends SIGHUP")
    check(s.get("User") == ["tracegap"], "unit: User=tracegap")
    for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
        check(set(" ".join(s.get(key, [])).split()) == UNIT_CAPS, f"unit: {key} is exactly {sorted(UNIT_CAPS)}")
    check("invisible" not in " ".join(s.get("ProtectProc", [])), "unit: no ProtectProc=invisible")
    check(s.get("RuntimeDirectory") == ["tracegap"] and s.get("RuntimeDirectoryMode") == ["0750"],
          "unit: RuntimeDirectory=tracegap, mode 0750")

    if not shutil.which("systemd-analyze"):
        check(False, "systemd-analyze is installed (Debian package systemd)")
        return
    # verify: needs the ExecStart binary to exist; point a copy at the one just built.
    tmp = tempfile.mkdtemp(prefix="tg-unit-")
    try:
        copy = os.path.join(tmp, "tracegapd.service")
        with open(unit) as f:
            text = f.read().replace("/usr/sbin/tracegapd", os.path.abspath(tracegapd))
        with open(copy, "w") as f:
            f.write(text)
        r = run(["systemd-analyze", "verify", "--man=no", copy])
        check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
              f"systemd-analyze verify is clean {(r.stdout + r.stderr).strip()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r = run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit])
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    score = float(m.group(1)) if m else None
    print(f"     systemd-analyze security: exposure {score}")
    check(score is not None and score <= MAX_EXPOSURE, f"unit exposure {score} <= {MAX_EXPOSURE}")


def check_yaml(src, opts):
    try:
        import yaml
    except ImportError:
        check(False, "python3-yaml is installed (scripts/install-deps.sh installs it)")
        return
    docs = {}
    for rel in ("packaging/kubernetes/tracegap-daemonset.yaml", "packaging/kubernetes/prometheus-scrape.yml",
                "packaging/prometheus/scrape.yml", "packaging/prometheus/tracegap.rules.yml",
                "packaging/prometheus/tracegap.rules.test.yml"):
        try:
            with open(os.path.join(src, rel)) as f:
                docs[rel] = [d for d in yaml.safe_load_all(f) if d is not None]
            check(True, f"{rel} parses as YAML ({len(docs[rel])} document(s))")
        except yaml.YAMLError as e:
            check(False, f"{rel} parses as YAML: {e}")
    objs = {d["kind"]: d for d in docs.get("packaging/kubernetes/tracegap-daemonset.yaml", [])}
    check(set(objs) == {"Namespace", "ServiceAccount", "ConfigMap", "DaemonSet"},
          f"the Kubernetes file holds Namespace, ServiceAccount, ConfigMap, DaemonSet ({sorted(objs)})")
    ds = objs.get("DaemonSet")
    if ds:
        pod = ds["spec"]["template"]
        spec = pod["spec"]
        (c,) = spec["containers"]
        sc = c["securityContext"]
        check(spec.get("hostPID") is True, "DaemonSet: hostPID")
        check(set(sc["capabilities"]["add"]) == {"BPF", "PERFMON"} and sc["capabilities"]["drop"] == ["ALL"],
              "DaemonSet: capabilities drop ALL, add BPF and PERFMON")
        check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
              and sc.get("privileged") is False, "DaemonSet: read-only root, no privilege escalation, not privileged")
        ann = pod["metadata"]["annotations"]
        check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "9477",
              "DaemonSet: Prometheus scrape annotations")
        check(c["args"][c["args"].index("--listen") + 1] == "0.0.0.0:9477", "DaemonSet: --listen 0.0.0.0:9477")
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        for path in ("/sys/kernel/btf", "/sys/kernel/tracing", "/var/log/pods", "/var/log/containers"):
            check(mounts.get(path, {}).get("readOnly") is True, f"DaemonSet: {path} mounted read-only")
        check("limits" in c["resources"] and "requests" in c["resources"], "DaemonSet: resource requests and limits")
    cm = objs.get("ConfigMap")
    if cm:
        conf = cm["data"]["tracegapd.conf"]
        for name in re.findall(r"^#? ?([a-z][a-z0-9-]*) =", conf, re.M):
            check(name in opts, f"ConfigMap tracegapd.conf: '{name}' is a tracegapd option")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--tracegapd", required=True)
    ap.add_argument("--tracegap", required=True)
    a = ap.parse_args()
    opts, codes = daemon_options(a.tracegapd)
    check(len(opts) >= 12 and "listen" in opts and codes >= {0, 1, 2, 3, 4, 5, 6, 7, 8},
          f"parsed tracegapd --help: {len(opts)} options, exit codes {sorted(codes)}")
    check_config(a.source, a.tracegapd, opts)
    check_man_pages(a.source, a.tracegapd, a.tracegap, opts, codes)
    check_unit(a.source, a.tracegapd)
    check_yaml(a.source, opts)
    if failures:
        print(f"\n{len(failures)} check(s) failed:", *failures, sep="\n  ")
        return 1
    print("\nall packaging checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
