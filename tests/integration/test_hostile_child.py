#!/usr/bin/env python3
"""Hostile child (SECURITY.md I3): the parent trusts nothing the
child sends.  The real parent runs with `--net-binary build/hostile_child`
(tests/progs/hostile_child.c), which speaks the wire protocol but breaks
one rule per scenario.  For each attack the parent must send nothing
upstream, log a protocol violation, kill the child and restart it, and keep
running.  The `valid` scenario is the control: the same fake child, behaving,
does get its request forwarded, so these tests can see forwarding happen."""

import os
import re
import signal
import sys
import time
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

# Wide enough that only the parent's own checks can stop the attacks:
# `*/*/*/*` matches the 6 segments of /api/issues/1/../../admin when `..`
# is (wrongly) taken for a segment.
POLICY_BODY = """\
allow GET /api/agents/me
allow GET /api/issues/*/comments
allow GET /api/issues/*/*/*/*
allow PATCH /api/issues/*
"""

# Scenario -> what it breaks (tests/progs/hostile_child.c has the details).
ATTACKS = {
    "length-short": "frame length shorter than the request's fields",
    "oversize": "frame length over KH_MSG_MAX",
    "trailing-bytes": "a byte after the last field",
    "unknown-type": "frame type 200",
    "wrong-direction": "a parent-to-child type (MSG_RESPONSE) from the child",
    "bad-version": "wire version + 1",
    "reserved-nonzero": "reserved header bits set",
    "zero-id": "MSG_REQUEST with request id 0",
    "request-before-policy": "MSG_REQUEST before MSG_POLICY",
    "second-policy": "MSG_POLICY twice",
    "path-outside-policy": "GET /api/admin/secrets",
    "dotdot-path": "non-canonical path /api/issues/1/../../admin",
    "crlf-in-path": "CR LF inside the path",
    "bad-query": "query with a space and CR LF",
    "crlf-in-header": "accept: a\\r\\nx-evil: 1",
    "nul-in-string": "NUL inside the path string",
    "forbidden-header": "authorization: Bearer x",
    "header-not-allowlisted": "x-evil: 1",
    "bad-method": "method 'get'",
    "bad-method-unknown": "method 'FETCH'",
    "huge-nheaders": "65535 accept headers, all present",
}


# Policy v2: what the parent checks with its OWN bindings and counters.
# The parent runs with --var issue=BRI-7; the fake child compiles this
# leniently with nothing bound, so only the parent gives {issue} a value.
V2_POLICY_BODY = """\
max 2
allow GET /api/agents/me
allow PATCH /api/issues/{issue} body json
allow GET /api/q query none
allow POST /api/cap request-header x-cap
allow POST /api/issues/*/comments max-body 16
allow DELETE /api/x/* body none
allow PATCH /api/keyed/* keys title,status
allow POST /api/upload content-type multipart/form-data
allow GET /api/rated rate 2/min
allow POST /api/slow/*
"""
V2_ARGS = ["--var", "issue=BRI-7"]

V2_ATTACKS = {
    "other-issue": "PATCH /api/issues/BRI-8 where the parent binds {issue}=BRI-7",
    "query-on-query-none": "a query string on a 'query none' rule",
    "header-off-route": "x-cap on a route whose rule does not list it",
    "body-over-rule": "17 bytes on a rule with max-body 16",
    "body-on-body-none": "a body on a 'body none' rule",
    # What the parent checks since issue 11: the media type it writes
    # itself, and `body json` / `keys` (json_check + its own key scan).
    "ctype-utf7": "content-type: application/json; charset=utf-7 among the headers",
    "ctype-off-rule": "application/json on a rule that accepts multipart only",
    "media-unknown": "a media type the rule does not list",
    "media-flags": "a media-type parameter the parent cannot write",
    "boundary-on-json": "a boundary on application/json",
    "boundary-injection": "a boundary smuggling '; charset=utf-7'",
    "body-without-media": "a body without a media type where content-type is allowed",
    "json-invalid": "a body that is not JSON on a 'body json' rule",
    "json-key-not-allowed": "a top-level key the rule's 'keys' does not list",
    "json-key-escaped": "the same key spelled with a \\u escape",
}

# Relay limits (src/common/kh_limits.h): lines per second and burst, for
# the child's log lines and for its access records.
RELAY_LOG_RATE, RELAY_LOG_BURST = 50, 200
RELAY_ACCESS_RATE, RELAY_ACCESS_BURST = 200, 1000
FLOOD_LINES = 100000


