#!/usr/bin/env python3
"""Errors: every refusal has the Paperclip bridge's status and JSON body,
and a refused request never reaches the upstream (invariants 4, 6, 7)."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402


def in_thread(tc, fn):
    """Run fn in a thread; returns a join() giving its result or raising."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:   # re-raised in the test thread
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join(timeout=15.0):
        t.join(timeout)
        if t.is_alive():
            tc.fail("background request did not finish in %.0f s" % timeout)
        if "error" in box:
            raise box["error"]
        return box["value"]
    return join


class AuthAndPolicyErrorsTest(KeyholeTestCase):

    def setUp(self):
        self.up = self.upstream()
        self.kh = self.keyhole(self.up.url)

    def test_denied_route_exact_403_and_nothing_forwarded(self):
        r = self.kh.request("PATCH", "/api/issues/issue-1/x", body=b'{"a":1}')
        self.assertJsonError(r, 403, khtest.body_403("PATCH", "/api/issues/issue-1/x"))
        r = self.kh.request("DELETE", "/api/issues/issue-1")
        self.assertJsonError(r, 403, khtest.body_403("DELETE", "/api/issues/issue-1"))
        self.up.assert_nothing(self)

    def test_wrong_token_401(self):
        for token in ("wrong-token-0123456789", self.kh.token + "x", self.kh.token[:-1],
                      self.kh.token.upper()):
            with self.subTest(token=token):
                r = self.kh.request("GET", "/api/agents/me", token=token)
                self.assertJsonError(r, 401, khtest.BODY_401)
        self.up.assert_nothing(self)

    def test_missing_token_401(self):
        r = self.kh.request("GET", "/api/agents/me", token=None)
        self.assertJsonError(r, 401, khtest.BODY_401)
        r = self.kh.request("GET", "/api/agents/me", token=None,
                            headers=[("Authorization", "Basic " + self.kh.token)])
        self.assertJsonError(r, 401, khtest.BODY_401)
        r = self.kh.request("GET", "/api/agents/me", token=None,
                            headers=[("Authorization", "Bearer")])
        self.assertJsonError(r, 401, khtest.BODY_401)
        self.up.assert_nothing(self)

    def test_unauthenticated_denied_route_still_401(self):
        # The policy is not revealed to a client without the token.
        r = self.kh.request("GET", "/api/admin/secrets", token="wrong-token-0123456789")
        self.assertEqual(r.status, 401, r)
        self.up.assert_nothing(self)

    def test_non_json_body_415(self):
        r = self.kh.request("POST", "/api/issues/i1/comments", body=b"hello",
                            content_type="text/plain")
        self.assertJsonError(r, 415, khtest.BODY_415)
        r = self.kh.request("POST", "/api/issues/i1/comments", body=b'{"a":1}',
                            content_type="application/jsonx")
        self.assertJsonError(r, 415, khtest.BODY_415)
        self.up.assert_nothing(self)

    def test_body_without_content_type_415(self):
        r = self.kh.request("POST", "/api/issues/i1/comments", body=b'{"a":1}',
                            content_type=None)
        self.assertJsonError(r, 415, khtest.BODY_415)
        self.up.assert_nothing(self)

    def test_body_not_exactly_one_json_text_400_not_forwarded(self):
        # RFC 8259, strictly (src/check/json_check.c); each of these got
        # through the cJSON check before (tests/fuzz/fuzz_json_body.c).
        bodies = [b'{"a":1}garbage', b'{} {}', b'\x01{"a":1}', b'{"n":01}',
                  b'{"n":1.}', b'{"n":-.5}', b'{"s":"a\x01b"}', b'{"s":"\xff"}',
                  b'{"s":"\xc0\xaf"}']
        for body in bodies:
            with self.subTest(body=body):
                r = self.kh.request("POST", "/api/issues/i1/comments", body=body,
                                    content_type="application/json")
                self.assertJsonError(r, 400, {"error": "Request body is not valid JSON."})
        self.up.assert_nothing(self)

    def test_json_with_charset_parameter_accepted(self):
        # Positive control for the 415 tests.
        r = self.kh.request("POST", "/api/issues/i1/comments", body=b'{"a":1}',
                            content_type="application/json; charset=utf-8")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.wait_requests(1)[0].body, b'{"a":1}')


