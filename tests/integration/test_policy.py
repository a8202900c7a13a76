#!/usr/bin/env python3
"""Route policy v2 through the real binaries: variables bound per run,
per-rule constraints (keys, body, query, media type, size, headers),
budgets (rate and the run's mutation cap), the shipped policies, and the
audit tools' exact output (golden files in tests/golden/).

Set KEYHOLE_REGEN_GOLDEN=1 to rewrite the golden files from the current
output (then read the diff before committing it)."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

GOLDEN = os.path.join(khtest.SRC, "tests", "golden")

BOUND_POLICY = """\
# {issue} is the run's issue (--var issue=...)
allow GET /api/agents/me
allow GET /api/issues/*
allow PATCH /api/issues/{issue} keys status,comment query none
allow POST /api/issues/{issue}/comments keys body query none
"""


class VariableBoundRouteTest(KeyholeTestCase):

    def test_own_issue_allowed_other_issue_403_never_forwarded(self):
        up = self.upstream()
        kh = self.keyhole(up.url, policy=BOUND_POLICY, args=["--var", "issue=BRI-7"])
        r = kh.request("PATCH", "/api/issues/BRI-7", body=b'{"status":"done"}')
        self.assertEqual(r.status, 200, r)
        rec = up.wait_requests(1)[0]
        self.assertEqual((rec.method, rec.path), ("PATCH", "/api/issues/BRI-7"))
        self.assertEqual(rec.body, b'{"status":"done"}')
        for method, path, body in (("PATCH", "/api/issues/BRI-8", b'{"status":"done"}'),
                                   ("PATCH", "/api/issues/BRI-70", b'{"status":"done"}'),
                                   ("PATCH", "/api/issues/bri-7", b'{"status":"done"}'),
                                   ("POST", "/api/issues/BRI-8/comments", b'{"body":"x"}')):
            with self.subTest(path=path):
                r = kh.request(method, path, body=body)
                self.assertJsonError(r, 403, khtest.body_403(method, path))
        # Reads of other issues stay open ('*'), and are forwarded.
        r = kh.request("GET", "/api/issues/BRI-8")
        self.assertEqual(r.status, 200, r)
        time.sleep(0.3)
        seen = [(q.method, q.path) for q in up.snapshot()]
        self.assertEqual(seen, [("PATCH", "/api/issues/BRI-7"), ("GET", "/api/issues/BRI-8")])

    def test_binding_from_environment(self):
        up = self.upstream()
        kh = self.keyhole(up.url, policy=BOUND_POLICY, env={"KEYHOLE_VAR_issue": "BRI-9"})
        self.assertEqual(kh.request("PATCH", "/api/issues/BRI-9", body=b"{}").status, 200)
        r = kh.request("PATCH", "/api/issues/BRI-7", body=b"{}")
        self.assertJsonError(r, 403)
        self.assertEqual([q.path for q in up.snapshot()], ["/api/issues/BRI-9"])

    def test_option_wins_over_environment(self):
        up = self.upstream()
        kh = self.keyhole(up.url, policy=BOUND_POLICY, args=["--var", "issue=OPT-1"],
                          env={"KEYHOLE_VAR_issue": "ENV-1"})
        self.assertEqual(kh.request("PATCH", "/api/issues/OPT-1", body=b"{}").status, 200)
        self.assertJsonError(kh.request("PATCH", "/api/issues/ENV-1", body=b"{}"), 403)

    def test_unbound_variable_refused_at_start_with_file_line(self):
        up = self.upstream()
        kh = self.keyhole(up.url, policy=BOUND_POLICY, wait_ready=False)
        code = kh.wait_exit(10)
        err = kh.stderr().decode("utf-8", "replace")
        self.assertEqual(code, 1, err)
        self.assertIn("%s:4:25: variable 'issue' is not bound" % kh.policy_file, err)
        self.assertEqual(up.count(), 0)

    def test_bad_binding_refused_naming_the_option(self):
        for args, env, what in ((["--var", "issue=a/b"], None, "--var issue=a/b"),
                                (["--var", "issue"], None, "--var issue"),
                                (["--var", "1x=a"], None, "--var 1x=a"),
                                (["--var", "issue=a", "--var", "issue=b"], None, "bound twice"),
                                ([], {"KEYHOLE_VAR_issue": ".."}, "KEYHOLE_VAR_issue")):
            with self.subTest(what=what):
                code, out, err = khtest.run_keyhole(
                    ["serve", "--policy", "/dev/null", "--upstream", "http://127.0.0.1:9"] + args,
                    env=env)
                self.assertEqual(code, 2, err)
                self.assertIn(what, err)


CONSTRAINT_POLICY = """\
max 4
allow GET /api/agents/me
allow GET /api/q query none
allow PATCH /api/issues/* keys status,comment
allow POST /api/json body json
allow DELETE /api/drafts/* body none
allow POST /api/upload content-type multipart/form-data max-body 4k
allow POST /api/small max-body 64
allow POST /api/cap body json request-header x-paperclip-github-capability
allow GET /api/rated rate 2/min
allow POST /api/free
"""


class ConstraintTest(KeyholeTestCase):

    def setUp(self):
        self.up = self.upstream()
        self.kh = self.keyhole(self.up.url, policy=CONSTRAINT_POLICY + "max-body 1k\n")

    def test_keys_violation_422_names_the_key_never_forwarded(self):
        r = self.kh.request("PATCH", "/api/issues/BRI-7",
                            body=b'{"status":"done","assigneeAgentId":"x"}')
        got = self.assertJsonError(r, 422)
        self.assertEqual(got, {"error": "Key not allowed on this route: assigneeAgentId",
                               "key": "assigneeAgentId"})
        r = self.kh.request("PATCH", "/api/issues/BRI-7", body=b'["status"]')
        self.assertJsonError(r, 422, {"error": "Request body must be a JSON object."})
        r = self.kh.request("PATCH", "/api/issues/BRI-7", body=None)
        self.assertJsonError(r, 400, {"error": "Request body must be a JSON object."})
        self.up.assert_nothing(self)
        r = self.kh.request("PATCH", "/api/issues/BRI-7", body=b'{"status":"done"}')
        self.assertEqual(r.status, 200, r)

    def test_query_none_403(self):
        r = self.kh.request("GET", "/api/q?x=1")
        self.assertJsonError(r, 403, {"error": "Query string not allowed: GET /api/q"})
        r = self.kh.request("GET", "/api/q?")
        self.assertJsonError(r, 403)
        self.up.assert_nothing(self)
        self.assertEqual(self.kh.request("GET", "/api/q").status, 200)
        self.assertEqual(self.kh.request("GET", "/api/agents/me?x=1").status, 200)

    def test_body_json_and_body_none(self):
        self.assertJsonError(self.kh.request("POST", "/api/json", body=None), 400,
                             {"error": "Request body must be one JSON value."})
        self.assertJsonError(self.kh.request("POST", "/api/json", body=b"{} x"), 400,
                             {"error": "Request body is not valid JSON."})
        deep = b"[" * 33 + b"]" * 33
        self.assertJsonError(self.kh.request("POST", "/api/json", body=deep), 400,
                             {"error": "Request body JSON is nested too deeply."})
        self.assertJsonError(self.kh.request("DELETE", "/api/drafts/d1", body=b"{}"), 400,
                             {"error": "Request body not allowed on this route."})
        self.up.assert_nothing(self)
        self.assertEqual(self.kh.request("POST", "/api/json", body=b"[" * 32 + b"]" * 32).status,
                         200)
        self.assertEqual(self.kh.request("DELETE", "/api/drafts/d1").status, 200)

    def test_content_type_lifted_for_one_route_only(self):
        mp = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nhi\r\n--b--\r\n"
        ct = "multipart/form-data; boundary=b"
        r = self.kh.request("POST", "/api/upload", body=mp, content_type=ct)
        self.assertEqual(r.status, 200, r)
        rec = self.up.wait_requests(1)[0]
        self.assertEqual(rec.body, mp)
        self.assertEqual(rec.header("content-type"), ct)
        # JSON is not accepted there, and multipart nowhere else.
        r = self.kh.request("POST", "/api/upload", body=b"{}")
        self.assertJsonError(r, 415, {"error": "Content-Type not accepted on this route: "
                                               "application/json"})
        r = self.kh.request("POST", "/api/free", body=mp, content_type=ct)
        self.assertJsonError(r, 415, khtest.BODY_415)
        time.sleep(0.3)
        self.assertEqual(self.up.count(), 1)

    def test_rule_max_body_413_above_and_below_the_default(self):
        # /api/small: 64 bytes (below the policy's 1k); /api/upload: 4k
        # (above it).  Content-Length and chunked bodies alike.
        r = self.kh.request("POST", "/api/small", body=b'{"a":"' + b"x" * 60 + b'"}')
        self.assertJsonError(r, 413)
        chunked = b"41\r\n" + b"x" * 65 + b"\r\n0\r\n\r\n"
        r = self.kh.request("POST", "/api/small", body=chunked,
                            headers=[("Transfer-Encoding", "chunked")])
        self.assertJsonError(r, 413)
        self.up.assert_nothing(self)
        big = b"y" * 3000
        r = self.kh.request("POST", "/api/upload", body=big, content_type="multipart/form-data")
        self.assertEqual(r.status, 200, r)
        r = self.kh.request("POST", "/api/free", body=b'"' + big + b'"')
        self.assertJsonError(r, 413)

    def test_route_header_forwarded_on_its_route_only(self):
        h = [("X-Paperclip-GitHub-Capability", "cap-123")]
        self.assertEqual(self.kh.request("POST", "/api/cap", body=b"{}", headers=h).status, 200)
        self.assertEqual(self.kh.request("POST", "/api/free", body=b"{}", headers=h).status, 200)
        a, b = self.up.wait_requests(2)
        self.assertEqual(a.all("x-paperclip-github-capability"), ["cap-123"])
        self.assertEqual(b.all("x-paperclip-github-capability"), [])

    def test_rate_limit_429_with_retry_after(self):
        # 2 per minute: no timing assumptions, the third is refused at once.
        for _ in range(2):
            self.assertEqual(self.kh.request("GET", "/api/rated").status, 200)
        r = self.kh.request("GET", "/api/rated")
        got = self.assertJsonError(r, 429)
        retry = int(r.header("retry-after"))
        self.assertTrue(1 <= retry <= 30, r)
        self.assertEqual(got, {"error": "Rate limit for this route exceeded (2 per minute).",
                               "retryAfter": retry})
        time.sleep(0.3)
        self.assertEqual(self.up.count(), 2)
        # Another route is not affected.
        self.assertEqual(self.kh.request("GET", "/api/agents/me").status, 200)

    def test_mutation_budget_429_once_spent_reads_still_allowed(self):
        for i in range(4):
            self.assertEqual(self.kh.request("POST", "/api/free", body=b"{}").status, 200, i)
        r = self.kh.request("POST", "/api/free", body=b"{}")
        self.assertJsonError(r, 429, {"error": "Mutation budget for this run is spent (max 4)."})
        r = self.kh.request("PATCH", "/api/issues/X", body=b'{"status":"done"}')
        self.assertJsonError(r, 429)
        self.assertEqual(self.kh.request("GET", "/api/agents/me").status, 200)
        time.sleep(0.3)
        self.assertEqual(sum(1 for q in self.up.snapshot() if q.method != "GET"), 4)

    def test_mutation_budget_survives_a_child_restart(self):
        for _ in range(3):
            self.assertEqual(self.kh.request("POST", "/api/free", body=b"{}").status, 200)
        old = self.kh.child_pid()
        os.kill(old, signal.SIGKILL)
        self.kh.child_pid(exclude={old}, timeout=5)

        def after_restart():
            try:
                return self.kh.request("POST", "/api/free", body=b"{}", timeout=2)
            except (OSError, AssertionError):
                return None
        r = khtest.wait_until(after_restart, 5, "the restarted child to answer")
        self.assertEqual(r.status, 200, r)
        r = self.kh.request("POST", "/api/free", body=b"{}")
        self.assertJsonError(r, 429, {"error": "Mutation budget for this run is spent (max 4)."})
        time.sleep(0.3)
        self.assertEqual(sum(1 for q in self.up.snapshot() if q.method == "POST"), 4)


class ShippedPoliciesLoadTest(KeyholeTestCase):

    def test_paperclip_policy_serves_bound_and_unbound(self):
        up = self.upstream()
        kh = self.keyhole(up.url, policy_file=khtest.PAPERCLIP_POLICY,
                          args=["--var", "issue=BRI-7"], run_id="run-1")
        self.assertEqual(kh.request("PATCH", "/api/issues/BRI-7",
                                    body=b'{"status":"in_progress"}').status, 200)
        self.assertEqual(kh.request("POST", "/api/issues/BRI-7/comments",
                                    body=b'{"body":"hello"}').status, 200)
        self.assertJsonError(kh.request("PATCH", "/api/issues/BRI-8",
                                        body=b'{"status":"done"}'), 403)
        self.assertJsonError(kh.request("PATCH", "/api/issues/BRI-7",
                                        body=b'{"assigneeAdapterOverrides":{}}'), 422)
        self.assertEqual(kh.request("GET", "/api/issues/BRI-8/comments?after=c1").status, 200)
        self.assertEqual([(q.method, q.path) for q in up.snapshot()],
                         [("PATCH", "/api/issues/BRI-7"),
                          ("POST", "/api/issues/BRI-7/comments"),
                          ("GET", "/api/issues/BRI-8/comments?after=c1")])
        self.assertNotIn("warn", kh.stderr().decode())

        # Without an issue (optional-var): it starts, issue writes match nothing.
        up2 = self.upstream()
        kh2 = self.keyhole(up2.url, policy_file=khtest.PAPERCLIP_POLICY)
        self.assertJsonError(kh2.request("PATCH", "/api/issues/BRI-7",
                                         body=b'{"status":"done"}'), 403)
        self.assertEqual(kh2.request("GET", "/api/agents/me/inbox-lite").status, 200)

    def test_both_shipped_policies_pass_check_policy(self):
        for policy in (khtest.PAPERCLIP_POLICY, khtest.PAPERCLIP_MINIMAL_POLICY):
            for extra in ([], ["--var", "issue=BRI-7"]):
                with self.subTest(policy=os.path.basename(policy), extra=extra):
                    code, out, err = khtest.run_keyhole(["check-policy", policy] + extra)
                    self.assertEqual(code, 0, err)
                    if not extra or policy == khtest.PAPERCLIP_POLICY:
                        self.assertEqual(err, "")
                    self.assertIn("allow GET /api/agents/me\n", out)


# Golden output of the audit tools.  Each case: (name, argv after
# `keyhole`); run from the source tree so file names print as written.
GOLDEN_CASES = [
    ("check-sample", ["check-policy", "tests/golden/sample.policy"]),
    ("check-sample-strict", ["check-policy", "tests/golden/sample.policy", "--var", "isue=BRI-7"]),
    ("check-errors", ["check-policy", "tests/golden/errors.policy"]),
    ("check-paperclip", ["check-policy", "policy/paperclip.policy"]),
    ("check-paperclip-minimal", ["check-policy", "policy/paperclip-minimal.policy"]),
    ("explain-own-issue", ["explain", "policy/paperclip.policy", "PATCH", "/api/issues/BRI-7",
                           "--var", "issue=BRI-7"]),
    ("explain-other-issue", ["explain", "policy/paperclip.policy", "PATCH", "/api/issues/BRI-8",
                             "--var", "issue=BRI-7"]),
    ("explain-read-any-issue", ["explain", "policy/paperclip.policy", "GET",
                                "/api/issues/BRI-9/comments?after=c-1&order=asc",
                                "--var", "issue=BRI-7"]),
    ("explain-unbound", ["explain", "policy/paperclip.policy", "POST",
                         "/api/issues/BRI-7/comments"]),
    ("explain-query-none", ["explain", "policy/paperclip.policy", "POST",
                            "/api/issues/BRI-7/comments?notify=1", "--var", "issue=BRI-7"]),
    ("explain-attachment", ["explain", "policy/paperclip.policy", "POST",
                            "/api/companies/c-1/issues/BRI-7/attachments", "--var", "issue=BRI-7"]),
    ("explain-github", ["explain", "policy/paperclip.policy", "POST",
                        "/runtime-tools/github/credentials"]),
    ("explain-dotdot", ["explain", "policy/paperclip.policy", "POST",
                        "/api/issues/X/interactions/../accept"]),
    ("explain-trailing-slash", ["explain", "policy/paperclip.policy", "GET", "/api/agents/me/"]),
    ("explain-glob", ["explain", "tests/golden/sample.policy", "GET", "/api/runs/r-1/logs/a/b.txt",
                      "--var", "run=r-1"]),
    ("explain-glob-miss", ["explain", "tests/golden/sample.policy", "GET", "/api/runs/r-1/logs",
                           "--var", "run=r-1"]),
    ("explain-method-mismatch", ["explain", "tests/golden/sample.policy", "DELETE",
                                 "/api/issues/BRI-7", "--var", "issue=BRI-7"]),
]


class GoldenOutputTest(KeyholeTestCase):

    maxDiff = None

    def run_case(self, name, argv):
        p = __import__("subprocess").run([khtest.binary("keyhole")] + argv, cwd=khtest.SRC,
                                         capture_output=True, timeout=10,
                                         env={"PATH": os.environ.get("PATH", "")})
        got = "exit: %d\n--- stdout\n%s--- stderr\n%s" % (
            p.returncode, p.stdout.decode(), p.stderr.decode())
        path = os.path.join(GOLDEN, name + ".out")
        if os.environ.get("KEYHOLE_REGEN_GOLDEN") == "1":
            with open(path, "w") as f:
                f.write(got)
        with open(path) as f:
            want = f.read()
        self.assertEqual(got, want, "golden %s differs (KEYHOLE_REGEN_GOLDEN=1 rewrites it)"
                         % path)

    def test_golden_outputs(self):
        for name, argv in GOLDEN_CASES:
            with self.subTest(case=name):
                self.run_case(name, argv)

    def test_explain_exit_status_and_help(self):
        code, out, _ = khtest.run_keyhole(["explain", "--help"])
        self.assertEqual(code, 0)
        self.assertIn("docs/policy.md", out)
        code, out, _ = khtest.run_keyhole(["check-policy", "--help"])
        self.assertEqual(code, 0)
        self.assertIn("docs/policy.md", out)
        self.assertIn("FILE:LINE:COL", out)
        code, out, err = khtest.run_keyhole(["explain", khtest.PAPERCLIP_POLICY, "GET"])
        self.assertEqual(code, 2, out + err)
        code, out, err = khtest.run_keyhole(["explain", "/nonexistent.policy", "GET", "/"])
        self.assertEqual(code, 2, out + err)
        code, out, err = khtest.run_keyhole(["explain", khtest.PAPERCLIP_POLICY, "GET", "/",
                                             "--var"])
        self.assertEqual(code, 2, out + err)


if __name__ == "__main__":
    khtest.main()
