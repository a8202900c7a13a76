#!/usr/bin/env python3
"""Credential isolation (SECURITY.md I1): the upstream credential
lives only in the parent.  It never appears in the child's memory, argv or
environment, in anything keyhole prints, or in any response; neither does
the bridge token appear in anything keyhole prints, answers or writes to
its audit log (--audit-log)."""

import json
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

# Strings the child's own image must hold (it answers 401/403 itself): if
# the memory scan finds none of them it is not reading real memory.
CHILD_CONTROL_STRINGS = [b"Invalid bridge token.", b"Route not allowed"]


class CredentialIsolationTest(KeyholeTestCase):

    def start(self, **kw):
        self.up = self.upstream()
        self.kh = self.keyhole(self.up.url, run_id="run-iso", **kw)
        self.responses = []
        self.traffic()
        self.child = self.kh.child_pid()

    def traffic(self):
        """Allowed, denied, unauthenticated, refused and malformed requests."""
        kh, rs = self.kh, self.responses
        rs.append(kh.request("GET", "/api/agents/me"))
        rs.append(kh.request("POST", "/api/issues/i1/comments", body=b'{"body":"hello"}'))
        rs.append(kh.request("PATCH", "/api/issues/i1", body=b'{"status":"done"}'))
        rs.append(kh.request("GET", "/api/admin/secrets"))
        rs.append(kh.request("GET", "/api/agents/me", token="wrong-token-0123456789"))
        rs.append(kh.request("GET", "/api/agents/me", token=None))
        rs.append(kh.request("POST", "/api/issues/i1/comments", body=b"x", content_type="text/plain"))
        rs.append(kh.send_raw(b"GET /api/agents/me HTTP/1.1\nHost: x\n\n"))
        self.assertEqual([r.status for r in rs], [200, 200, 200, 403, 401, 401, 415, 400])
        # Positive control: the credential does reach the upstream, so a
        # search for it below can fail.
        got = self.up.wait_requests(3)
        self.assertEqual([r.header("authorization") for r in got],
                         ["Bearer " + self.kh.credential] * 3)

    def assertNoSecretsInOutputAndResponses(self):
        out = self.kh.output()
        for secret, what in ((self.kh.credential, "credential"), (self.kh.token, "bridge token")):
            s = secret.encode()
            self.assertNotIn(s, out, "the %s appears in keyhole's output" % what)
            for r in self.responses:
                self.assertNotIn(s, r.raw(), "the %s appears in a response: %r" % (what, r))

    def assertChildProcessFilesClean(self):
        cred = self.kh.credential.encode()
        for name in ("environ", "cmdline"):
            try:
                with open("/proc/%d/%s" % (self.child, name), "rb") as f:
                    data = f.read()
            except PermissionError:
                khtest.require_root("reading the child's /proc/PID/%s" % name)
                raise
            self.assertNotIn(cred, data, "credential in the child's %s" % name)

    def assertChildMemoryClean(self):
        khtest.require_root("scanning /proc/PID/mem of the child")
        if not khtest.cap_effective_has(khtest.CAP_SYS_PTRACE):
            raise unittest.SkipTest(
                "scanning /proc/PID/mem needs CAP_SYS_PTRACE, which this root lacks")
        cred = self.kh.credential.encode()
        needles = [cred, self.kh.token.encode()] + CHILD_CONTROL_STRINGS
        found, stats = khtest.scan_process_memory(self.child, needles)
        self.assertGreater(stats["bytes"], 64 * 1024, stats)
        self.assertTrue(any(n in found for n in needles[1:]),
                        "memory scan control failed: none of %r found in the child, "
                        "so the scan proves nothing (%r)" % (needles[1:], stats))
        self.assertNotIn(cred, found, "credential found in the child's memory at %s"
                         % found.get(cred))
        # And the same scan does find it where it must be: in the parent.
        pfound, pstats = khtest.scan_process_memory(self.kh.pid, [cred])
        self.assertIn(cred, pfound, "memory scan control failed: the credential is not "
                      "found in the parent either (%r)" % pstats)

    def test_credential_never_in_child_memory(self):
        self.start()
        self.assertChildMemoryClean()

    def test_credential_never_in_child_environ_or_cmdline(self):
        self.start()
        self.assertChildProcessFilesClean()

    def test_credential_and_token_never_printed_or_answered(self):
        self.start()
        self.assertNoSecretsInOutputAndResponses()
        self.kh.stop()
        self.assertNoSecretsInOutputAndResponses()

    def test_env_credential_never_reaches_child(self):
        self.start(credential_via="env")
        self.assertChildProcessFilesClean()
        self.assertNoSecretsInOutputAndResponses()
        self.assertChildMemoryClean()

    def test_child_holds_no_fd_to_credential_file(self):
        self.start()
        try:
            fds = os.listdir("/proc/%d/fd" % self.child)
        except PermissionError:
            khtest.require_root("listing the child's fds")
            raise
        cred_path = os.path.realpath(self.kh.credential_file)
        for fd in fds:
            try:
                target = os.readlink("/proc/%d/fd/%s" % (self.child, fd))
            except OSError:
                continue
            self.assertNotEqual(target, cred_path, "child fd %s is the credential file" % fd)

    def test_restarted_child_memory_clean(self):
        self.start()
        os.kill(self.child, signal.SIGKILL)
        self.child = self.kh.child_pid(exclude={self.child}, timeout=5)
        self.responses = []
        khtest.wait_until(lambda: self._try_ok(), 5, "a request served by the new child")
        self.traffic_after_restart()
        self.assertChildProcessFilesClean()
        self.assertNoSecretsInOutputAndResponses()
        self.assertChildMemoryClean()

    def _try_ok(self):
        try:
            return self.kh.request("GET", "/api/agents/me", timeout=2).status == 200
        except (OSError, AssertionError):
            return False

    def traffic_after_restart(self):
        self.responses.append(self.kh.request("GET", "/api/admin/secrets"))
        self.responses.append(self.kh.request("GET", "/api/agents/me", token=None))