class BodyLimitTest(KeyholeTestCase):

    def test_body_over_max_body_413_not_forwarded(self):
        up = self.upstream()
        kh = self.keyhole(up.url, args=["--max-body", "1024"])
        body = b'{"body":"' + b"x" * 1990 + b'"}'
        r = kh.request("POST", "/api/issues/i1/comments", body=body)
        self.assertJsonError(r, 413)
        chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
        r = kh.request("POST", "/api/issues/i1/comments", body=chunked,
                       headers=[("Transfer-Encoding", "chunked")])
        self.assertJsonError(r, 413)
        up.assert_nothing(self)
        # At the limit is fine.
        ok = b'{"b":"' + b"x" * (1024 - 8) + b'"}'
        self.assertEqual(len(ok), 1024)
        r = kh.request("POST", "/api/issues/i1/comments", body=ok)
        self.assertEqual(r.status, 200, r)

    def test_env_max_body_bytes_413(self):
        up = self.upstream()
        kh = self.keyhole(up.url, env={"PAPERCLIP_BRIDGE_MAX_BODY_BYTES": "1024"})
        r = kh.request("POST", "/api/issues/i1/comments", body=b'{"b":"' + b"x" * 2000 + b'"}')
        self.assertJsonError(r, 413)
        up.assert_nothing(self)

    def test_policy_max_body_413(self):
        up = self.upstream()
        kh = self.keyhole(up.url, policy=khtest.TEST_POLICY + "max-body 1k\n")
        r = kh.request("POST", "/api/issues/i1/comments", body=b'{"b":"' + b"x" * 2000 + b'"}')
        self.assertJsonError(r, 413)
        up.assert_nothing(self)


