#!/usr/bin/env python3
"""The operator's metrics (issue 16 §4): Prometheus text on a listener of
its own (--metrics), served by keyhole-net and rendered by the parent,
never reachable on the sandbox's listener.

  - the real Prometheus from Debian (/usr/bin/prometheus) scrapes keyhole
    every second and its HTTP API returns keyhole's series, with the
    values the test's traffic made;
  - `promtool check metrics` accepts the exposition;
  - every metric keyhole exposes is documented in keyhole(8) (and every
    documented one is exposed);
  - the sandbox's listener answers /metrics like any other path (403:
    not in the policy), the metrics listener answers nothing but GET
    /metrics, a unix: metrics socket gets its own mode, and the
    counters follow what happened: forwarded requests by rule line and
    status class, child refusals, the child's rate refusals, a protocol
    violation, a restart, the policy's SHA-256.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from khqueue import QueueDir, keyhole_queue, new_id  # noqa: E402

POLICY = """\
allow GET /api/agents/me
allow POST /api/issues/*/comments rate 2/min
allow GET /status/*
"""


def wire_version():
    """KH_WIRE_VERSION, as src/common/wire.h defines it."""
    with open(os.path.join(khtest.SRC, "src", "common", "wire.h")) as f:
        return int(re.search(r"^#define KH_WIRE_VERSION (\d+)", f.read(), re.M).group(1))


def http_get(port, path, timeout=5):
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    c.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    data = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    c.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode(), body.decode()


def parse_exposition(text):
    """{(name, frozenset(labels)): value} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)', line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric_families(text):
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


class MetricsTest(KeyholeTestCase):

    def start(self, args=(), policy=POLICY, **kw):
        self.up = self.upstream()
        self.kh = self.keyhole(self.up.url, policy=policy,
                               args=["--metrics", "tcp:127.0.0.1:0"] + list(args), **kw)
        m = self.kh.wait_log(lambda ln: "metrics on http://127.0.0.1:" in ln)[0]
        self.mport = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)", m).group(1))
        return self.kh

    def scrape(self):
        status, head, body = http_get(self.mport, "/metrics")
        self.assertEqual(status, 200, head)
        self.assertIn("content-type: text/plain; version=0.0.4", head)
        return body

    def test_counters_follow_the_traffic(self):
        kh = self.start()
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        self.assertEqual(kh.request("GET", "/status/503").status, 503)
        self.assertEqual(kh.request("GET", "/nowhere").status, 403)
        self.assertEqual(kh.request("GET", "/api/agents/me", token="wrong-token-0123456789").status, 401)
        for _ in range(3):      # rate 2/min: the third is the child's 429
            kh.request("POST", "/api/issues/I-1/comments", body=b'{"body":"x"}',
                       headers=[("Content-Type", "application/json")])
        s = parse_exposition(self.scrape())
        req = lambda rule, cls, tr="http": s.get(("keyhole_requests_total", frozenset(
            {("transport", tr), ("rule", rule), ("class", cls)})), 0)
        self.assertEqual(req("1", "2xx"), 1, s)
        self.assertEqual(req("3", "5xx"), 1, s)
        self.assertEqual(req("2", "2xx"), 2, s)
        self.assertEqual(req("none", "4xx"), 3, s)     # 403, 401, 429
        self.assertEqual(s[("keyhole_limit_refusals_total",
                            frozenset({("limit", "rate"), ("by", "child")}))], 1)
        self.assertEqual(s[("keyhole_upstream_latency_seconds_count", frozenset())], 4)
        self.assertEqual(s[("keyhole_request_bytes_total", frozenset())], 24)
        self.assertGreaterEqual(s[("keyhole_connections_accepted_total", frozenset())], 7)
        with open(kh.policy_file, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        self.assertEqual(s[("keyhole_policy_info", frozenset({("sha256", sha)}))], 1)
        self.assertEqual(s[("keyhole_build_info", frozenset(
            {("version", "0.1.0"), ("wire", str(wire_version()))}))], 1)

    def test_a_reload_is_counted_and_the_policy_hash_follows(self):
        from test_reload import hup, write
        kh = self.start()
        sha = lambda text: hashlib.sha256(text.encode()).hexdigest()
        reloads = lambda s, res: s[("keyhole_reloads_total", frozenset({("result", res)}))]
        s = parse_exposition(self.scrape())
        self.assertEqual((reloads(s, "success"), reloads(s, "failure")), (0, 0))
        self.assertEqual(s[("keyhole_policy_info", frozenset({("sha256", sha(POLICY))}))], 1)
        new = POLICY + "allow GET /api/extra\n"
        write(kh.policy_file, new)
        self.assertTrue(hup(kh)["reloadOk"])
        self.assertEqual(kh.request("GET", "/api/extra").status, 200)
        s = parse_exposition(self.scrape())      # the new child answers it
        self.assertEqual((reloads(s, "success"), reloads(s, "failure")), (1, 0))
        info = [k for k in s if k[0] == "keyhole_policy_info"]
        self.assertEqual(info, [("keyhole_policy_info", frozenset({("sha256", sha(new))}))])
        self.assertEqual(s[("keyhole_requests_total", frozenset(
            {("transport", "http"), ("rule", "4"), ("class", "2xx")}))], 1)
        # Refused: counted, and the hash stays the one in force.
        write(kh.policy_file, "allow GET /x frobnicate\n")
        self.assertFalse(hup(kh)["reloadOk"])
        s = parse_exposition(self.scrape())
        self.assertEqual((reloads(s, "success"), reloads(s, "failure")), (1, 1))
        self.assertEqual(s[("keyhole_policy_info", frozenset({("sha256", sha(new))}))], 1)

    def test_restart_and_violation_are_counted(self):
        kh = self.start()
        child = kh.child_pid()
        os.kill(child, signal.SIGKILL)
        kh.wait_log(lambda ln: "started child" in ln, count=2)
        khtest.wait_until(lambda: kh.request("GET", "/api/agents/me").status == 200, 10,
                          "the restarted child")
        s = parse_exposition(self.scrape())
        self.assertEqual(s[("keyhole_child_restarts_total", frozenset())], 1)
        self.assertEqual(s[("keyhole_child_protocol_violations_total", frozenset())], 0)

    def test_sandbox_listener_does_not_serve_metrics(self):
        kh = self.start()
        r = kh.request("GET", "/metrics")
        self.assertJsonError(r, 403, khtest.body_403("GET", "/metrics"))
        self.assertNotIn(b"keyhole_", r.body)

    def test_metrics_listener_answers_get_metrics_only(self):
        self.start()
        self.assertEqual(http_get(self.mport, "/")[0], 404)
        self.assertEqual(http_get(self.mport, "/metrics/x")[0], 404)
        for raw, want in ((b"POST /metrics HTTP/1.1\r\n\r\n", 405),
                          (b"GET /metrics HTTP/2.0\r\n\r\n", 400),
                          (b"GET metrics HTTP/1.1\r\n\r\n", 400)):
            c = socket.create_connection(("127.0.0.1", self.mport), timeout=5)
            c.sendall(raw)
            self.assertIn(b" %d " % want, c.recv(4096).split(b"\r\n")[0], raw)
            c.close()
        # An endless head is cut at 4 KiB.
        c = socket.create_connection(("127.0.0.1", self.mport), timeout=5)
        c.sendall(b"GET /metrics HTTP/1.1\r\nx: " + b"a" * 5000)
        self.assertIn(b" 431 ", c.recv(4096))
        c.close()
        # Still serving.
        self.assertIn("keyhole_build_info", self.scrape())

    def test_unix_metrics_socket_has_its_own_mode(self):
        up = self.upstream()
        d = tempfile.mkdtemp(prefix="kh-metrics-")
        os.chmod(d, 0o755)
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "metrics.sock")
        kh = self.keyhole(up.url, args=["--metrics", "unix:" + path, "--unix-mode", "0666"])
        self.assertEqual(khtest.file_mode(path), 0o600)
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(5)
        c.connect(path)
        c.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK"), data[:200])
        kh.stop()
        self.assertFalse(os.path.exists(path))

    def test_queue_requests_are_counted_as_queue(self):
        up = self.upstream()
        q = QueueDir(self)
        kh = keyhole_queue(self, up.url, q, policy=POLICY,
                           args=["--metrics", "tcp:127.0.0.1:0"])
        m = kh.wait_log(lambda ln: "metrics on http://127.0.0.1:" in ln)[0]
        self.mport = int(re.search(r":(\d+)/metrics", m).group(1))
        rid = new_id()
        q.put(q.envelope(rid))
        q.wait_response(rid)
        s = parse_exposition(self.scrape())
        self.assertEqual(s[("keyhole_requests_total", frozenset(
            {("transport", "queue"), ("rule", "1"), ("class", "2xx")}))], 1)

    def test_promtool_accepts_the_exposition(self):
        if shutil.which("promtool") is None:
            self.fail("promtool is needed: scripts/deps.sh installs prometheus")
        kh = self.start()
        kh.request("GET", "/api/agents/me")
        p = subprocess.run(["promtool", "check", "metrics"], input=self.scrape().encode(),
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual((p.stdout + p.stderr).strip(), b"")

    def test_every_metric_is_documented(self):
        self.start()
        exposed = metric_families(self.scrape())
        text = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", "-rLL=2000n",
                               os.path.join(khtest.SRC, "docs", "keyhole.8")],
                              capture_output=True, check=True).stdout.decode()
        m = re.search(r"\nMETRICS\n(.*?)\n[A-Z][A-Z ]+\n", text, re.S)
        self.assertIsNotNone(m, "keyhole(8) has no METRICS section")
        documented = set(re.findall(r"\b(keyhole_[a-z_]+)\b", m.group(1)))
        documented = {d for d in documented if not d.endswith(("_bucket", "_sum", "_count"))}
        self.assertEqual(exposed - documented, set(), "exposed, not in keyhole(8)")
        self.assertEqual(documented - exposed, set(), "in keyhole(8), not exposed")

    def test_real_prometheus_scrapes_keyhole(self):
        prom = shutil.which("prometheus")
        if prom is None:
            self.fail("prometheus is needed: scripts/deps.sh installs it")
        kh = self.start()
        for _ in range(3):
            kh.request("GET", "/api/agents/me")
        d = khtest.make_tempdir(self)
        web = khtest.free_port()
        with open(os.path.join(d, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: keyhole\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % self.mport)
        log = open(os.path.join(d, "prometheus.log"), "wb")
        p = subprocess.Popen([prom, "--config.file", os.path.join(d, "prometheus.yml"),
                              "--storage.tsdb.path", os.path.join(d, "data"),
                              "--web.listen-address", "127.0.0.1:%d" % web],
                             stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

        def stop():
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.addCleanup(stop)

        def query(expr):
            url = "http://127.0.0.1:%d/api/v1/query?%s" % (
                web, urllib.parse.urlencode({"query": expr}))
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    doc = json.load(r)
            except OSError:
                return None
            if doc.get("status") != "success":
                return None
            return doc["data"]["result"]

        res = khtest.wait_until(
            lambda: query('keyhole_requests_total{rule="1",class="2xx"}'), 60,
            "Prometheus to scrape keyhole", interval=0.5)
        self.assertEqual(res[0]["metric"]["transport"], "http")
        self.assertEqual(res[0]["metric"]["job"], "keyhole")
        self.assertEqual(float(res[0]["value"][1]), 3)
        up = query('up{job="keyhole"}')
        self.assertEqual(float(up[0]["value"][1]), 1)
        # The scrape's own health, as Prometheus saw it: no sample refused.
        targets = json.load(urllib.request.urlopen(
            "http://127.0.0.1:%d/api/v1/targets" % web, timeout=5))
        t = targets["data"]["activeTargets"][0]
        self.assertEqual(t["health"], "up", t)
        self.assertEqual(t["lastError"], "", t)
        names = query('count by (__name__) ({job="keyhole",__name__=~"keyhole_.*"})')
        self.assertGreaterEqual(len(names), 20, names)


if __name__ == "__main__":
    khtest.main()
