#!/usr/bin/env python3
"""Reload (SIGHUP, `keyhole reload`, the unit's ExecReload=): issue 16
items 1 and 2, SECURITY.md I18.

- A new policy, --var-file binding, credential and bridge token take
  effect for new requests without a failed one; nothing is swapped until
  the new child's table is accepted: a policy that does not compile, a
  bad --var-file, an unreadable credential leave the old configuration in
  force, say FILE:LINE:COL: message in the log, the ready file and
  systemd's STATUS= (RELOADING=1 ... READY=1), and `keyhole reload` exits 1.
- The old child stops accepting, finishes what it has (a request in
  flight answered, with `connection: close`; a kept-alive connection's
  one next request, then closed) and exits; its requests are checked
  against its own generation (the access line names it: gen=N).
- `max` and `rate` carry over.  A rotated credential goes upstream on new
  requests, an in-flight request keeps the old one, whose memory is then
  wiped.  A rotated token is required from every request read after the
  reload, also on a connection opened before it.
- queue_v1: the new child claims request files only once the old one has
  exited.
- A hostile child: a retired child's request is judged by its own (old)
  policy; a candidate that breaks the protocol fails the reload only; a
  retired child that never leaves is killed at --drain-ms.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khqueue  # noqa: E402
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

POLICY_A = """\
allow GET /api/agents/me
allow POST /api/issues/*/comments
allow GET /slow/*
allow GET /status/*
"""
# B: one more route (/api/extra), one fewer (/status/*).
POLICY_B = """\
allow GET /api/agents/me
allow POST /api/issues/*/comments
allow GET /slow/*
allow GET /api/extra
"""
# Line 3, column 16: an unknown constraint.
POLICY_BAD = """\
allow GET /api/agents/me
allow GET /api/extra
allow GET /x   frobnicate
"""


def ready(kh):
    with open(kh.ready_path) as f:
        return json.load(f)


def write(path, text, mode=0o600):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def hup(kh, timeout=10.0):
    """SIGHUP, then wait for the attempt's outcome in the ready file."""
    before = ready(kh).get("reloads", 0)
    kh.signal(signal.SIGHUP)
    return khtest.wait_until(
        lambda: (lambda r: r if r.get("reloads", 0) > before else None)(ready(kh)),
        timeout, "a reload outcome in the ready file (stderr:\n%s)" % kh.output_text()[-3000:])


def access(kh, path):
    """The access lines for path: [(status, gen)]."""
    out = []
    for ln in kh.stderr_lines():
        m = re.search(r" path=(\S+) rule=.* status=(\d+) bytes_in=.* gen=(\d+)$", ln)
        if m and m.group(1) == path:
            out.append((int(m.group(2)), int(m.group(3))))
    return out


def wait_access(kh, path, want):
    """The access lines are written when the parent reads them (a
    denial comes from the child a moment after its answer)."""
    try:
        khtest.wait_until(lambda: access(kh, path) == want, 3, "access lines")
    except AssertionError:
        raise AssertionError("access lines for %s: %r, want %r" % (path, access(kh, path), want))


class Notify:
    """A NOTIFY_SOCKET for keyhole's sd_notify datagrams."""

    def __init__(self, tc):
        d = khtest.make_tempdir(tc)
        self.path = os.path.join(d, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        tc.addCleanup(self.sock.close)
        self.msgs = []

    def drain(self):
        while True:
            try:
                self.msgs.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return self.msgs


class ReloadTest(KeyholeTestCase):
    def setUp(self):
        self.up = self.upstream()

    def test_sighup_swaps_the_policy_for_new_requests(self):
        kh = self.keyhole(self.up.url, policy=POLICY_A)
        self.assertEqual(kh.request("GET", "/api/extra").status, 403)
        self.assertEqual(kh.request("GET", "/status/200").status, 200)
        child0 = kh.child_pid()
        # A kept-alive connection keeps the old child a moment after the
        # reload (without any it exits at once).
        kept = kh.conn()
        kept.send(khtest.build_request("GET", "/api/agents/me", token=kh.token))
        self.assertEqual(kept.read_response().status, 200)
        write(kh.policy_file, POLICY_B)
        r = hup(kh)
        self.assertTrue(r["reloadOk"], r)
        self.assertEqual((r["generation"], r["reloads"], r["reloadsFailed"]), (1, 1, 0))
        self.assertEqual(kh.request("GET", "/api/extra").status, 200)
        self.assertEqual(kh.request("GET", "/status/200").status, 403)
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        # The reload was reported done only once the old child had closed
        # its listeners (MSG_RETIRED): from then on every new connection
        # is the new child's.  Its line comes through the same socket
        # right before that frame.
        lines = kh.stderr_lines()
        retired = [i for i, ln in enumerate(lines)
                   if "keyhole-net[%d]" % child0 in ln and "retired by a reload" in ln]
        done = [i for i, ln in enumerate(lines) if "reload: generation 1 serves" in ln]
        self.assertTrue(retired and done and retired[0] < done[0], "\n".join(lines))
        # The old child has exited, one child serves.
        khtest.wait_until(lambda: not khtest.pid_alive(child0), 5, "the old child's exit")
        self.assertEqual(len(kh.children("keyhole-net")), 1)
        # Each request was decided by exactly one generation, and says so.
        wait_access(kh, "/api/extra", [(403, 0), (200, 1)])
        wait_access(kh, "/status/200", [(200, 0), (403, 1)])
        # The run's start time stays in the ready file.
        self.assertEqual(r["pid"], kh.pid)

    def test_a_policy_that_does_not_compile_changes_nothing(self):
        note = Notify(self)
        kh = self.keyhole(self.up.url, policy=POLICY_A,
                          env={"NOTIFY_SOCKET": note.path})
        child0 = kh.child_pid()
        write(kh.policy_file, POLICY_BAD)
        r = hup(kh)
        where = "%s:3:16: " % kh.policy_file
        self.assertFalse(r["reloadOk"], r)
        self.assertEqual((r["generation"], r["reloadsFailed"]), (0, 1))
        self.assertTrue(r["reloadError"].startswith(where), r)
        # The old policy is in force, served by the same child.
        self.assertEqual(kh.request("GET", "/status/200").status, 200)
        self.assertEqual(kh.request("GET", "/api/extra").status, 403)
        self.assertEqual(kh.children("keyhole-net"), [child0])
        kh.wait_log("reload failed: " + where)
        self.assertEqual(kh.count_lines(lambda ln: "restarting child" in ln), 0)
        # systemd: RELOADING=1, then READY=1 with what went wrong.
        msgs = note.drain()
        i = next(i for i, m in enumerate(msgs) if "RELOADING=1" in m)
        self.assertIn("MONOTONIC_USEC=", msgs[i])
        after = [m for m in msgs[i + 1:] if "READY=1" in m]
        self.assertTrue(after, msgs)
        self.assertIn("STATUS=reload failed: " + where, after[0])
        self.assertNotIn("\n", after[0].split("STATUS=", 1)[1])
        # Fixed, it loads; systemd hears READY=1 again.
        write(kh.policy_file, POLICY_B)
        r = hup(kh)
        self.assertTrue(r["reloadOk"], r)
        self.assertNotIn("reloadError", r)
        self.assertEqual(kh.request("GET", "/api/extra").status, 200)
        self.assertTrue(any("READY=1\nSTATUS=serving generation 1" in m
                            for m in note.drain()), note.msgs)

    def test_keyhole_reload_waits_and_reports(self):
        kh = self.keyhole(self.up.url, policy=POLICY_A)
        args = ["reload", "--ready-file", kh.ready_path, "--pid", str(kh.pid)]
        write(kh.policy_file, POLICY_B)
        rc, out, err = khtest.run_keyhole(args, timeout=20)
        self.assertEqual(rc, 0, err)
        self.assertIn("reloaded: generation 1", out)
        # No need to wait: the outcome is in when it returns.
        self.assertEqual(kh.request("GET", "/api/extra").status, 200)
        write(kh.policy_file, POLICY_BAD)
        rc, out, err = khtest.run_keyhole(args, timeout=20)
        self.assertEqual(rc, 1, out)
        self.assertIn("refused: %s:3:16: " % kh.policy_file, err)
        self.assertIn("generation 1 serves on", err)
        self.assertEqual(kh.request("GET", "/api/extra").status, 200)
        # A ready file of another process, usage errors.
        rc, _, err = khtest.run_keyhole(["reload", "--ready-file", kh.ready_path,
                                         "--pid", str(kh.pid + 100000)])
        self.assertEqual(rc, 1)
        self.assertIn("stale ready file", err)
        self.assertEqual(khtest.run_keyhole(["reload"])[0], 2)
        rc, out, _ = khtest.run_keyhole(["reload", "--help"])
        self.assertEqual(rc, 0)
        self.assertIn("--ready-file", out)
        self.assertEqual(ready(kh)["generation"], 1)

    def test_in_flight_request_finishes_on_the_old_generation(self):
        kh = self.keyhole(self.up.url, policy=POLICY_A)
        self.up.slow_seconds = 1.5
        child0 = kh.child_pid()
        slow = kh.conn(timeout=10)
        slow.send(khtest.build_request("GET", "/slow/1", token=kh.token))
        self.up.wait_requests(1)
        # An idle kept-alive connection, and one that will speak late.
        idle = kh.conn()
        idle.send(khtest.build_request("GET", "/api/agents/me", token=kh.token))
        self.assertEqual(idle.read_response().status, 200)
        late = kh.conn()
        late.send(khtest.build_request("GET", "/api/agents/me", token=kh.token))
        self.assertEqual(late.read_response().status, 200)
        write(kh.policy_file, POLICY_B)
        r = hup(kh)
        self.assertTrue(r["reloadOk"], r)
        # The kept-alive connection's next request, sent at once, is
        # served by the old child under the old policy, and closes.
        idle.send(khtest.build_request("GET", "/status/204", token=kh.token))
        resp = idle.read_response()
        self.assertEqual(resp.status, 204)
        self.assertEqual(resp.header("connection"), "close")
        self.assertTrue(idle.at_eof())
        # The request in flight at the reload is answered, and closes.
        resp = slow.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("connection"), "close")
        self.assertTrue(slow.at_eof())
        # A kept-alive connection that says nothing is closed without a
        # word once the retire wait (1 s) has passed.
        t0 = time.monotonic()
        self.assertTrue(late.at_eof(timeout=3))
        self.assertLess(time.monotonic() - t0, 2.5)
        self.assertEqual(late.buf, b"")
        khtest.wait_until(lambda: not khtest.pid_alive(child0), 5, "the old child's exit")
        self.assertEqual(access(kh, "/status/204"), [(204, 0)])
        self.assertEqual(access(kh, "/slow/1"), [(200, 0)])
        # New connections: the new policy.
        self.assertEqual(kh.request("GET", "/status/204").status, 403)
        wait_access(kh, "/status/204", [(204, 0), (403, 1)])

    def test_rotated_token_takes_effect_for_every_new_request(self):
        kh = self.keyhole(self.up.url, policy=POLICY_A, token_via="file")
        old, new = kh.token, khtest.new_token()
        self.up.slow_seconds = 1.5
        slow = kh.conn(timeout=10)
        slow.send(khtest.build_request("GET", "/slow/t", token=old))
        self.up.wait_requests(1)
        kept = kh.conn()
        kept.send(khtest.build_request("GET", "/api/agents/me", token=old))
        self.assertEqual(kept.read_response().status, 200)
        tokfile = [a for a in kh.argv if a.endswith("/token")][0]
        write(tokfile, new + "\n")
        self.assertTrue(hup(kh)["reloadOk"])
        # Read after the reload: the old token is refused, also on the
        # connection that authenticated with it before.
        kept.send(khtest.build_request("GET", "/api/agents/me", token=old))
        self.assertEqual(kept.read_response().status, 401)
        self.assertEqual(kh.request("GET", "/api/agents/me", token=old).status, 401)
        self.assertEqual(kh.request("GET", "/api/agents/me", token=new).status, 200)
        # Checked before it: finishes.
        self.assertEqual(slow.read_response().status, 200)
        self.assertNotIn(new, kh.output_text())
        self.assertNotIn(old, kh.output_text())

    def test_rotated_credential_goes_upstream_and_the_old_one_is_wiped(self):
        kh = self.keyhole(self.up.url, policy=POLICY_A)
        old, new = kh.credential, khtest.new_credential()
        self.up.slow_seconds = 2.0
        slow = kh.conn(timeout=10)
        slow.send(khtest.build_request("GET", "/slow/c", token=kh.token))
        self.up.wait_requests(1)
        write(kh.credential_file, new)
        self.assertTrue(hup(kh)["reloadOk"])
        kh.wait_log("credential rotated")
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        self.assertEqual(slow.read_response().status, 200)
        got = {r.path.split("?")[0]: r.header("authorization") for r in self.up.snapshot()}
        self.assertEqual(got["/slow/c"], "Bearer " + old)
        self.assertEqual(got["/api/agents/me"], "Bearer " + new)
        kh.wait_log("the previous one is wiped")
        # Nothing of the old credential is left in the parent's memory;
        # the new one is there (in its locked page).
        if not khtest.IS_ROOT:
            self.skipTest("reading the parent's memory needs root")
        found, _ = khtest.scan_process_memory(kh.pid, [old.encode(), new.encode()])
        self.assertIn(new.encode(), found)
        self.assertNotIn(old.encode(), found, found.get(old.encode()))
        self.assertNotIn(old, kh.output_text())
        self.assertNotIn(new, kh.output_text())

    def test_credential_rotation_keeps_the_auth_style(self):
        # --auth header:NAME and --auth basic: the rotated credential goes
        # upstream in the run's style, the sandbox still may not send the
        # injected name, and a Basic credential without a colon is refused
        # (the old one serves on).
        import base64
        kh = self.keyhole(self.up.url, policy=POLICY_A, args=["--auth", "header:x-api-key",
                                                              "--upstream-header",
                                                              "x-api-version: 7"])
        new = khtest.new_credential()
        write(kh.credential_file, new)
        self.assertTrue(hup(kh)["reloadOk"])
        r = kh.request("GET", "/api/agents/me", headers=[("x-api-key", "sandbox-key")])
        self.assertEqual(r.status, 200, r)
        rec = self.up.snapshot()[-1]
        self.assertEqual(rec.all("x-api-key"), [new])
        self.assertEqual(rec.header("x-api-version"), "7")
        self.assertIsNone(rec.header("authorization"))
        up2 = self.upstream()
        kb = self.keyhole(up2.url, policy=POLICY_A, credential="user:old-pass-0123",
                          args=["--auth", "basic"])
        write(kb.credential_file, "user:new-pass-4567")
        self.assertTrue(hup(kb)["reloadOk"])
        self.assertEqual(kb.request("GET", "/api/agents/me").status, 200)
        self.assertEqual(up2.snapshot()[-1].header("authorization"),
                         "Basic " + base64.b64encode(b"user:new-pass-4567").decode())
        write(kb.credential_file, "no-colon-here-0123")
        r = hup(kb)
        self.assertFalse(r["reloadOk"])
        self.assertIn("--auth basic: the credential must be USER:PASSWORD", r["reloadError"])
        self.assertEqual(kb.request("GET", "/api/agents/me").status, 200)
        self.assertEqual(up2.snapshot()[-1].header("authorization"),
                         "Basic " + base64.b64encode(b"user:new-pass-4567").decode())
        self.assertNotIn("new-pass-4567", kb.output_text())

    def test_unreadable_credential_keeps_the_old_one(self):
        kh = self.keyhole(self.up.url, policy=POLICY_A)
        os.chmod(kh.credential_file, 0o644)
        r = hup(kh)
        self.assertFalse(r["reloadOk"])
        self.assertIn("accessible by group or others", r["reloadError"])
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        self.assertEqual(self.up.snapshot()[-1].header("authorization"),
                         "Bearer " + kh.credential)

    def test_var_file_is_read_again(self):
        d = khtest.make_tempdir(self)
        vf = os.path.join(d, "vars")
        write(vf, "# the run's issue\nissue=BRI-1\n")
        kh = self.keyhole(self.up.url, policy="allow GET /api/issues/{issue}\n",
                          args=["--var-file", vf])
        self.assertEqual(kh.request("GET", "/api/issues/BRI-1").status, 200)
        self.assertEqual(kh.request("GET", "/api/issues/BRI-2").status, 403)
        write(vf, "issue=BRI-2\n")
        self.assertTrue(hup(kh)["reloadOk"])
        self.assertEqual(kh.request("GET", "/api/issues/BRI-2").status, 200)
        self.assertEqual(kh.request("GET", "/api/issues/BRI-1").status, 403)
        # A bad line: FILE:LINE:COL, and BRI-2 stays bound.
        write(vf, "issue=BRI-3\nissue=a/b\n")
        r = hup(kh)
        self.assertFalse(r["reloadOk"])
        self.assertTrue(r["reloadError"].startswith("%s:2:7: " % vf), r)
        self.assertEqual(kh.request("GET", "/api/issues/BRI-2").status, 200)
        self.assertEqual(kh.request("GET", "/api/issues/BRI-3").status, 403)

    def test_var_file_may_not_rebind_a_command_line_var(self):
        d = khtest.make_tempdir(self)
        vf = os.path.join(d, "vars")
        write(vf, "issue=BRI-1\n")
        kh = self.keyhole(self.up.url, policy="allow GET /api/issues/{issue}\n",
                          args=["--var-file", vf, "--var", "issue=BRI-9"], wait_ready=False)
        self.assertEqual(kh.wait_exit(10), 1)
        self.assertIn("%s:1:1: 'issue' is bound by --var too" % vf, kh.output_text())

    def test_max_and_rate_carry_over(self):
        a = "max 2\nallow POST /api/issues/*/comments\nallow GET /api/rated rate 2/min\n"
        b = a + "allow GET /api/extra\n"
        kh = self.keyhole(self.up.url, policy=a)
        post = dict(body=b'{"a":1}')
        for _ in range(2):
            self.assertEqual(kh.request("GET", "/api/rated").status, 200)
            self.assertEqual(kh.request("POST", "/api/issues/1/comments", **post).status, 200)
        self.assertEqual(kh.request("GET", "/api/rated").status, 429)
        write(kh.policy_file, b)
        self.assertTrue(hup(kh)["reloadOk"])
        self.assertEqual(kh.request("GET", "/api/extra").status, 200)
        # A fresh child, the same budgets: the route's bucket is empty,
        # the run's two mutations are spent.
        self.assertEqual(kh.request("GET", "/api/rated").status, 429)
        self.assertEqual(kh.request("POST", "/api/issues/1/comments", **post).status, 429)
        n = sum(1 for r in self.up.snapshot() if r.method == "POST")
        self.assertEqual(n, 2)

    def test_max_spent_meanwhile_by_the_new_child_is_429_on_the_old_one(self):
        # Two children serve for a moment after a reload, each counting
        # only its own mutations: the old one may send one the run has
        # no budget for any more.  An honest child: answered 429 as it
        # would answer itself, not killed as an attacker.
        pol = "max 2\nallow POST /api/issues/*/comments\n"
        kh = self.keyhole(self.up.url, policy=pol)
        post = dict(body=b'{"a":1}')
        old = kh.conn()
        old.send(khtest.build_request("POST", "/api/issues/1/comments", token=kh.token,
                                      **post))
        self.assertEqual(old.read_response().status, 200)
        write(kh.policy_file, pol + "allow GET /api/extra\n")
        self.assertTrue(hup(kh)["reloadOk"])
        self.assertEqual(kh.request("POST", "/api/issues/2/comments", **post).status, 200)
        old.send(khtest.build_request("POST", "/api/issues/3/comments", token=kh.token,
                                      **post))
        resp = old.read_response()
        self.assertEqual(resp.status, 429)
        self.assertIn("max", resp.json()["error"].lower())
        self.assertNotIn("protocol violation", kh.output_text())
        self.assertEqual(sum(1 for r in self.up.snapshot() if r.method == "POST"), 2)

    def test_sighup_while_draining_is_no_reload(self):
        kh = self.keyhole(self.up.url, policy=POLICY_A, args=["--drain-ms", "3000"])
        self.up.slow_seconds = 1.0
        c = kh.conn()
        c.send(khtest.build_request("GET", "/slow/d", token=kh.token))
        self.up.wait_requests(1)
        kh.signal(signal.SIGTERM)
        kh.wait_log("draining")
        kh.signal(signal.SIGHUP)
        self.assertEqual(c.read_response().status, 200)
        self.assertEqual(kh.wait_exit(10), 0)
        self.assertIn("SIGHUP while stopping: no reload", kh.output_text())
        self.assertEqual(kh.count_lines(lambda ln: "a reload's" in ln), 0)