class MalformedRequestTest(KeyholeTestCase):

    # Policy that allows what each smuggled path would resolve to, so only
    # the canonical-path rules can stop them.
    POLICY = khtest.TEST_POLICY + """\
allow POST /api/issues/*/accept
allow POST /api/issues/*/interactions/*
allow POST /api/issues/*/interactions/*/*
allow GET /api/issues/*/*/*
"""

    def setUp(self):
        self.up = self.upstream()
        self.kh = self.keyhole(self.up.url, policy=self.POLICY)
        self.auth = b"Authorization: Bearer " + self.kh.token.encode()

    def test_bare_lf_400(self):
        raw = (b"GET /api/agents/me HTTP/1.1\nHost: 127.0.0.1\n" + self.auth + b"\n\n")
        self.assertJsonError(self.kh.send_raw(raw), 400)
        raw = (b"GET /api/agents/me HTTP/1.1\r\nHost: 127.0.0.1\n" + self.auth + b"\r\n\r\n")
        self.assertJsonError(self.kh.send_raw(raw), 400)
        self.up.assert_nothing(self)

    def test_content_length_with_transfer_encoding_400(self):
        raw = (b"POST /api/issues/i1/comments HTTP/1.1\r\nHost: 127.0.0.1\r\n" + self.auth +
               b"\r\nContent-Type: application/json\r\nContent-Length: 7\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        self.assertJsonError(self.kh.send_raw(raw), 400)
        self.up.assert_nothing(self)

    def test_duplicate_content_length_400(self):
        raw = (b"POST /api/issues/i1/comments HTTP/1.1\r\nHost: 127.0.0.1\r\n" + self.auth +
               b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
               b"Content-Length: 3\r\n\r\n{}x")
        self.assertJsonError(self.kh.send_raw(raw), 400)
        self.up.assert_nothing(self)

    def test_dotdot_paths_never_reach_upstream(self):
        targets = [
            ("POST", "/api/issues/1/interactions/../accept"),
            ("POST", "/api/issues/1/interactions/%2e%2e/accept"),
            ("POST", "/api/issues/1/interactions/%2E%2E/accept"),
            ("POST", "/api/issues/1/interactions/.%2e/accept"),
            ("POST", "/api/issues/1/interactions/..;/accept"),
            ("POST", "/api/issues/1/interactions/x/../../accept"),
            ("GET", "/api/issues/../agents/me"),
            ("GET", "/api/./agents/me"),
            ("GET", "/api/issues/1%2Fx/comments"),
            ("GET", "/api/issues/1%5Cx/comments"),
            ("GET", "/api/issues/1\\x/comments"),
            ("GET", "/api//agents/me"),
            ("GET", "/api/agents/me%00"),
            ("GET", "/api/agents/m%zze"),
        ]
        for method, target in targets:
            with self.subTest(target=target):
                body = b'{"a":1}' if method == "POST" else None
                r = self.kh.request(method, target, body=body)
                self.assertIn(r.status, (400, 403), r)
                self.assertJsonError(r, r.status)
        self.up.assert_nothing(self)

    def test_absolute_form_to_other_host_rejected(self):
        r = self.kh.request("GET", "http://evil.example/api/agents/me")
        self.assertIn(r.status, (400, 403), r)
        self.up.assert_nothing(self)


class DeadlineTest(KeyholeTestCase):

    def test_head_deadline_408(self):
        up = self.upstream()
        kh = self.keyhole(up.url, args=["--head-timeout-ms", "500"])
        with kh.conn(timeout=5) as c:
            t0 = time.monotonic()
            c.send(b"GET /api/agents/me HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            r = c.read_response(timeout=4)
            self.assertJsonError(r, 408)
            self.assertLess(time.monotonic() - t0, 3.0)
        up.assert_nothing(self)

    def test_body_deadline_408(self):
        up = self.upstream()
        kh = self.keyhole(up.url, args=["--body-timeout-ms", "500"])
        with kh.conn(timeout=5) as c:
            t0 = time.monotonic()
            c.send(b"POST /api/issues/i1/comments HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                   b"Authorization: Bearer " + kh.token.encode() +
                   b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                   b'{"body":"')
            r = c.read_response(timeout=4)
            self.assertJsonError(r, 408)
            self.assertLess(time.monotonic() - t0, 3.0)
        up.assert_nothing(self)


class UpstreamFailureTest(KeyholeTestCase):

    def test_upstream_unreachable_502(self):
        kh = self.keyhole(khtest.closed_port_url())
        r = kh.request("GET", "/api/agents/me", timeout=10)
        self.assertJsonError(r, 502)

    def _slow_upstream(self):
        up = self.upstream()
        up.slow_seconds = 5.0
        return up

    def test_upstream_timeout_get_504(self):
        up = self._slow_upstream()
        kh = self.keyhole(up.url, args=["--upstream-timeout-ms", "1000"])
        t0 = time.monotonic()
        r = kh.request("GET", "/slow/a", timeout=10)
        elapsed = time.monotonic() - t0
        self.assertJsonError(r, 504)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 3.0)

    def test_env_response_timeout_504(self):
        up = self._slow_upstream()
        kh = self.keyhole(up.url, env={"PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS": "1000"})
        t0 = time.monotonic()
        r = kh.request("GET", "/slow/a", timeout=10)
        self.assertJsonError(r, 504)
        self.assertLess(time.monotonic() - t0, 3.0)

    def test_upstream_timeout_post_409_indeterminate_not_retried(self):
        up = self._slow_upstream()
        kh = self.keyhole(up.url, args=["--upstream-timeout-ms", "1000"])
        for method in ("POST", "PATCH"):
            with self.subTest(method=method):
                t0 = time.monotonic()
                r = kh.request(method, "/slow/m-" + method, body=b'{"n":1}', timeout=10)
                self.assertJsonError(r, 409)
                self.assertEqual(r.header("x-paperclip-bridge-outcome"), "indeterminate", r)
                self.assertLess(time.monotonic() - t0, 3.0)
        time.sleep(1.0)
        paths = [x.path for x in up.snapshot()]
        self.assertEqual(sorted(paths), ["/slow/m-PATCH", "/slow/m-POST"],
                         "a non-idempotent request must be sent exactly once")

    def _queue_full(self, kh, up):
        first = in_thread(self, lambda: kh.request("GET", "/slow/first", timeout=10))
        up.wait_requests(1)          # the slow request is in flight
        r = kh.request("GET", "/api/agents/me")
        self.assertJsonError(r, 503, khtest.BODY_503)
        self.assertEqual(first().status, 200)
        self.assertEqual([x.path for x in up.snapshot()], ["/slow/first"])
        # Capacity comes back.
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)

    def test_queue_full_503(self):
        up = self.upstream()
        up.slow_seconds = 1.5
        kh = self.keyhole(up.url, args=["--max-inflight", "1"])
        self._queue_full(kh, up)

    def test_env_max_queue_depth_503(self):
        up = self.upstream()
        up.slow_seconds = 1.5
        kh = self.keyhole(up.url, env={"PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH": "1"})
        self._queue_full(kh, up)

    def test_oversized_upstream_response_502(self):
        up = self.upstream()
        up.set_route("/status/200", body=b'{"x":"' + b"y" * 5000 + b'"}')
        kh = self.keyhole(up.url, args=["--max-response", "1024"])
        r = kh.request("GET", "/status/200", timeout=10)
        self.assertJsonError(r, 502)


if __name__ == "__main__":
    khtest.main()
