"""End to end: tracegapd's start-up contract. Bad options and missing privileges give one clear
line and a distinct exit code; a missing tracefs is mounted by the daemon itself; SIGINT stops it
with 0."""
import os
import signal
import subprocess
import tempfile
import time
import unittest

import tglib


def run_daemon(*args, user=None, group="nogroup", timeout=20):
    cmd = [tglib.TRACEGAPD, *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={group}", "--clear-groups", "--inh-caps=-all", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class Startup(unittest.TestCase):
    def test_bad_option_is_one_line_and_exit_2(self):
        for args, needle in ((["--no-such-option"], "no-such-option"),
                             (["--max-header-bytes", "99999"], "--max-header-bytes"),
                             (["--ring-buffer-bytes", "1000"], "--ring-buffer-bytes"),
                             (["--log-level", "loud"], "--log-level"),
                             (["--config", "/nonexistent/tracegapd.conf"], "--config")):
            r = run_daemon(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(needle, r.stderr)

    def test_bad_config_file_value(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("max-connections = lots\n")
            f.flush()
            r = run_daemon("--config", f.name)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("max-connections", r.stderr)

    def test_help_lists_every_option(self):
        r = run_daemon("--help")
        self.assertEqual(r.returncode, 0)
        for opt in ("--listen", "--max-header-bytes", "--ring-buffer-bytes", "--max-connections",
                    "--config", "--log-level", "--api-socket", "--linger-ms", "--max-processes"):
            self.assertIn(opt, r.stdout)

    def test_unprivileged_user_gets_exit_3(self):
        r = run_daemon(user="nobody")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("CAP_BPF", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_no_kernel_btf_is_exit_4(self):
        """BTF hidden in a private mount namespace (a tmpfs over /sys/kernel/btf), as on a kernel
        built without CONFIG_DEBUG_INFO_BTF: one line naming what is missing, exit 4."""
        script = 'mount -t tmpfs none /sys/kernel/btf && exec "$0" "$@"'
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                            tglib.TRACEGAPD, "--listen", f"127.0.0.1:{tglib.free_port()}",
                            "--api-socket", os.path.join(tempfile.mkdtemp(prefix="tg-btf-"), "api.sock")],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("no kernel BTF at /sys/kernel/btf/vmlinux", r.stderr)

    def test_mounts_tracefs_itself(self):
        mounted = subprocess.run(["mountpoint", "-q", "/sys/kernel/tracing"]).returncode == 0
        if mounted and subprocess.run(["umount", "/sys/kernel/tracing"]).returncode != 0:
            self.skipTest("tracefs is in use by something else and cannot be unmounted for this test")
        with tglib.Daemon() as d:
            self.assertIn("mounted tracefs", d.output())
            self.assertEqual(subprocess.run(["mountpoint", "-q", "/sys/kernel/tracing"]).returncode, 0)

    def test_sigint_stops_with_0(self):
        d = tglib.Daemon().__enter__()
        start = time.monotonic()
        d.proc.send_signal(signal.SIGINT)
        code = d.proc.wait(timeout=5)
        elapsed = time.monotonic() - start
        d.log.close()
        self.assertEqual(code, 0, d.output())
        self.assertIn("stopped", d.output())
        print(f"stop took {elapsed:.2f}s")

    def test_sighup_reloads_live_options_and_survives_a_bad_config(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("log-level = info\n")
        try:
            with tglib.Daemon("--config", f.name) as d:
                def hup_and_wait(text):
                    d.proc.send_signal(signal.SIGHUP)
                    deadline = time.monotonic() + 5
                    while text not in d.output() and time.monotonic() < deadline:
                        time.sleep(0.05)
                    self.assertIn(text, d.output())
                with open(f.name, "w") as c:
                    c.write("log-level = debug\nlinger-ms = 500\nmax-connections = 1000\n")
                hup_and_wait("reloaded configuration")
                self.assertIn("--max-connections changed; it takes effect only after a restart", d.output())
                with open(f.name, "w") as c:
                    c.write("linger-ms = soon\n")
                hup_and_wait("reload failed, keeping the running configuration")
                self.assertIsNone(d.proc.poll(), "a bad config on reload must not stop the daemon")
                d.scrape()
        finally:
            os.unlink(f.name)

    def test_port_in_use_is_exit_8(self):
        with tglib.Daemon() as d:
            r = run_daemon("--listen", f"127.0.0.1:{d.port}", "--api-socket", tempfile.mktemp())
            self.assertEqual(r.returncode, 8, r.stderr)
            self.assertIn(str(d.port), r.stderr)


if __name__ == "__main__":
    tglib.main()
