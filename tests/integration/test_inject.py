#!/usr/bin/env python3
"""Any HTTP API, not only Paperclip's (issue 16 §6): how the credential
goes upstream (--auth bearer|basic|header:NAME), the run id under another
name (--run-id-header), fixed headers (--upstream-header), and the rule
that the sandbox can never supply a header keyhole injects: no policy may
allowlist it (start-up error naming the line), a request carrying it
forwards keyhole's value only.  Paperclip's behaviour stays the default.
The credential's line is in the locked page for every style:
it.test_credential_parent."""

import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

POLICY = """\
allow GET /api/agents/me
allow POST /api/issues/*/comments
"""

GITHUB = os.path.join(khtest.SRC, "policy", "github.policy")
GH_VARS = ["--var", "owner=octo-org", "--var", "repo=hello-world"]


class InjectTest(KeyholeTestCase):

    def test_paperclip_default_is_unchanged(self):
        up = self.upstream()
        kh = self.keyhole(up.url, policy=POLICY, run_id="run-1")
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        rec = up.wait_requests(1)[0]
        self.assertEqual(rec.all("authorization"), ["Bearer " + kh.credential])
        self.assertEqual(rec.all("x-paperclip-run-id"), ["run-1"])

    def test_named_header_run_id_and_fixed_headers(self):
        up = self.upstream()
        kh = self.keyhole(up.url, policy=POLICY, run_id="run-2",
                          args=["--auth", "header:x-api-key", "--run-id-header", "X-Run",
                                "--upstream-header", "anthropic-version: 2023-06-01",
                                "--upstream-header", "X-Tenant:  t-42 "])
        # The sandbox tries every injected name (and authorization): only
        # keyhole's values arrive.
        r = kh.request("GET", "/api/agents/me", headers=[
            ("x-api-key", "sandbox-key"), ("x-run", "other-run"),
            ("anthropic-version", "1999"), ("x-tenant", "t-1")])
        self.assertEqual(r.status, 200, r)
        rec = up.wait_requests(1)[0]
        self.assertEqual(rec.all("x-api-key"), [kh.credential])
        self.assertEqual(rec.all("authorization"), [])
        self.assertEqual(rec.all("x-run"), ["run-2"])
        self.assertEqual(rec.all("x-paperclip-run-id"), [])
        self.assertEqual(rec.all("anthropic-version"), ["2023-06-01"])
        self.assertEqual(rec.all("x-tenant"), ["t-42"])

    def test_http_basic(self):
        up = self.upstream()
        cred = "svc:" + khtest.new_credential()
        kh = self.keyhole(up.url, policy=POLICY, credential=cred, args=["--auth", "basic"])
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        rec = up.wait_requests(1)[0]
        self.assertEqual(rec.all("authorization"),
                         ["Basic " + base64.b64encode(cred.encode()).decode()])

    def test_basic_needs_user_and_password(self):
        up = self.upstream()
        kh = self.keyhole(up.url, policy=POLICY, args=["--auth", "basic"], wait_ready=False)
        self.assertEqual(kh.wait_exit(10), 1)
        self.assertIn("--auth basic: the credential must be USER:PASSWORD", kh.output_text())

    def test_policy_cannot_allowlist_an_injected_header(self):
        for args, name in ((["--auth", "header:x-api-key"], "x-api-key"),
                           (["--upstream-header", "x-tenant: 1"], "x-tenant"),
                           (["--run-id-header", "x-run"], "x-run")):
            up = self.upstream()
            kh = self.keyhole(up.url, policy=POLICY + "request-header %s\n" % name,
                              args=args, wait_ready=False)
            self.assertEqual(kh.wait_exit(10), 1, kh.output_text())
            self.assertRegex(kh.output_text(), r"test\.policy:3:16: header '%s' may never be "
                             r"allowlisted .*--upstream-header" % name)

    def test_injecting_a_default_request_header_removes_it_from_the_defaults(self):
        """--upstream-header accept: ... — the policy's default allowlist
        (accept, content-type, if-match, if-none-match) loses accept, so
        the sandbox's accept never reaches the upstream."""
        up = self.upstream()
        kh = self.keyhole(up.url, policy=POLICY,
                          args=["--upstream-header", "accept: application/vnd.x+json"])
        self.assertEqual(kh.request("GET", "/api/agents/me",
                                    headers=[("accept", "text/html")]).status, 200)
        self.assertEqual(up.wait_requests(1)[0].all("accept"), ["application/vnd.x+json"])

    def test_refused_injections(self):
        up = self.upstream()
        for args in (["--upstream-header", "host: evil.example"],
                     ["--upstream-header", "content-length: 1"],
                     ["--upstream-header", "authorization: x"],
                     ["--upstream-header", "content-type: text/plain"],
                     ["--upstream-header", "x-a: b\x01"],
                     ["--upstream-header", "no-colon"],
                     ["--auth", "header:transfer-encoding"],
                     ["--auth", "digest"],
                     ["--run-id-header", "x-forwarded-for"],
                     ["--auth", "header:x-k", "--upstream-header", "x-k: 1"]):
            rc, out, err = khtest.run_keyhole(
                ["serve", "--policy", "/dev/null", "--upstream", up.url] + args)
            self.assertEqual(rc, 2, (args, err))

    def test_github_example_policy(self):
        """policy/github.policy as README.md runs it, against a local
        stand-in: the repository's routes pass, another repository's and
        a merge do not."""
        up = self.upstream()
        kh = self.keyhole(up.url, policy_file=GITHUB,
                          args=["--auth", "bearer",
                                "--upstream-header", "x-github-api-version: 2022-11-28",
                                "--upstream-header", "user-agent: keyhole"] + GH_VARS)
        r = kh.request("GET", "/repos/octo-org/hello-world/issues",
                       headers=[("accept", "application/vnd.github+json")])
        self.assertEqual(r.status, 200)
        rec = up.wait_requests(1)[0]
        self.assertEqual(rec.all("authorization"), ["Bearer " + kh.credential])
        self.assertEqual(rec.all("x-github-api-version"), ["2022-11-28"])
        self.assertEqual(rec.all("accept"), ["application/vnd.github+json"])
        self.assertEqual(kh.request("POST", "/repos/octo-org/hello-world/issues/3/comments",
                                    body=b'{"body":"done"}').status, 200)
        self.assertJsonError(kh.request("GET", "/repos/other/hello-world/issues"), 403)
        self.assertJsonError(kh.request("PUT", "/repos/octo-org/hello-world/pulls/1/merge"), 403)
        self.assertEqual(up.count(), 2)


if __name__ == "__main__":
    khtest.main()
