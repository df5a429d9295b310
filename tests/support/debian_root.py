"""A minimal Debian 12 root directory, built once with mmdebstrap and cached, for tests that run
containers without pulling any image: the install test boots it with systemd in systemd-nspawn
(tests/install/test_systemd_install.py), the workload e2e test runs a service in it with podman
(tests/e2e/test_workloads.py). The tests never modify it: containers run on an overlay of it.

Import it by adding this directory to sys.path:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
    import debian_root

Environment: TRACEGAP_TEST_CACHE (default /var/cache/tracegap-test) holds the cached root.
"""
import fcntl
import hashlib
import json
import os
import shutil
import subprocess

SUITE = "bookworm"
VARIANT = "minbase"
# Changing this list (or the apt sources) rebuilds the cached root once.
INCLUDE = ["systemd", "systemd-sysv", "dbus", "curl", "python3", "procps", "iproute2",
           "ca-certificates", "adduser"]
SOURCES_CANDIDATES = ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]
CACHE = os.environ.get("TRACEGAP_TEST_CACHE", "/var/cache/tracegap-test")


class BuildError(Exception):
    """mmdebstrap could not build the root."""


def sources_file():
    """The host's apt sources the root is built from, or None."""
    for path in SOURCES_CANDIDATES:
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            return path
    return None


def _recipe_text(sources):
    with open(sources, "rb") as f:
        recipe = {"suite": SUITE, "variant": VARIANT, "include": INCLUDE,
                  "sources_sha256": hashlib.sha256(f.read()).hexdigest(), "format": 1}
    return json.dumps(recipe, sort_keys=True)


def root_path():
    return os.path.join(CACHE, f"{SUITE}-root")


def is_cached():
    """Whether the root is built and up to date (cached_root() would not run mmdebstrap)."""
    sources = sources_file()
    root = root_path()
    stamp = root + ".stamp"
    if not sources or not os.path.isdir(root) or not os.path.isfile(stamp):
        return False
    with open(stamp) as f:
        return f.read() == _recipe_text(sources)


def cached_root(log=print):
    """A minimal Debian 12 root with systemd and python3, made by mmdebstrap once and reused while
    its recipe (suite, variant, package list, apt sources) is unchanged. Never modified by the
    tests: containers run on an overlay of it. Needs root, mmdebstrap and the Debian mirror the
    host's apt sources name (sources_file() must not be None); raises BuildError when mmdebstrap
    fails."""
    sources = sources_file()
    if sources is None:
        raise BuildError(f"no apt sources ({' or '.join(SOURCES_CANDIDATES)}) to build the root from")
    stamp_text = _recipe_text(sources)
    os.makedirs(CACHE, exist_ok=True)
    root = root_path()
    stamp = root + ".stamp"
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once build it once
        if os.path.isdir(root) and os.path.isfile(stamp) and open(stamp).read() == stamp_text:
            log(f"cached root {root} is up to date")
            return root
        log(f"building the root {root} with mmdebstrap (once; ~1 min, ~260 MB)")
        tmp = root + ".new"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = ["mmdebstrap", f"--variant={VARIANT}", "--include=" + ",".join(INCLUDE), SUITE, tmp, sources]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BuildError(f"mmdebstrap failed ({r.returncode}):\n{r.stderr[-3000:]}")
        if os.path.exists(stamp):
            os.unlink(stamp)
        shutil.rmtree(root, ignore_errors=True)
        os.rename(tmp, root)
        with open(stamp, "w") as f:
            f.write(stamp_text)
        log("root built")
        return root
