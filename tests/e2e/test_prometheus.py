"""End to end: the shipped Prometheus configuration and rules, loaded by a real Prometheus
(Debian's /usr/bin/prometheus) that scrapes a real tracegapd watching OpenTelemetry JS services.

Prometheus runs on 127.0.0.1:<free port> with a temporary --storage.tsdb.path. Its configuration
is a temporary copy of packaging/prometheus/scrape.yml and tracegap.rules.yml, changed by this
test in these ways only:
  - the `tracegap` job's target is this test's tracegapd, 127.0.0.1:<its port>;
  - the global scrape_interval and evaluation_interval, the `tracegap` job's scrape_interval and
    the rule groups' `interval` become 1s, and the job's scrape_timeout 1s (it may not exceed
    the interval);
  - every alert's `for:` becomes 3s.
Every `expr` is kept exactly as shipped (test_shipped_exprs_unchanged asserts it on the copies
Prometheus loads).

Scenario, for the whole test: backends tg-be-propagate, tg-be-drop, tg-be-restart behind
frontends tg-fe-propagate, tg-fe-drop, tg-fe-restart (peers.NodeService, OpenTelemetry JS, in those
modes), and nginx (comm tg-nginx) proxying to tg-be-propagate with the traceparent passed through
unchanged. A background thread sends N requests with --new-trace-each through each frontend and
nginx, round after round, while the tests poll Prometheus's HTTP API (/api/v1/query, /rules,
/alerts, /targets) until what they expect holds or the shared deadline passes. None of these
processes has a systemd unit or a container here, so each one's workload is its comm.

Also: the queries of docs/promql.md, each run against this Prometheus (none may fail, none may be
empty in this scenario).
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import yaml

import peers
import tglib
from peers import NodeService

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PROM_DIR = os.path.join(ROOT, "packaging", "prometheus")
PROMQL_DOC = os.path.join(ROOT, "docs", "promql.md")
SEND_JS = os.path.join(peers.PEERS, "send.js")

N = 5                 # requests per frontend per round
ALERT_FOR = "3s"      # every alert's `for:` in the copy
WAIT = 75.0           # seconds after the traffic starts by which every expectation must hold
GAP_MODES = ("drop", "restart")


def exprs(rules_doc):
    """[(group, record or alert name, expr)] of a rules file, in order."""
    return [(g["name"], r.get("record") or r.get("alert"), r["expr"])
            for g in rules_doc["groups"] for r in g["rules"]]


class PrometheusE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prometheus_bin = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not os.access(cls.prometheus_bin, os.X_OK):
            raise AssertionError("prometheus not found: scripts/install-deps.sh installs Debian's "
                                 "package prometheus")
        peers.ensure_node_modules()
        cls.tmp = tempfile.mkdtemp(prefix="tg-prometheus-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)

        cls.daemon = tglib.Daemon().__enter__()
        cls.addClassCleanup(cls.daemon.__exit__, None, None, None)

        cls.backends, cls.frontends = {}, {}
        for mode in ("propagate", *GAP_MODES):
            be = NodeService("be-" + mode).__enter__()
            cls.addClassCleanup(be.__exit__, None, None, None)
            fe = NodeService("fe-" + mode, mode=mode, downstream=be.url).__enter__()
            cls.addClassCleanup(fe.__exit__, None, None, None)
            cls.backends[mode], cls.frontends[mode] = be, fe
        be = cls.backends["propagate"]
        cls.nginx = tglib.Nginx(extra=f"location /api/ {{ proxy_pass http://127.0.0.1:{be.port}/; "
                                      'proxy_http_version 1.1; proxy_set_header Connection ""; }').__enter__()
        cls.addClassCleanup(cls.nginx.__exit__, None, None, None)
        cls.urls = [fe.url for fe in cls.frontends.values()] + [f"http://127.0.0.1:{cls.nginx.port}/api/x"]

        cls.start_prometheus()

        cls.stop = threading.Event()
        cls.driver_errors = []
        cls.driver = threading.Thread(target=cls.drive, daemon=True)
        cls.driver.start()
        cls.addClassCleanup(cls.stop_driver)
        cls.deadline = time.monotonic() + WAIT

    # --- setup ---------------------------------------------------------------------------------

    @classmethod
    def start_prometheus(cls):
        with open(os.path.join(PROM_DIR, "scrape.yml")) as f:
            cls.shipped_config = yaml.safe_load(f)
        with open(os.path.join(PROM_DIR, "tracegap.rules.yml")) as f:
            cls.shipped_rules = yaml.safe_load(f)

        config = yaml.safe_load(yaml.safe_dump(cls.shipped_config))
        config["global"]["scrape_interval"] = "1s"
        config["global"]["evaluation_interval"] = "1s"
        jobs = [j for j in config["scrape_configs"] if j["job_name"] == "tracegap"]
        assert len(jobs) == 1, "scrape.yml: want exactly one job named tracegap"
        jobs[0]["scrape_interval"] = "1s"
        jobs[0]["scrape_timeout"] = "1s"
        jobs[0]["static_configs"] = [{"targets": [f"127.0.0.1:{cls.daemon.port}"]}]
        assert config["rule_files"] == ["tracegap.rules.yml"], config["rule_files"]

        rules = yaml.safe_load(yaml.safe_dump(cls.shipped_rules))
        for group in rules["groups"]:
            if "interval" in group:
                group["interval"] = "1s"
            for rule in group["rules"]:
                if "alert" in rule and "for" in rule:
                    rule["for"] = ALERT_FOR

        cls.config_path = os.path.join(cls.tmp, "scrape.yml")
        cls.rules_path = os.path.join(cls.tmp, "tracegap.rules.yml")
        with open(cls.config_path, "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        with open(cls.rules_path, "w") as f:
            yaml.safe_dump(rules, f, sort_keys=False)

        cls.prom_port = tglib.free_port()
        cls.prom_log_path = os.path.join(cls.tmp, "prometheus.log")
        cls.prom_log = open(cls.prom_log_path, "w")
        cls.prometheus = subprocess.Popen(
            [cls.prometheus_bin, f"--config.file={cls.config_path}",
             f"--storage.tsdb.path={os.path.join(cls.tmp, 'data')}",
             f"--web.listen-address=127.0.0.1:{cls.prom_port}"],
            stdout=cls.prom_log, stderr=subprocess.STDOUT)
        cls.addClassCleanup(cls.stop_prometheus)
        deadline = time.monotonic() + 30
        while True:
            if cls.prometheus.poll() is not None:
                raise AssertionError(f"prometheus exited with {cls.prometheus.returncode}:\n"
                                     + cls.prometheus_output())
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{cls.prom_port}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("prometheus not ready within 30 s:\n" + cls.prometheus_output())
            time.sleep(0.2)

    @classmethod
    def prometheus_output(cls):
        with open(cls.prom_log_path) as f:
            return f.read()[-4000:]

    @classmethod
    def stop_prometheus(cls):
        tglib.stop(cls.prometheus)
        cls.prom_log.close()

    @classmethod
    def drive(cls):
        """Rounds of N requests (each with a new valid trace) through every frontend and nginx, in
        parallel, until told to stop. The first failure is kept for the tests to report."""
        while not cls.stop.is_set():
            procs = [subprocess.Popen(["node", SEND_JS, "--url", url, "--count", str(N), "--new-trace-each"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                     for url in cls.urls]
            for url, p in zip(cls.urls, procs):
                try:
                    _, err = p.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    _, err = p.communicate()
                if p.returncode != 0:
                    cls.driver_errors.append(f"send.js {url} exited {p.returncode}: {err.strip()}")
            if cls.driver_errors:
                return
            cls.stop.wait(0.3)

    @classmethod
    def stop_driver(cls):
        cls.stop.set()
        cls.driver.join(timeout=40)

    # --- Prometheus API ------------------------------------------------------------------------

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.prom_port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                doc = json.load(r)
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{path} {params}: HTTP {e.code}: {e.read().decode()}") from None
        self.assertEqual(doc["status"], "success", doc)
        return doc["data"]

    def query(self, q):
        """Instant query: [(labels, value)] (labels without __name__)."""
        data = self.api("query", query=q)
        self.assertEqual(data["resultType"], "vector", q)
        return [({k: v for k, v in s["metric"].items() if k != "__name__"}, float(s["value"][1]))
                for s in data["result"]]

    def by(self, q, *keys):
        """{tuple of the `keys` label values (or the one value): sample value} of an instant query."""
        out = {}
        for labels, value in self.query(q):
            k = tuple(labels.get(key, "") for key in keys)
            out[k[0] if len(keys) == 1 else k] = value
        return out

    def eventually(self, check):
        """Runs check() until it passes (returns its result) or the shared deadline has passed
        (re-raises its last failure)."""
        while True:
            self.assertFalse(self.driver_errors, "the traffic driver failed")
            try:
                return check()
            except AssertionError:
                if time.monotonic() > self.deadline:
                    raise
            time.sleep(0.5)

    # --- names ---------------------------------------------------------------------------------

    def server(self, mode):
        """The edge server label of the requests the frontend of `mode` sends: the Host header
        node sends, 127.0.0.1:<backend port>."""
        return f"127.0.0.1:{self.backends[mode].port}"

    @property
    def nginx_server(self):
        return self.server("propagate")

    # --- tests ---------------------------------------------------------------------------------

    def test_shipped_exprs_unchanged(self):
        with open(self.rules_path) as f:
            loaded = yaml.safe_load(f)
        self.assertEqual(exprs(loaded), exprs(self.shipped_rules))
        # Prometheus loaded this copy: the same groups (it lists them sorted), with the same rules
        # in the same order.
        groups = self.api("rules")["groups"]
        self.assertEqual({g["name"]: (g["file"], [r["name"] for r in g["rules"]]) for g in groups},
                         {g["name"]: (self.rules_path, [r.get("record") or r.get("alert") for r in g["rules"]])
                          for g in self.shipped_rules["groups"]})

    def test_target_up_and_rules_evaluate(self):
        instance = f"127.0.0.1:{self.daemon.port}"

        def target_up():
            targets = [t for t in self.api("targets", state="active")["activeTargets"]
                       if t["labels"].get("job") == "tracegap"]
            self.assertEqual([(t["labels"]["instance"], t["health"], t["lastError"]) for t in targets],
                             [(instance, "up", "")])
            self.assertEqual(self.by('up{job="tracegap"}', "instance"), {instance: 1.0})
        self.eventually(target_up)

        def rules_ok():
            groups = self.api("rules")["groups"]
            self.assertTrue(groups, "Prometheus loaded no rule groups")
            bad = [(r["name"], r["health"], r.get("lastError", "")) for g in groups for r in g["rules"]
                   if r["health"] != "ok" or r.get("lastError")]
            self.assertEqual(bad, [])
        self.eventually(rules_ok)

    def test_unit_rules(self):
        """The unit rules as shipped: the services' unit (none here: "") mixes drops and restarts
        with propagation and pass-through, so its gap ratio is strictly between 0 and 1, above the
        alert's 10 %."""
        m = self.daemon.scrape()
        units = {dict(ls).get("unit", "") for (n, ls), _ in m.samples.items()
                 if n == tglib.OUT and dict(ls).get("comm") == "tg-fe-drop"}
        self.assertEqual(len(units), 1, f"unit of tg-fe-drop: {units}")
        unit = units.pop()

        def gap_ratio():
            v = self.by("unit:tracegap_gap_ratio:rate5m", "unit")
            self.assertIn(unit, v)
            self.assertTrue(0 < v[unit] < 1, v)
            w = self.by("unit:tracegap_inbound_without_context:ratio_rate5m", "unit")
            self.assertIn(unit, w)
            self.assertTrue(0 < w[unit] < 1, w)  # tg-be-drop's inbound is missing, the others' valid
        self.eventually(gap_ratio)

        def alert():
            firing = [a for a in self.api("alerts")["alerts"]
                      if a["labels"]["alertname"] == "TracegapContextGapRatioHigh" and a["state"] == "firing"]
            self.assertEqual([a["labels"].get("unit", "") for a in firing].count(unit), 1, firing)
        self.eventually(alert)

    def test_edge_gap_ratio(self):
        want = {("tg-fe-drop", self.server("drop")): 1.0,
                ("tg-fe-restart", self.server("restart")): 1.0,
                ("tg-fe-propagate", self.server("propagate")): 0.0,
                ("tg-nginx", self.nginx_server): 0.0}

        def check():
            got = self.by("client_server:tracegap_edge_gap_ratio:rate5m", "client", "server")
            self.assertEqual({k: got.get(k) for k in want}, want, got)
            # tg-client only originates requests (outcome origin): no context, so no sample.
            self.assertEqual([k for k in got if k[0] == "tg-client"], [])
        self.eventually(check)

    def test_workload_ratios(self):
        ours = 'workload=~"tg-(fe|be)-(propagate|drop|restart)|tg-nginx|tg-client"'
        want_drop = {"tg-fe-drop": 1.0, "tg-fe-restart": 0.0, "tg-fe-propagate": 0.0, "tg-nginx": 0.0}
        want_gap = {"tg-fe-drop": 1.0, "tg-fe-restart": 1.0, "tg-fe-propagate": 0.0, "tg-nginx": 0.0}
        # The frontends and nginx receive valid context from tg-client; tg-be-propagate from
        # tg-fe-propagate and nginx (passed through), tg-be-restart a new valid one; tg-be-drop none.
        want_coverage = {"tg-fe-drop": 1.0, "tg-fe-restart": 1.0, "tg-fe-propagate": 1.0, "tg-nginx": 1.0,
                         "tg-be-propagate": 1.0, "tg-be-restart": 1.0, "tg-be-drop": 0.0}

        def check():
            # The backends make no outbound requests and tg-client has no inbound context to
            # lose, nor inbound requests at all: no samples for them.
            self.assertEqual(self.by(f"workload:tracegap_drop_ratio:rate5m{{{ours}}}", "workload"), want_drop)
            self.assertEqual(self.by(f"workload:tracegap_gap_ratio:rate5m{{{ours}}}", "workload"), want_gap)
            self.assertEqual(self.by(f"workload:tracegap_inbound_context_coverage:ratio_rate5m{{{ours}}}",
                                     "workload"), want_coverage)
        self.eventually(check)

    def test_alerts(self):
        gap_edges = {("tg-fe-drop", self.server("drop")), ("tg-fe-restart", self.server("restart"))}
        good_edges = {("tg-fe-propagate", self.server("propagate")), ("tg-nginx", self.nginx_server)}

        def alerts(name):
            return [a for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == name]

        def firing():
            drops = alerts("TracegapWorkloadDropsContext")
            self.assertIn("tg-fe-drop", [a["labels"].get("workload") for a in drops if a["state"] == "firing"], drops)
            edges = alerts("TracegapEdgeLosesContext")
            got = {(a["labels"].get("client"), a["labels"].get("server")) for a in edges if a["state"] == "firing"}
            self.assertLessEqual(gap_edges, got, edges)
            return drops, edges
        drops, edges = self.eventually(firing)

        # Not for the workloads that propagate, pass through or restart (a restart is a gap, not a
        # drop), in any state; and not for their edges.
        self.assertEqual([a for a in drops if a["labels"].get("workload") in
                          ("tg-fe-propagate", "tg-fe-restart", "tg-nginx")], [])
        self.assertEqual([a for a in edges if (a["labels"].get("client"), a["labels"].get("server")) in good_edges], [])

        a = [a for a in drops if a["labels"].get("workload") == "tg-fe-drop"][0]
        self.assertEqual(a["labels"]["severity"], "warning")
        self.assertNotIn("namespace", a["labels"])
        self.assertEqual(a["annotations"]["summary"], "Workload tg-fe-drop drops trace context")
        self.assertTrue(a["annotations"]["description"].startswith(
            "100% of the outbound requests of workload 'tg-fe-drop'"), a["annotations"])
        a = [a for a in edges if a["labels"].get("client") == "tg-fe-drop"][0]
        self.assertEqual(a["annotations"]["summary"],
                         f"Trace context is lost on calls from tg-fe-drop to {self.server('drop')}")
        self.assertIn("Run `tracegap edges` on a node running tg-fe-drop", a["annotations"]["description"])

    def test_promql_doc_queries(self):
        with open(PROMQL_DOC) as f:
            blocks = re.findall(r"^```promql\n(.*?)^```$", f.read(), re.S | re.M)
        self.assertGreaterEqual(len(blocks), 6, "docs/promql.md: promql blocks")

        def check():
            for q in blocks:
                self.assertTrue(self.query(q), f"no result for docs/promql.md query:\n{q}")
        self.eventually(check)

        # The deployment view leaves names without a ReplicaSet pod hash as they are.
        deploy = [q for q in blocks if "label_replace" in q]
        self.assertTrue(deploy)
        for q in deploy:
            self.assertIn("tg-fe-drop", {labels.get("workload", labels.get("client")) for labels, _ in self.query(q)})


if __name__ == "__main__":
    tglib.main()