def sanitized():
    """The parent was built with AddressSanitizer (see test_limits.py)."""
    with open(khtest.binary("keyhole"), "rb") as f:
        return b"__asan_init" in f.read()


def violation_line(ln):
    # The parent's own lines, never relayed ones (keyhole-net[...]).
    return ln.startswith("keyhole[") and "protocol violation" in ln


class HostileChildTest(KeyholeTestCase):

    def start_hostile(self, scenario, extra_header="", body=POLICY_BODY, args=(),
                      slow_seconds=None):
        self.up = self.upstream()
        if slow_seconds is not None:
            self.up.slow_seconds = slow_seconds
        text = "# scenario: %s\n%s%s" % (scenario, extra_header, body)
        self.kh = self.keyhole(self.up.url, policy=text,
                               net_binary=khtest.binary("hostile_child"),
                               args=["--drain-ms", "1000"] + list(args), wait_ready=False)
        self.pids = set()
        return self.up, self.kh

    def violations(self):
        return self.kh.count_lines(violation_line)

    def watch(self, until, timeout, what):
        """Poll (recording fake-child pids) until until() or timeout.
        what=None: just watch for the whole timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.pids.update(self.kh.children("hostile_child"))
            if until is not None and until():
                return
            if time.monotonic() >= deadline:
                if what is None:
                    return
                self.fail("timed out after %.1f s waiting for %s; keyhole %s; upstream "
                          "received %r; stderr:\n%s"
                          % (timeout, what, "alive" if self.kh.alive() else
                             "exited %r" % self.kh.proc.returncode, self.up.snapshot(),
                             self.kh.output_text()[-4000:]))
            time.sleep(0.02)

    def assertParentAlive(self):
        self.assertTrue(self.kh.alive(), "the parent died (exit %r):\n%s"
                        % (self.kh.proc.returncode, self.kh.output_text()[-4000:]))

    def run_attack(self, scenario, body=POLICY_BODY, args=()):
        up, kh = self.start_hostile(scenario, body=body, args=args)
        self.watch(lambda: self.violations() >= 1, 5.0, "a 'protocol violation' line")
        self.watch(None, 1.0, None)
        self.assertParentAlive()
        self.watch(lambda: self.violations() >= 2 or len(self.pids) >= 2, 5.0,
                   "the child to be restarted (a second fake-child pid or violation)")
        self.assertParentAlive()
        up.assert_nothing(self, what=scenario)

    def test_parent_rejects_a_table_allowlisting_an_injected_header(self):
        """--auth header:x-api-key: a child whose table allowlists x-api-key
        (an honest child refuses such a policy at compile time) is killed
        at MSG_POLICY, and nothing reaches the upstream."""
        up, kh = self.start_hostile("injected-header", body=POLICY_BODY +
                                    "request-header x-api-key\n",
                                    args=["--auth", "header:x-api-key"])
        self.watch(lambda: self.violations() >= 1, 5.0, "a 'protocol violation' line")
        self.assertParentAlive()
        self.assertIn("forbidden header name", "\n".join(
            ln for ln in kh.stderr_lines() if violation_line(ln)))
        up.assert_nothing(self, what="injected-header")

    # -- control --------------------------------------------------------------

    def test_valid_child_request_is_forwarded(self):
        up, kh = self.start_hostile("valid")
        reqs = up.wait_requests(2, timeout=5)
        first, second = reqs[0], reqs[1]
        self.assertEqual(first.method, "GET")
        self.assertEqual(urlsplit(first.path).path, "/api/agents/me")
        self.assertIn("hc", parse_qs(urlsplit(first.path).query))
        self.assertEqual(first.all("authorization"), ["Bearer " + kh.credential])
        self.assertEqual(first.header("accept"), "application/json")
        # The fake child read a MSG_RESPONSE carrying the upstream's status.
        self.assertEqual(second.path, "/api/agents/me?hc-status=200")
        self.watch(None, 0.5, None)
        self.assertParentAlive()
        self.assertEqual(self.violations(), 0, kh.output_text())
        self.assertEqual(up.count(), 2, up.snapshot())

    def test_valid_child_own_issue_is_forwarded(self):
        # Control for the v2 attacks: {issue} as the PARENT binds it.
        up, kh = self.start_hostile("own-issue", body=V2_POLICY_BODY, args=V2_ARGS)
        rec = up.wait_requests(1, timeout=5)[0]
        self.assertEqual((rec.method, urlsplit(rec.path).path), ("PATCH", "/api/issues/BRI-7"))
        self.assertEqual(rec.body, b'{"status":"done"}')
        self.watch(None, 0.5, None)
        self.assertParentAlive()
        self.assertEqual(self.violations(), 0, kh.output_text())

    def test_parent_enforces_run_mutation_budget_itself(self):
        # `max 2`: the fake child gets two comments forwarded (each answered
        # before the next), then sends a third.  The parent's own count
        # refuses it, kills the child, and tells the restarted one the
        # count; that one's first POST is refused again.  The upstream
        # sees exactly two mutations, ever.
        up, kh = self.start_hostile("over-budget", body=V2_POLICY_BODY, args=V2_ARGS)
        self.watch(lambda: self.violations() >= 2, 10.0,
                   "two violations: the third POST, then the restarted child's first")
        self.watch(None, 0.5, None)
        self.assertParentAlive()
        posts = [r for r in up.snapshot() if r.method == "POST"]
        self.assertEqual(len(posts), 2, up.snapshot())
        lines = [ln for ln in kh.stderr_lines() if violation_line(ln)]
        self.assertTrue(all("'max' budget" in ln for ln in lines[:2]), lines)

    def test_parent_enforces_rate_itself(self):
        # `rate 2/min`: the fake child sends five GETs, each after the
        # previous answer.  The parent's own bucket forwards two and
        # answers the rest 429 itself (not a violation: a restarted honest
        # child starts with full buckets); the child reports what it got.
        up, kh = self.start_hostile("over-rate", body=V2_POLICY_BODY, args=V2_ARGS)
        self.watch(lambda: any("hc-rated=" in r.path for r in up.snapshot()), 10.0,
                   "the fake child's report")
        rated = [r for r in up.snapshot() if urlsplit(r.path).path == "/api/rated"]
        self.assertEqual(len(rated), 2, up.snapshot())
        report = [r for r in up.snapshot() if "hc-rated=" in r.path][0]
        statuses = parse_qs(urlsplit(report.path).query)["hc-rated"][0].split(",")
        self.assertEqual(statuses, ["200", "200", "429", "429", "429"])
        self.assertParentAlive()
        self.assertEqual(self.violations(), 0, kh.output_text())

    def test_parent_rate_buckets_survive_a_child_restart(self):
        # The first fake child spends `rate 2/min` and exits; the parent
        # restarts it, and the new one (its own bucket full) asks again:
        # the parent's bucket, kept across restarts, answers 429.
        state_dir = khtest.make_tempdir(self)
        os.chmod(state_dir, 0o777)
        up, kh = self.start_hostile("over-rate-restart",
                                    "# state: %s\n" % os.path.join(state_dir, "first"),
                                    body=V2_POLICY_BODY, args=V2_ARGS)
        self.watch(lambda: any("hc-rated-again=" in r.path for r in up.snapshot()), 10.0,
                   "the restarted fake child's report")
        rated = [r for r in up.snapshot() if urlsplit(r.path).path == "/api/rated"]
        self.assertEqual(len(rated), 2, up.snapshot())
        report = [r for r in up.snapshot() if "hc-rated-again=" in r.path][0]
        self.assertEqual(parse_qs(urlsplit(report.path).query)["hc-rated-again"], ["429"])
        # The first instance can exit between two polls of watch(): count
        # restarts in the parent's log, not the pids seen.
        self.assertGreaterEqual(kh.count_lines(lambda ln: "restarting child in" in ln), 1,
                                "the fake child was not restarted\n" + kh.output_text())
        self.assertEqual(self.violations(), 0, kh.output_text())

    def test_parent_charges_only_forwarded_mutations(self):
        # `max 2`, --max-inflight 1: a slow POST is in flight, so the next
        # POST is answered 503 by the parent and never forwarded; it must
        # not count.  The third POST is the run's second mutation.
        up, kh = self.start_hostile("mutation-503", body=V2_POLICY_BODY,
                                    args=V2_ARGS + ["--max-inflight", "1"], slow_seconds=1.0)
        self.watch(lambda: sum(1 for r in up.snapshot() if r.method == "POST") >= 2 or
                   self.violations() >= 1, 10.0, "two forwarded POSTs or a violation")
        self.watch(None, 0.5, None)
        self.assertEqual(self.violations(), 0, kh.output_text())
        posts = [urlsplit(r.path) for r in up.snapshot() if r.method == "POST"]
        self.assertEqual([u.path for u in posts], ["/api/slow/1", "/api/slow/3"], posts)
        # the fake child saw 200 for the first and 503 for the second
        self.assertEqual(parse_qs(posts[1].query)["hc-mut"], ["200,503"])

    def test_parent_bounds_output_to_a_child_that_never_reads(self):
        # The fake child sends up to 1.5 million allowed GETs and never
        # reads: with --max-inflight 1 busy on a slow request each is
        # answered 503 at once, ~100 bytes the parent queues for it.  The
        # parent must stop taking requests once its output to the child
        # is over its bound (then the child's writes block), not queue
        # ~150 MB.
        up, kh = self.start_hostile("never-reads", args=["--max-inflight", "1"],
                                    slow_seconds=30.0)
        child = kh.child_pid(comm="hostile_child")
        base = int(khtest.proc_status(kh.pid)["VmRSS"].split()[0])

        def wchar():
            with open("/proc/%d/io" % child) as f:
                return int([ln for ln in f if ln.startswith("wchar:")][0].split()[1])
        last, still_since = -1, time.monotonic()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            w = wchar()
            if w != last:
                last, still_since = w, time.monotonic()
            elif time.monotonic() - still_since > 1.5:
                break       # blocked by the parent, or done
            time.sleep(0.1)
        self.assertParentAlive()
        hwm = int(khtest.proc_status(kh.pid)["VmHWM"].split()[0])
        sys.stderr.write("\n  never-reads: parent VmRSS %d kB at start, VmHWM %d kB; the child "
                         "wrote %d bytes\n" % (base, hwm, last))
        # The parent stopped taking its frames: the child could write only
        # what fits before the bound and the socket buffers (~5 MB of
        # ~170 MB).
        self.assertLess(last, 32 << 20, "the parent kept reading a child that never reads")
        # ASan's quarantine keeps freed memory resident on purpose: the
        # RSS bound says nothing in a sanitizer build.
        if not sanitized():
            self.assertLess(hwm - base, 48 * 1024,
                            "the parent grew from %d kB to %d kB for a child that never reads "
                            "(the child wrote %d bytes)" % (base, hwm, last))
        self.assertEqual(self.violations(), 0, kh.output_text()[-3000:])
        # Still in control: SIGTERM drains (the child cannot take the
        # shutdown frame, so the drain deadline ends it) and exits.
        kh.signal(signal.SIGTERM)
        self.assertEqual(kh.wait_exit(10), 0, kh.output_text()[-3000:])

    def _flood(self, scenario, is_line, kind, rate, burst):
        t0 = time.monotonic()
        up, kh = self.start_hostile(scenario)
        summary = re.compile(r"^keyhole\[\d+\]: warn: dropped (\d+) log line\(s\) and "
                             r"(\d+) access line\(s\) from keyhole-net")

        def counts():
            relayed = dropped = 0
            for ln in kh.stderr_lines():
                m = summary.match(ln)
                if m:
                    dropped += int(m.group(1 if kind == "log" else 2))
                elif is_line(ln):
                    relayed += 1
            return relayed, dropped
        self.watch(lambda: sum(counts()) >= FLOOD_LINES, 60.0,
                   "every flood line written or counted as dropped")
        elapsed = time.monotonic() - t0
        relayed, dropped = counts()
        sys.stderr.write("\n  %s: %d relayed, %d dropped in %.1f s\n"
                         % (scenario, relayed, dropped, elapsed))
        self.assertEqual(relayed + dropped, FLOOD_LINES)
        self.assertLessEqual(relayed, burst + rate * (elapsed + 1),
                             "%d %s lines relayed in %.1f s" % (relayed, kind, elapsed))
        self.assertGreater(relayed, 0)
        self.assertParentAlive()
        self.assertEqual(self.violations(), 0)
        up.assert_nothing(self)

    def test_parent_rate_limits_relayed_log_lines(self):
        self._flood("log-flood", lambda ln: ln.startswith("keyhole-net[") and "hc-flood " in ln,
                    "log", RELAY_LOG_RATE, RELAY_LOG_BURST)

    def test_parent_rate_limits_relayed_access_lines(self):
        self._flood("access-flood", lambda ln: "/hc-access-flood" in ln,
                    "access", RELAY_ACCESS_RATE, RELAY_ACCESS_BURST)

    # -- special cases -----------------------------------------------------------

    def test_partial_frame_does_not_block_parent(self):
        # Header length longer than what follows, then silence.  The parent
        # cannot know more is not coming; it must neither act on the partial
        # frame nor stop serving its own loop (SIGTERM still works).
        up, kh = self.start_hostile("length-long")
        kh.child_pid(comm="hostile_child")
        self.watch(None, 1.0, None)
        self.assertParentAlive()
        up.assert_nothing(self)
        t0 = time.monotonic()
        kh.signal(signal.SIGTERM)
        self.assertEqual(kh.wait_exit(5), 0, kh.output_text())
        self.assertLess(time.monotonic() - t0, 4.0)

    def test_duplicate_request_id_rejected(self):
        up, kh = self.start_hostile("duplicate-id")
        up.slow_seconds = 2.0
        self.watch(lambda: self.violations() >= 1, 5.0, "a 'protocol violation' line")
        self.watch(None, 1.0, None)
        self.assertParentAlive()
        per_instance = {}
        for r in up.snapshot():
            hc = parse_qs(urlsplit(r.path).query).get("hc", ["?"])[0]
            per_instance[hc] = per_instance.get(hc, 0) + 1
        for hc, n in per_instance.items():
            self.assertLessEqual(n, 1, "fake child %s got %d requests forwarded under one id"
                                 % (hc, n))

    def test_restarted_child_cannot_change_policy(self):
        state_dir = khtest.make_tempdir(self)
        os.chmod(state_dir, 0o777)
        state = os.path.join(state_dir, "first-instance")
        up, kh = self.start_hostile("policy-change", "# state: %s\n" % state)
        first = kh.child_pid(comm="hostile_child")
        khtest.wait_until(lambda: os.path.exists(state), 5,
                          "the first fake child to create %s" % state)
        time.sleep(0.3)      # let its (honest) policy be accepted
        self.assertEqual(self.violations(), 0, kh.output_text())
        os.kill(first, signal.SIGKILL)
        self.watch(lambda: self.violations() >= 1, 5.0,
                   "a 'protocol violation' line for the widened policy")
        self.watch(None, 1.0, None)
        self.assertParentAlive()
        up.assert_nothing(self)

    def test_child_log_line_cannot_forge_parent_lines(self):
        up, kh = self.start_hostile("log-injection")
        kh.child_pid(comm="hostile_child")
        self.watch(None, 1.0, None)
        self.assertParentAlive()
        fmt = re.compile(r"^keyhole(-net)?\[\d+\]: [a-z]+: ")
        for ln in kh.stderr_lines():
            self.assertFalse(ln.startswith("keyhole[1]:"), "forged log line written: %r" % ln)
            self.assertRegex(ln, fmt)
        up.assert_nothing(self)


def _make_attack_test(scenario, what):
    def test(self):
        self.run_attack(scenario)
    test.__doc__ = "parent rejects %s (%s)" % (scenario, what)
    return test


for _name, _what in ATTACKS.items():
    setattr(HostileChildTest, "test_parent_rejects_" + _name.replace("-", "_"),
            _make_attack_test(_name, _what))


def _make_v2_attack_test(scenario, what):
    def test(self):
        self.run_attack(scenario, body=V2_POLICY_BODY, args=V2_ARGS)
    test.__doc__ = "parent rejects %s (%s)" % (scenario, what)
    return test


for _name, _what in V2_ATTACKS.items():
    setattr(HostileChildTest, "test_parent_rejects_" + _name.replace("-", "_"),
            _make_v2_attack_test(_name, _what))


# -- liveness block: deadlines and MSG_PING / MSG_PONG (src/priv/liveness.c) --

LIVENESS_ARGS = ["--child-timeout-ms", "1000"]

LIVENESS_ATTACKS = {
    "pong-unasked": "a MSG_PONG before any MSG_PING",
    "pong-wrong-nonce": "a MSG_PONG whose id is not the ping's nonce",
}


def start_deadline_line(ln):
    return ln.startswith("keyhole[") and "did not report ready" in ln


class HostileLivenessTest(KeyholeTestCase):
    # HostileChildTest's helpers, without inheriting (and re-running) its tests.
    start_hostile = HostileChildTest.start_hostile
    violations = HostileChildTest.violations
    watch = HostileChildTest.watch
    assertParentAlive = HostileChildTest.assertParentAlive
    run_attack = HostileChildTest.run_attack

    def test_first_child_never_ready_makes_serve_exit_nonzero(self):
        # The child blocks before sending its policy table (as one stuck on
        # a FIFO would).  Without a deadline the bridge waits forever; with
        # it, the parent kills the child and, nothing ever having been
        # served, exits 1 naming the cause, as for a policy that does not
        # compile.
        up, kh = self.start_hostile("never-ready", args=LIVENESS_ARGS)
        child = kh.child_pid(comm="hostile_child")
        t0 = time.monotonic()
        code = kh.wait_exit(8)
        self.assertEqual(code, 1, kh.output_text())
        self.assertLess(time.monotonic() - t0, 6.0)
        lines = kh.stderr_lines()
        self.assertTrue(any(start_deadline_line(ln) and "pid=%d" % child in ln
                            and "within 1000 ms" in ln for ln in lines), lines)
        self.assertTrue(any("first child never became ready" in ln for ln in lines), lines)
        khtest.wait_until(lambda: not khtest.pid_alive(child), 3, "the fake child to be killed")
        self.assertFalse(os.path.exists(kh.ready_path), "ready file written")
        up.assert_nothing(self)

    def test_restarted_child_never_ready_is_killed_and_restarted_with_backoff(self):
        state_dir = khtest.make_tempdir(self)
        os.chmod(state_dir, 0o777)
        state = os.path.join(state_dir, "first-instance")
        # 2 s: the live first instance must not be taken for stuck on a
        # loaded machine.
        up, kh = self.start_hostile("ready-once", "# state: %s\n" % state,
                                    args=["--child-timeout-ms", "2000"])
        first = kh.child_pid(comm="hostile_child")
        khtest.wait_until(lambda: os.path.exists(state), 5,
                          "the first fake child to create %s" % state)
        kh.wait_log("policy accepted")
        # It answers pings: a live child is left alone (2 deadlines).
        self.watch(None, 4.0, None)
        self.assertEqual(self.pids, {first}, kh.output_text())
        self.assertEqual(kh.count_lines(lambda ln: "killing it" in ln), 0, kh.output_text())
        os.kill(first, signal.SIGKILL)
        # Every later instance hangs before its policy: each is killed
        # after 2 s and restarted after a growing back-off.
        self.watch(lambda: kh.count_lines(start_deadline_line) >= 3, 20.0,
                   "three start-deadline kills")
        self.assertParentAlive()
        self.assertGreaterEqual(len(self.pids), 4, self.pids)
        backoff = [int(m.group(1)) for m in
                   (re.search(r"restarting child in (\d+) ms", ln) for ln in kh.stderr_lines())
                   if m]
        self.assertGreaterEqual(len(backoff), 3, kh.output_text())
        self.assertEqual(backoff[:3], [100, 200, 400], kh.output_text())
        self.assertEqual(kh.count_lines(lambda ln: "first child never became ready" in ln), 0)
        self.assertEqual(self.violations(), 0, kh.output_text())
        kh.signal(signal.SIGTERM)
        self.assertEqual(kh.wait_exit(5), 0, kh.output_text())

    def test_frame_in_transit_is_progress_silence_is_not(self):
        # A 640 KiB request frame arrives over 3 s, no ping answered: the
        # bytes are the child's progress (a pong waits behind such frames).
        # Once they stop, the child is stuck: killed about a deadline later.
        up, kh = self.start_hostile("trickle-no-pong", args=LIVENESS_ARGS)
        first = kh.child_pid(comm="hostile_child")
        t0 = time.monotonic()
        rec = up.wait_requests(1, timeout=10)[0]
        t_last = time.monotonic()
        self.assertGreater(t_last - t0, 2.5)     # it did take its time
        self.assertEqual((rec.method, len(rec.body)), ("PATCH", 640 * 1024))
        self.assertEqual(kh.count_lines(lambda ln: "stuck; killing it" in ln), 0,
                         kh.output_text())
        self.assertIn(first, kh.children("hostile_child"))
        kh.wait_log(lambda ln: "pid=%d answered no liveness ping" % first in ln,
                    timeout=4.0, what="the stuck line for the silent child")
        self.assertLess(time.monotonic() - t_last, 3.0)
        self.assertEqual(self.violations(), 0, kh.output_text())


def _make_liveness_attack_test(scenario, what):
    def test(self):
        self.run_attack(scenario, args=LIVENESS_ARGS)
    test.__doc__ = "parent rejects %s (%s)" % (scenario, what)
    return test


for _name, _what in LIVENESS_ATTACKS.items():
    setattr(HostileLivenessTest, "test_parent_rejects_" + _name.replace("-", "_"),
            _make_liveness_attack_test(_name, _what))

# -- end of the liveness block ------------------------------------------------


if __name__ == "__main__":
    khtest.main()
