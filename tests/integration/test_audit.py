#!/usr/bin/env python3
"""The audit log (issue 17, SECURITY.md I17): keyhole serve --audit-log
FILE --audit-key KEY appends one hash-chained JSON record per decision
and lifecycle event, signed checkpoints, and `keyhole audit verify`
proves the file whole or names the first broken record.

Checked here against the real processes: what each record says (its
digests recomputed from what the client sent and got); that the audit
log and the access log agree on every request; that every way of
tampering issue 17 names gives its own exit status; rotation by SIGUSR1
and by size continuing the chain across files; kill -9 of the parent
under load (every answer a client got is in the file, the restart
records the recovery, the log verifies); a line a crash cut short kept
and reported; a full disk holding the answers and refusing new requests
rather than forwarding what cannot be recorded (root: a tmpfs); and
what keyhole refuses at start (a key others can read, a directory
others can write, a file keyhole did not write)."""

import base64
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

EXIT = {"ok": 0, "usage": 2, "truncated": 3, "edited": 4, "removed": 5,
        "inserted": 6, "reordered": 7, "signature": 8, "files": 9}
BODY_AUDIT_503 = {"error": "Bridge audit log cannot be written."}


def sha(b):
    return hashlib.sha256(b).hexdigest()


def make_key(d, name="audit.key"):
    """An Ed25519 key as the man page says to make one; returns (private
    PEM path, public PEM path, raw public key)."""
    key = os.path.join(d, name)
    pub = key + ".pub"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub],
                   check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return key, pub, der[-32:]


def read_records(*paths):
    out = []
    for p in paths:
        with open(p, "rb") as f:
            for ln in f.read().splitlines():
                out.append(json.loads(ln))
    return out