class ReloadUnitTest(KeyholeTestCase):
    def test_the_unit_s_exec_reload_reloads_its_exec_start(self):
        # systemd/keyhole@.service as shipped: ExecStart writes the ready
        # file ExecReload reads, and ExecReload (keyhole reload --pid
        # $MAINPID) reloads it and reports the outcome by its exit status.
        with open(os.path.join(khtest.SRC, "systemd", "keyhole@.service")) as f:
            unit = f.read()
        start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
        rel = re.search(r"^ExecReload=(.*)$", unit, re.M)
        self.assertIsNotNone(rel, "the unit has no ExecReload=")
        m = re.search(r"--ready-file (\S+)", start)
        self.assertIsNotNone(m, "ExecStart= writes no ready file")
        self.assertIn("--ready-file %s" % m.group(1), rel.group(1))
        run = khtest.make_tempdir(self)
        ready_path = m.group(1).replace("/run/keyhole", run).replace("%i", "ci")
        # RuntimeDirectory=keyhole/%i: systemd makes the instance's one.
        os.makedirs(os.path.dirname(ready_path), exist_ok=True)
        up = self.upstream()
        kh = self.keyhole(up.url, policy=POLICY_A, ready_file=False,
                          args=["--ready-file", ready_path])
        khtest.wait_until(lambda: os.path.exists(ready_path), 10, "the ready file")
        kh.ready_path = ready_path
        kh.port = ready(kh)["port"]
        argv = rel.group(1).replace("/usr/local/bin/keyhole", khtest.binary("keyhole"))
        argv = argv.replace("/run/keyhole", run).replace("%i", "ci")
        argv = argv.replace("$MAINPID", str(kh.pid)).split()
        write(kh.policy_file, POLICY_B)
        p = subprocess.run(argv, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(kh.request("GET", "/api/extra").status, 200)
        write(kh.policy_file, POLICY_BAD)
        p = subprocess.run(argv, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn(b":3:16: ", p.stderr)


class ReloadQueueTest(KeyholeTestCase):
    def test_one_child_claims_the_queue_at_a_time(self):
        up = self.upstream()
        up.slow_seconds = 1.0
        q = khqueue.QueueDir(self)
        kh = khqueue.keyhole_queue(self, up.url, q, policy=POLICY_A)
        child0 = kh.child_pid()
        first = khqueue.new_id()
        q.put(q.envelope(first, path="/slow/q"))
        up.wait_requests(1)
        write(kh.policy_file, POLICY_B)
        self.assertTrue(hup(kh)["reloadOk"])
        # Written while the old child still finishes /slow/q.
        later = [khqueue.new_id() for _ in range(5)]
        for rid in later:
            q.put(q.envelope(rid, path="/api/extra"))
        self.assertEqual(q.wait_response(first)["status"], 200)
        for rid in later:
            self.assertEqual(q.wait_response(rid, timeout=10)["status"], 200)
        khtest.wait_until(lambda: not khtest.pid_alive(child0), 5, "the old child's exit")
        # Each once, and the new child claimed nothing before the old one
        # had exited (the log's order).
        paths = [r.path.split("?")[0] for r in up.snapshot()]
        self.assertEqual(paths.count("/slow/q"), 1)
        self.assertEqual(paths.count("/api/extra"), 5)
        lines = kh.stderr_lines()
        gone = next(i for i, ln in enumerate(lines)
                    if "child pid=%d exited" % child0 in ln)
        extra = [i for i, ln in enumerate(lines) if "path=/api/extra" in ln]
        self.assertTrue(extra and min(extra) > gone, "\n".join(lines))
        self.assertIn("the new child takes the queue once the retired one has exited",
                      kh.output_text())
        self.assertEqual(q.listing("processing"), [])


HOSTILE_OLD = """\
# scenario: retired-request
# retire-path: %s
allow GET /api/agents/me
"""
HOSTILE_NEW = """\
# scenario: serve
allow GET /api/agents/me
allow GET /api/new
"""


class ReloadHostileTest(KeyholeTestCase):
    """The real parent, with tests/progs/hostile_child as every child."""

    def hostile(self, policy, **kw):
        up = self.upstream()
        kh = self.keyhole(up.url, policy=policy,
                          net_binary=khtest.binary("hostile_child"), **kw)
        return up, kh

    def test_a_retired_child_is_judged_by_its_own_policy(self):
        up, kh = self.hostile(HOSTILE_OLD % "/api/new", args=["--drain-ms", "1500"])
        old = kh.child_pid("hostile_child")
        write(kh.policy_file, HOSTILE_NEW)
        self.assertTrue(hup(kh)["reloadOk"])
        # /api/new is the new generation's route, not the old child's.
        kh.wait_log("protocol violation from child pid=%d" % old)
        time.sleep(0.5)
        self.assertEqual([r.path for r in up.snapshot()], [])
        self.assertEqual(kh.count_lines(lambda ln: "restarting child" in ln), 0)
        self.assertTrue(kh.alive())
        self.assertEqual(len(kh.children("hostile_child")), 1)

    def test_control_a_retired_child_s_own_route_is_forwarded(self):
        up, kh = self.hostile(HOSTILE_OLD % "/api/agents/me", args=["--drain-ms", "1500"])
        old = kh.child_pid("hostile_child")
        write(kh.policy_file, HOSTILE_NEW)
        self.assertTrue(hup(kh)["reloadOk"])
        up.wait_requests(1)
        self.assertEqual(up.snapshot()[0].path, "/api/agents/me?hc=%d" % old)
        khtest.wait_until(lambda: access_gen(kh, "/api/agents/me") == [0], 3,
                          "its access line, generation 0")
        # It never leaves by itself: killed at --drain-ms, not restarted.
        kh.wait_log("retired child pid=%d did not finish within --drain-ms" % old, timeout=5)
        khtest.wait_until(lambda: not khtest.pid_alive(old), 5, "the old child's end")
        self.assertEqual(kh.count_lines(lambda ln: "restarting child" in ln), 0)
        self.assertTrue(kh.alive())

    def test_a_candidate_that_breaks_the_protocol_fails_the_reload_only(self):
        up, kh = self.hostile("# scenario: serve\nallow GET /api/agents/me\n")
        cur = kh.child_pid("hostile_child")
        write(kh.policy_file, "# scenario: request-before-policy\nallow GET /api/agents/me\n")
        r = hup(kh)
        self.assertFalse(r["reloadOk"])
        self.assertIn("the new child broke the protocol", r["reloadError"])
        khtest.wait_until(lambda: kh.children("hostile_child") == [cur], 3,
                          "the candidate's end (%r)" % kh.children("hostile_child"))
        self.assertEqual(up.snapshot(), [])
        self.assertEqual(kh.count_lines(lambda ln: "restarting child" in ln), 0)

    def test_a_candidate_that_never_gets_ready_fails_the_reload_only(self):
        up, kh = self.hostile("# scenario: serve\nallow GET /api/agents/me\n",
                              args=["--child-timeout-ms", "1000"])
        cur = kh.child_pid("hostile_child")
        write(kh.policy_file, "# scenario: never-ready\nallow GET /api/agents/me\n")
        r = hup(kh)
        self.assertFalse(r["reloadOk"])
        self.assertIn("sent no policy table within 1000 ms", r["reloadError"])
        self.assertTrue(kh.alive())
        khtest.wait_until(lambda: kh.children("hostile_child") == [cur], 3,
                          "the candidate's end (%r)" % kh.children("hostile_child"))


def access_gen(kh, path):
    out = []
    for ln in kh.stderr_lines():
        m = re.search(r" path=(\S+) .* gen=(\d+)$", ln)
        if m and m.group(1) == path:
            out.append(int(m.group(2)))
    return out


if __name__ == "__main__":
    khtest.main()