class AuditLogIsolationTest(KeyholeTestCase):
    """The audit log (--audit-log) holds neither secret, nor any body,
    even where the sandbox put the token into a path, a query, a header
    or a body (issue 17: "never a body, the bridge token or the
    credential")."""

    def _audit_no_secret(self, auth_args=(), credential=None, injected=None):
        """One run with the credential injected as auth_args say; injected
        (header name, value the upstream must get) is the positive control."""
        import base64
        import subprocess
        d = khtest.make_tempdir(self)
        os.chmod(d, 0o700)
        key = os.path.join(d, "audit.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key],
                       check=True, capture_output=True)
        os.chmod(key, 0o600)
        log = os.path.join(d, "audit.log")
        up = self.upstream()
        kh = self.keyhole(up.url, run_id="run-iso", credential=credential,
                          args=["--audit-log", log, "--audit-key", key] + list(auth_args))
        tok, cred = kh.token, kh.credential
        marker = "BODY-MARKER-7f3e"
        rs = [kh.request("GET", "/api/agents/me?t=" + tok),
              kh.request("POST", "/api/issues/i1/comments",
                         body=('{"body":"%s %s %s"}' % (marker, tok, cred)).encode()),
              kh.request("GET", "/api/agents/" + tok),
              kh.request("GET", "/api/issues/%s/comments" % tok, headers=[("x-token", tok)]),
              kh.request("GET", "/api/agents/me", token=tok + "x")]
        self.assertEqual([r.status for r in rs], [200, 200, 403, 200, 401])
        # Positive controls: the upstream got the body and the credential
        # (in the header the style names), and the audit log has all five
        # requests, the token masked in the paths the sandbox put it in.
        got = up.wait_requests(3)
        self.assertIn(marker.encode(), got[1].body)
        name, value = injected or ("authorization", "Bearer " + cred)
        self.assertEqual(got[0].all(name), [value])
        kh.stop()
        with open(log, "rb") as f:
            data = f.read()
        self.assertEqual(data.count(b'"type":"request"'), 5)
        self.assertIn(b"/api/agents/" + b"*" * len(tok), data)
        secrets = [(cred, "credential"), (tok, "bridge token"), (value, "injected header")]
        if ":" in cred:         # HTTP Basic: the password alone too
            secrets.append((cred.split(":", 1)[1], "credential's password"))
        for secret, what in secrets:
            for form in (secret, json.dumps(secret)[1:-1],
                         base64.b64encode(secret.encode()).decode()):
                self.assertNotIn(form.encode(), data, "the %s is in the audit log" % what)
            # nor a long piece of it (a cut, a partial mask)
            self.assertNotIn(secret[:16].encode(), data)
            self.assertNotIn(secret[-16:].encode(), data)
        self.assertNotIn(marker.encode(), data, "a body is in the audit log")

    def test_audit_log_holds_no_secret_and_no_body(self):
        self._audit_no_secret()

    def test_audit_log_holds_no_secret_auth_header(self):
        cred = khtest.new_credential()
        self._audit_no_secret(["--auth", "header:x-api-key"], cred, ("x-api-key", cred))

    def test_audit_log_holds_no_secret_auth_basic(self):
        import base64
        cred = "svc:" + khtest.new_credential()
        self._audit_no_secret(["--auth", "basic"], cred,
                              ("authorization",
                               "Basic " + base64.b64encode(cred.encode()).decode()))


class ErrorPathIsolationTest(KeyholeTestCase):
    """Upstream failures produce error bodies and logs: none carries a secret."""

    def _check(self, kh, responses):
        out = kh.output()
        for secret in (kh.credential, kh.token):
            self.assertNotIn(secret.encode(), out)
            for r in responses:
                self.assertNotIn(secret.encode(), r.raw())

    def test_upstream_down_leaks_nothing(self):
        kh = self.keyhole(khtest.closed_port_url())
        rs = [kh.request("GET", "/api/agents/me", timeout=10),
              kh.request("POST", "/api/issues/i1/comments", body=b'{"a":1}', timeout=10)]
        self.assertEqual([r.status for r in rs], [502, 502])
        kh.stop()
        self._check(kh, rs)

    def test_upstream_timeout_leaks_nothing(self):
        up = self.upstream()
        up.slow_seconds = 4.0
        kh = self.keyhole(up.url, args=["--upstream-timeout-ms", "500"])
        rs = [kh.request("GET", "/slow/a", timeout=10),
              kh.request("POST", "/slow/b", body=b'{"a":1}', timeout=10)]
        self.assertEqual([r.status for r in rs], [504, 409])
        kh.stop()
        self._check(kh, rs)


if __name__ == "__main__":
    khtest.main()