def verify(files, pub=None, partial=False, via_keyhole=False):
    """keyhole audit verify: (exit status, stdout)."""
    prog = [khtest.binary("keyhole"), "audit"] if via_keyhole else \
        [khtest.binary("keyhole-audit")]
    args = prog + ["verify"] + (["--pubkey", pub] if pub else []) + \
        (["--partial"] if partial else []) + list(files)
    p = subprocess.run(args, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


class AuditTest(KeyholeTestCase):

    def setUp(self):
        self.d = khtest.make_tempdir(self)
        os.chmod(self.d, 0o700)
        self.key, self.pub, self.raw_pub = make_key(self.d)
        self.log = os.path.join(self.d, "audit.log")
        self.up = self.upstream()

    def start(self, extra=(), log=None, **kw):
        args = ["--audit-log", log or self.log, "--audit-key", self.key] + list(extra)
        return self.keyhole(self.up.url, args=args + list(kw.pop("args", ())), **kw)

    def assertVerifies(self, files, contains=(), partial=False):
        rc, out = verify(files, self.pub, partial)
        self.assertEqual(rc, 0, out)
        for c in contains:
            self.assertIn(c, out)
        return out

    # ------------------------------------------------------------------

    def test_every_decision_recorded_with_digests_and_verified(self):
        kh = self.start(run_id="run-audit-1")
        body = b'{"body":"hello"}'
        got = [kh.request("GET", "/api/agents/me"),
               kh.request("POST", "/api/issues/i1/comments?x=1&y=2", body=body),
               kh.request("GET", "/status/404"),
               kh.request("GET", "/api/admin/secrets"),
               kh.request("GET", "/api/agents/me", token="wrong-token-0123456789"),
               kh.send_raw(b"GET /api/agents/me HTTP/1.1\nHost: x\n\n")]
        self.assertEqual([r.status for r in got], [200, 200, 404, 403, 401, 400])
        self.assertEqual(kh.stop(), 0)
        out = self.assertVerifies([self.log], ["intact", "runs: 1 (--run-id: run-audit-1)",
                                               "(final: keyhole stopped)", "a --pubkey key"])
        # `keyhole audit verify` is the same program
        rc, out2 = verify([self.log], self.pub, via_keyhole=True)
        self.assertEqual((rc, out2), (0, out))

        recs = read_records(self.log)
        for i, r in enumerate(recs):
            self.assertEqual((r["v"], r["seq"]), (1, i + 1))
        self.assertEqual(recs[0]["prev"], "0" * 64)
        start = recs[0]
        self.assertEqual((start["type"], start["event"]), ("event", "start"))
        self.assertEqual(start["pubkey"], base64.b64encode(self.raw_pub).decode())
        self.assertEqual(start["key"], sha(self.raw_pub)[:32])
        self.assertEqual(start["policy"], sha(khtest.TEST_POLICY.encode()))
        self.assertEqual(start["runId"], "run-audit-1")
        self.assertEqual(recs[-1]["type"], "checkpoint")
        self.assertIs(recs[-1]["final"], True)
        events = [r["event"] for r in recs if r["type"] == "event"]
        self.assertEqual(events[:2], ["start", "child-start"])
        self.assertEqual(events[-3:], ["drain", "child-exit", "stop"])

        reqs = [r for r in recs if r["type"] == "request"]
        self.assertEqual(len(reqs), 6)
        fwd = [r for r in reqs if r["source"] == "parent"]
        self.assertEqual([(r["method"], r["path"], r["status"]) for r in fwd],
                         [("GET", "/api/agents/me", 200),
                          ("POST", "/api/issues/i1/comments", 200),
                          ("GET", "/status/404", 404)])
        lines = khtest.TEST_POLICY.splitlines()
        for r, resp, sent in zip(fwd, [got[0], got[1], got[2]], [b"", body, b""]):
            self.assertEqual(r["decision"], "forwarded")
            self.assertEqual(r["transport"], "http")
            self.assertTrue(re.match(r"^127\.0\.0\.1:\d+$", r["peer"]), r)
            self.assertEqual(r["reqBytes"], len(sent))
            self.assertEqual(r["reqSha256"], sha(sent))
            self.assertEqual(r["respBytes"], len(resp.body))
            self.assertEqual(r["respSha256"], sha(resp.body))
            self.assertEqual(r["upstreamStatus"], r["status"])
            self.assertEqual(r["outcome"], "ok")
            self.assertEqual(r["policy"], start["policy"])
            self.assertTrue(lines[r["rule"] - 1].startswith("allow %s " % r["method"]), r)
        self.assertIsNone(fwd[0]["query"])
        self.assertEqual(fwd[1]["query"], sha(b"x=1&y=2"))
        child = [r for r in reqs if r["source"] == "child"]
        self.assertEqual([(r["status"], r["decision"], r["rule"], r["reqSha256"])
                          for r in child], [(403, "refused", None, None),
                                            (401, "refused", None, None),
                                            (400, "refused", None, None)])
        # nothing of a body in the file
        with open(self.log, "rb") as f:
            self.assertNotIn(b"hello", f.read())

    def test_audit_and_access_log_agree_on_every_request(self):
        kh = self.start(text_logs=False, args=["--log-format", "json"])
        statuses = []
        for i in range(12):
            statuses.append(kh.request("GET", "/api/agents/me").status)
            statuses.append(kh.request("POST", "/api/issues/i%d/comments" % i,
                                       body=b'{"n":%d}' % i).status)
            statuses.append(kh.request("GET", "/api/admin/%d" % i).status)
            statuses.append(kh.request("GET", "/status/50%d" % (i % 4)).status)
            statuses.append(kh.request("GET", "/api/agents/me", token=None).status)
        kh.stop()
        access = []
        for ln in kh.stderr_lines():
            try:
                o = json.loads(ln)
            except ValueError:
                continue
            if o.get("event") == "request":
                access.append((o["method"], o["path"], o["status"],
                               "child" if o.get("id", 0) == 0 else "parent"))
        audit = [(r["method"], r["path"], r["status"], r["source"])
                 for r in read_records(self.log) if r["type"] == "request"]
        self.assertEqual(len(access), len(statuses))
        self.assertEqual(sorted(access), sorted(audit))
        self.assertVerifies([self.log])

    def test_queue_transport_recorded_as_such(self):
        from khqueue import QueueDir, new_id
        q = QueueDir(self)
        kh = self.start(extra=["--queue-dir", q.path], listen=None)
        rid = new_id()
        q.put(q.envelope(rid, method="POST", path="/api/issues/i9/comments",
                         body='{"a":1}', headers={"content-type": "application/json"}))
        self.assertEqual(q.wait_response(rid)["status"], 200)
        kh.stop()
        r = [r for r in read_records(self.log) if r["type"] == "request"]
        self.assertEqual(len(r), 1)
        self.assertEqual((r[0]["transport"], r[0]["peer"], r[0]["reqSha256"]),
                         ("queue", "queue:" + rid, sha(b'{"a":1}')))
        self.assertVerifies([self.log])

    def test_http2_v1_stream_recorded_as_such(self):
        """keyhole serve --connect CMD (http2_v1): each stream's request,
        forwarded or refused by the child, is in the chain as transport
        http2_v1, peer connect:<stream id>, with its digests."""
        from khconnect import keyhole_connect, wait_gateway
        kh = keyhole_connect(self, self.up, "exec " + shlex.quote(khtest.binary("keyhole-gateway")),
                             args=["--audit-log", self.log, "--audit-key", self.key])
        wait_gateway(kh)
        body = b'{"body":"over h2"}'
        got = [khtest.request(kh.gw_port, "GET", "/api/agents/me", token=kh.token),
               khtest.request(kh.gw_port, "POST", "/api/issues/i1/comments", token=kh.token,
                              body=body),
               khtest.request(kh.gw_port, "GET", "/api/admin/secrets", token=kh.token)]
        self.assertEqual([r.status for r in got], [200, 200, 403], kh.output_text()[-3000:])
        self.assertEqual(kh.stop(), 0)
        self.assertVerifies([self.log], ["intact"])
        reqs = [r for r in read_records(self.log) if r["type"] == "request"]
        self.assertEqual([(r["transport"], r["source"], r["method"], r["path"], r["status"])
                          for r in reqs],
                         [("http2_v1", "parent", "GET", "/api/agents/me", 200),
                          ("http2_v1", "parent", "POST", "/api/issues/i1/comments", 200),
                          ("http2_v1", "child", "GET", "/api/admin/secrets", 403)])
        for r in reqs:
            self.assertRegex(r["peer"], r"^connect:\d+$")
        self.assertEqual((reqs[1]["reqSha256"], reqs[1]["respSha256"]),
                         (sha(body), sha(got[1].body)))

    def test_reload_records_the_policy_that_decided(self):
        """A reload (SIGHUP) is in the chain with the policy before and
        after it; a request the old child finishes after the reload keeps
        the policy (and generation) it was checked under, one read after
        it names the new one; a failed reload is recorded with its reason
        and the policy that serves on; the retired child's exit is its
        normal end; the file and the key are the same throughout (one
        start record, one chain, verified with the same --pubkey)."""
        kh = self.start()
        with open(kh.policy_file, "rb") as f:
            pol_a = f.read()
        pol_b = pol_a + b"allow GET /api/extra\n"
        self.assertEqual(kh.request("GET", "/api/extra").status, 403)
        child0 = kh.child_pid()
        self.up.slow_seconds = 1.5
        slow = {}
        t = threading.Thread(target=lambda: slow.update(
            r=kh.request("GET", "/slow/old", timeout=15)))
        t.start()
        self.up.wait_requests(1, timeout=5)     # in flight upstream
        with open(kh.policy_file + ".new", "wb") as f:
            f.write(pol_b)
        os.rename(kh.policy_file + ".new", kh.policy_file)
        kh.signal(signal.SIGHUP)
        kh.wait_log("reload: generation 1 serves", timeout=10)
        self.assertEqual(kh.request("GET", "/api/extra").status, 200)
        t.join(15)
        self.assertEqual(slow["r"].status, 200)
        khtest.wait_until(lambda: not khtest.pid_alive(child0), 10, "the old child's exit")
        # A policy that does not compile: the reload fails, B serves on.
        with open(kh.policy_file, "w") as f:
            f.write("allow GET /x   frobnicate\n")
        kh.signal(signal.SIGHUP)
        kh.wait_log("reload failed: ", timeout=10)
        self.assertEqual(kh.request("GET", "/api/extra").status, 200)
        self.assertEqual(kh.stop(), 0)
        self.assertVerifies([self.log], ["intact"])

        recs = read_records(self.log)
        seq = {id(r): r["seq"] for r in recs}
        starts = [r for r in recs if r.get("event") == "start"]
        self.assertEqual(len(starts), 1)
        self.assertEqual((starts[0]["policy"], starts[0]["generation"]), (sha(pol_a), 0))
        self.assertEqual({r["key"] for r in recs if r["type"] == "checkpoint"},
                         {starts[0]["key"]})
        reloads = [r for r in recs if r.get("event") == "reload"]
        self.assertEqual([(r["result"], r["generation"], r["policyBefore"], r["policyAfter"])
                          for r in reloads],
                         [("ok", 1, sha(pol_a), sha(pol_b)),
                          ("failed", 1, sha(pol_b), sha(pol_b))])
        self.assertEqual(reloads[0]["from"], 0)
        self.assertIn(":1:", reloads[1]["error"])
        reqs = {(r["path"], r["status"]): r for r in recs if r["type"] == "request"}
        before = reqs[("/api/extra", 403)]          # the child's refusal under A
        old = reqs[("/slow/old", 200)]              # forwarded under A, ended after the swap
        new = [r for r in recs if r["type"] == "request" and r["path"] == "/api/extra"
               and r["status"] == 200]
        self.assertEqual((before["source"], before["policy"], before["generation"]),
                         ("child", sha(pol_a), 0))
        self.assertEqual((old["source"], old["policy"], old["generation"]),
                         ("parent", sha(pol_a), 0))
        self.assertGreater(seq[id(old)], seq[id(reloads[0])])
        self.assertEqual([(r["policy"], r["generation"]) for r in new],
                         [(sha(pol_b), 1), (sha(pol_b), 1)])
        self.assertGreater(seq[id(new[0])], seq[id(reloads[0])])
        exits = [r for r in recs if r.get("event") == "child-exit"]
        self.assertEqual([(r["pid"], r["role"], r["how"]) for r in exits
                          if r["pid"] == child0], [(child0, "retired", "status 0")])
        self.assertEqual([r for r in recs if r.get("event") == "child-restart"], [])
        starts = [r for r in recs if r.get("event") == "child-start"]
        self.assertEqual([(r["generation"], r["role"]) for r in starts],
                         [(0, "current"), (1, "candidate"), (2, "candidate")])

    def _tamper_log(self):
        """A real log with a checkpoint every 5 records, and its lines."""
        kh = self.start(extra=["--audit-checkpoint-records", "5"])
        for i in range(6):
            kh.request("POST", "/api/issues/i%d/comments" % i, body=b'{"n":1}')
            kh.request("GET", "/api/admin")
        kh.stop()
        self.assertVerifies([self.log])
        with open(self.log, "rb") as f:
            return f.read().splitlines(keepends=True)

    def _write(self, name, lines):
        p = os.path.join(self.d, name)
        with open(p, "wb") as f:
            f.write(b"".join(lines))
        return p

    def assertVerdict(self, files, kind, where=None, pub=None):
        rc, out = verify(files, pub or self.pub)
        self.assertEqual(rc, EXIT[kind], out)
        self.assertIn(": %s: " % kind, out.splitlines()[0])
        if where is not None:
            self.assertTrue(out.startswith("keyhole-audit: %s: " % where), out)
        return out

    def test_each_kind_of_tampering_has_its_exit_status(self):
        ls = self._tamper_log()
        n = len(ls)
        self.assertGreater(n, 20)
        ck = [i for i, ln in enumerate(ls) if b'"type":"checkpoint"' in ln]
        self.assertGreaterEqual(len(ck), 3)
        req = [i for i, ln in enumerate(ls) if b'"source":"parent"' in ln]
        i = req[1]
        # edited: a forwarded request's status made 500
        ed = list(ls)
        ed[i] = ed[i].replace(b'"status":200', b'"status":500')
        self.assertNotEqual(ed[i], ls[i])
        p = self._write("edited", ed)
        self.assertVerdict([p], "edited", "%s:%d" % (p, i + 1))
        # removed
        p = self._write("removed", ls[:i] + ls[i + 1:])
        self.assertVerdict([p], "removed", "%s:%d" % (p, i + 1))
        # inserted: a copy of an earlier record
        p = self._write("inserted", ls[:i] + [ls[2]] + ls[i:])
        self.assertVerdict([p], "inserted", "%s:%d" % (p, i + 1))
        # reordered: two records swapped
        p = self._write("reordered", ls[:i] + [ls[i + 1], ls[i]] + ls[i + 2:])
        self.assertVerdict([p], "reordered", "%s:%d" % (p, i + 1))
        # truncated after the last checkpoint: the final one and the
        # stop record cut off; and everything after a middle checkpoint
        p = self._write("truncated", ls[:-3])
        self.assertVerdict([p], "truncated")
        p = self._write("truncated2", ls[:ck[1] + 1])
        out = self.assertVerdict([p], "truncated", "%s:%d" % (p, ck[1] + 1))
        self.assertIn("not the final one", out)
        # signature: an edit the forger hides by re-chaining every record
        # after it; only the next checkpoint's signature catches it
        fo = list(ed)
        for k in range(i + 1, n):
            h = sha(fo[k - 1].rstrip(b"\n")).encode()
            j = fo[k].index(b'"prev":"') + 8
            fo[k] = fo[k][:j] + h + fo[k][j + 64:]
        first_ck_after = min(c for c in ck if c > i)
        p = self._write("forged", fo)
        self.assertVerdict([p], "signature", "%s:%d" % (p, first_ck_after + 1))
        # the real log, checked against another key
        other = make_key(self.d, "other.key")[1]
        self.assertVerdict([self.log], "signature", pub=other)
        # and without --pubkey a forger's own key is not enough either when
        # the start record still names the real one
        rc, out = verify([p])
        self.assertEqual(rc, EXIT["signature"], out)

    def test_rotation_by_signal_continues_the_chain_and_order_matters(self):
        kh = self.start()
        kh.request("GET", "/api/agents/me")
        time.sleep(0.1)
        old = self.log + ".1"
        os.rename(self.log, old)
        kh.signal(signal.SIGUSR1)
        kh.wait_log("SIGUSR1", timeout=5)
        kh.request("GET", "/api/agents/me")
        kh.stop()
        a, b = read_records(old), read_records(self.log)
        self.assertEqual(a[-1]["type"], "checkpoint")
        self.assertIs(a[-1]["final"], False)
        self.assertEqual((b[0]["event"], b[0]["reason"]), ("rotate", "signal"))
        with open(old, "rb") as f:
            self.assertEqual(b[0]["prev"], sha(f.read().splitlines()[-1]))
        self.assertEqual(b[0]["seq"], a[-1]["seq"] + 1)
        self.assertVerifies([old, self.log], ["2 file(s): intact"])
        self.assertVerdict([self.log, old], "files")
        # the new file alone: its chain began in a file not given
        self.assertVerdict([self.log], "removed")
        self.assertVerifies([self.log], partial=True)

    def test_rotation_by_size(self):
        kh = self.start(extra=["--audit-max-bytes", "65536"])
        for i in range(120):
            self.assertEqual(kh.request("POST", "/api/issues/i%d/comments" % i,
                                        body=b'{"pad":"%s"}' % (b"x" * 200)).status, 200)
            kh.request("GET", "/api/admin/%s" % ("y" * 200))
        kh.stop()
        rotated = sorted(glob.glob(self.log + ".*"))
        self.assertGreaterEqual(len(rotated), 2, rotated)
        for p in rotated:
            self.assertTrue(re.match(r".*\.\d{12}$", p), p)
            self.assertLess(os.path.getsize(p), 65536 + 16384)
        self.assertFalse(os.path.exists(self.log + ".new"))
        files = rotated + [self.log]
        out = self.assertVerifies(files, ["%d file(s): intact" % len(files)])
        self.assertIn("forwarded 120", out)
        self.assertVerdict([rotated[1], rotated[0]] + rotated[2:] + [self.log], "files")

    def test_kill9_under_load_then_restart_recovers(self):
        kh = self.start()
        answered = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(n):
            k = 0
            while not stop.is_set():
                k += 1
                path = "/api/issues/c%d-%d/comments" % (n, k)
                try:
                    r = khtest.request(kh.port, "POST", path, token=kh.token,
                                       body=b'{"k":1}', timeout=3)
                except (OSError, AssertionError):
                    continue
                with lock:
                    answered.append((path, r.status))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        khtest.wait_until(lambda: len(answered) >= 100, 20, "100 answers")
        kh.kill()                     # SIGKILL of the parent, under load
        stop.set()
        for t in threads:
            t.join(10)
        with lock:
            done = list(answered)
        # Every answer a client got has its record in the file: records
        # are written before the answers they describe go out.
        recs = {(r["path"], r["status"]) for r in read_records(self.log)
                if r.get("type") == "request"}
        missing = [a for a in done if a not in recs]
        self.assertEqual(missing, [], "answered without a record")
        rc, out = verify([self.log], self.pub)
        self.assertEqual(rc, EXIT["truncated"], out)
        kh2 = self.start()
        self.assertEqual(kh2.request("GET", "/api/agents/me").status, 200)
        kh2.stop()
        recs = read_records(self.log)
        rec = [r for r in recs if r.get("event") == "recover"]
        self.assertEqual(len(rec), 1)
        self.assertEqual(rec[0]["tornBytes"], 0)
        self.assertVerifies([self.log], ["runs: 2", "recoveries after a crash: 1",
                                         "keyhole resumed a file it had not closed"])

    def test_line_cut_short_by_a_crash_is_kept_and_reported(self):
        kh = self.start()
        kh.request("GET", "/api/agents/me")
        time.sleep(0.1)
        kh.kill()
        torn = b'{"v":1,"seq":9,"time":"2026-12-06T10:00:00.0'
        with open(self.log, "ab") as f:
            f.write(torn)
        rc, out = verify([self.log], self.pub)
        self.assertEqual(rc, EXIT["truncated"], out)
        self.assertIn("cut short", out)
        kh2 = self.start()
        kh2.wait_log("recording the recovery")
        kh2.stop()
        with open(self.log, "rb") as f:
            data = f.read()
        self.assertIn(torn + b"\n", data)
        rec = [r for r in read_records_lenient(self.log) if r.get("event") == "recover"]
        self.assertEqual((rec[0]["tornBytes"], rec[0]["tornSha256"]), (len(torn), sha(torn)))
        self.assertVerifies([self.log], ["recoveries after a crash: 1",
                                         "%d bytes cut short by the crash, is kept" % len(torn)])
        # the kept line altered afterwards is an edit
        p = self._write("altered", [data.replace(torn, torn.replace(b"10:00", b"11:00"))])
        self.assertVerdict([p], "edited")

    def test_child_lifecycle_and_budget_recorded(self):
        kh = self.start(policy="max 2\n" + khtest.TEST_POLICY)
        for i in range(2):
            self.assertEqual(kh.request("POST", "/api/issues/i1/comments",
                                        body=b'{"a":1}').status, 200)
        child = kh.child_pid()
        os.kill(child, signal.SIGKILL)
        kh.child_pid(exclude={child}, timeout=5)
        kh.stop()
        ev = [(r["event"], r.get("pid"), r.get("how")) for r in read_records(self.log)
              if r["type"] == "event"]
        names = [e[0] for e in ev]
        self.assertIn("budget", names)
        self.assertIn(("child-exit", child, "signal 9"), ev)
        self.assertIn("child-restart", names)
        self.assertEqual(names.count("child-start"), 2)
        self.assertVerifies([self.log])

    def test_start_refuses_what_it_cannot_trust(self):
        def refused(args, what, env=None):
            rc, _, err = khtest.run_keyhole(
                ["serve", "--policy", khtest.PAPERCLIP_POLICY, "--upstream", self.up.url,
                 "--credential-file", cred, "--listen", "tcp:127.0.0.1:0"] + args,
                env=dict({"PAPERCLIP_BRIDGE_TOKEN": khtest.new_token()}, **(env or {})))
            self.assertNotEqual(rc, 0, what)
            return err
        cred = os.path.join(self.d, "cred")
        with open(cred, "w") as f:
            f.write(khtest.new_credential())
        os.chmod(cred, 0o600)
        err = refused(["--audit-log", self.log], "no key")
        self.assertIn("--audit-key", err)
        os.chmod(self.key, 0o640)
        err = refused(["--audit-log", self.log, "--audit-key", self.key], "key 0640")
        self.assertIn("accessible by group or others", err)
        os.chmod(self.key, 0o600)
        rsa = os.path.join(self.d, "rsa.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt",
                        "rsa_keygen_bits:1024", "-out", rsa], check=True, capture_output=True)
        os.chmod(rsa, 0o600)
        err = refused(["--audit-log", self.log, "--audit-key", rsa], "RSA key")
        self.assertIn("not an Ed25519 private key", err)
        shared = os.path.join(self.d, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        err = refused(["--audit-log", os.path.join(shared, "a.log"), "--audit-key", self.key],
                      "world-writable directory")
        self.assertIn("may be written by another user", err)
        with open(self.log, "wb") as f:
            f.write(b"some other file\n")
        err = refused(["--audit-log", self.log, "--audit-key", self.key], "foreign file")
        self.assertIn("move the file aside", err)
        with open(self.log, "rb") as f:
            self.assertEqual(f.read(), b"some other file\n", "a file it refused was changed")


def read_records_lenient(path):
    out = []
    with open(path, "rb") as f:
        for ln in f.read().splitlines():
            try:
                out.append(json.loads(ln))
            except ValueError:
                pass
    return out


class AuditFullDiskTest(KeyholeTestCase):
    """A full disk: the answer waits for its record, and nothing new is
    forwarded while the audit log cannot be written (root: a tmpfs)."""

    def test_full_disk_holds_answers_and_refuses_new_requests(self):
        khtest.require_root("a tmpfs for the audit log (mount)")
        d = khtest.make_tempdir(self)
        os.chmod(d, 0o700)
        key, pub, _ = make_key(d)
        mnt = os.path.join(d, "a")
        os.mkdir(mnt, 0o700)
        up = self.upstream()
        log = os.path.join(mnt, "audit.log")
        kh = khtest.Keyhole(self, up.url, start=False,
                            args=["--audit-log", log, "--audit-key", key])
        kh.argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                   'mount -t tmpfs -o size=256k,mode=0700 khtest-audit "$0" && exec "$@"',
                   mnt] + kh.argv
        kh.start()
        kh.wait_ready()
        self.assertEqual(khtest.proc_comm(kh.pid), "keyhole")
        seen = "/proc/%d/root%s" % (kh.pid, mnt)
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        filler = os.path.join(seen, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        for size in (4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
        os.close(fd)
        self.assertEqual(os.statvfs(seen).f_bavail, 0, "the tmpfs is not full")
        # The file's last page may still take a few records: POSTs until
        # one gets no answer, each answered one being in the file already.
        answer = {}

        def post(k):
            answer[k] = kh.request("POST", "/api/issues/i%d/comments" % k,
                                   body=b'{"a":1}', timeout=20)
            with open(os.path.join(seen, "audit.log"), "rb") as f:
                answer["log%d" % k] = f.read()
        held = None
        for k in range(12):
            t = threading.Thread(target=post, args=(k,))
            t.start()
            up.wait_requests(k + 2)
            t.join(1.0)
            if t.is_alive():
                held = k
                break
            self.assertIn(b'"path":"/api/issues/i%d/comments"' % k, answer["log%d" % k])
        self.assertIsNotNone(held, "the audit log never failed on a full tmpfs")
        self.assertNotIn(held, answer, "answered although its record could not be written")
        r = kh.request("GET", "/api/agents/me")
        self.assertEqual((r.status, r.json()), (503, BODY_AUDIT_503))
        time.sleep(0.3)
        self.assertEqual(up.count(), held + 2, "forwarded while the audit log cannot be written")
        os.unlink(filler)
        t.join(10)
        self.assertEqual(answer[held].status, 200)
        self.assertIn(b'"path":"/api/issues/i%d/comments"' % held, answer["log%d" % held],
                      "the answer came before its record was in the file")
        kh.wait_log("can be written again")
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        self.assertEqual(kh.count_lines(lambda ln: "audit: write of" in ln), 1)
        # The chain held through it: a checkpoint (SIGUSR1 with the file in
        # place writes one), then the file as it is, before the tmpfs goes.
        kh.signal(signal.SIGUSR1)
        kh.wait_log("was not moved")
        copy = os.path.join(d, "copy.log")
        shutil.copy(os.path.join(seen, "audit.log"), copy)
        kh.stop()
        rc, out = verify([copy], pub)
        self.assertEqual(rc, EXIT["truncated"], out)
        self.assertIn("not the final one", out)
        reqs = [(r["decision"], r.get("reason"), r["status"]) for r in read_records(copy)
                if r["type"] == "request"]
        self.assertEqual(reqs, [("forwarded", None, 200)] * (held + 2) +
                         [("refused", "audit-unavailable", 503), ("forwarded", None, 200)])

if __name__ == "__main__":
    khtest.main()
