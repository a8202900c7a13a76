#!/usr/bin/env python3
"""Forwarding: what an allowed request looks like when it reaches the
upstream, and what the client gets back (SECURITY.md I4, I5 and I8)."""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402


class ForwardingTest(KeyholeTestCase):

    def setUp(self):
        self.up = self.upstream()
        self.run_id = "run-" + os.urandom(6).hex()
        self.kh = self.keyhole(self.up.url, run_id=self.run_id)

    def assertForwardedAsUpstreamExpects(self, rec):
        """Credential and run id set exactly once; no trace of the token."""
        self.assertEqual(rec.all("authorization"), ["Bearer " + self.kh.credential], rec)
        self.assertEqual(rec.all("x-paperclip-run-id"), [self.run_id], rec)
        for k, v in rec.headers:
            self.assertNotIn(self.kh.token, v, "bridge token forwarded in %s" % k)
        self.assertNotIn(self.kh.token.encode(), rec.body)

    def test_allowed_get_reaches_upstream_with_credential_and_run_id(self):
        r = self.kh.request("GET", "/api/agents/me", headers=[("Accept", "application/json")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"ok":true}')
        self.assertEqual(r.header("content-type"), "application/json")
        reqs = self.up.wait_requests(1)
        self.assertEqual(len(reqs), 1, reqs)
        rec = reqs[0]
        self.assertEqual(rec.method, "GET")
        self.assertEqual(rec.path, "/api/agents/me")
        self.assertEqual(rec.header("accept"), "application/json")
        self.assertEqual(rec.header("host"), "127.0.0.1:%d" % self.up.port)
        self.assertForwardedAsUpstreamExpects(rec)

    def test_post_json_body_forwarded_byte_exact(self):
        body = ('{"body":  "h\\u00e9llo \u00e9 \\"q\\"",\n\t"n":[1,2 ,3],'
                ' "nested":{"a":null}}').encode("utf-8")
        r = self.kh.request("POST", "/api/issues/issue-1/comments", body=body,
                            content_type="application/json; charset=utf-8")
        self.assertEqual(r.status, 200, r)
        rec = self.up.wait_requests(1)[0]
        self.assertEqual(rec.method, "POST")
        self.assertEqual(rec.path, "/api/issues/issue-1/comments")
        self.assertEqual(rec.body, body)
        self.assertEqual(rec.header("content-type"), "application/json; charset=utf-8")
        self.assertForwardedAsUpstreamExpects(rec)

    def test_chunked_request_body_forwarded_byte_exact(self):
        body = b'{"status":"in_progress","x":"' + b"y" * 300 + b'"}'
        chunked = b"10\r\n" + body[:16] + b"\r\n" + b"%x\r\n" % (len(body) - 16) + \
            body[16:] + b"\r\n0\r\n\r\n"
        r = self.kh.request("PATCH", "/api/issues/issue-1", body=chunked,
                            headers=[("Transfer-Encoding", "chunked")])
        self.assertEqual(r.status, 200, r)
        rec = self.up.wait_requests(1)[0]
        self.assertEqual(rec.body, body)

    def test_bodiless_post_gets_no_invented_content_type(self):
        # libcurl adds application/x-www-form-urlencoded to a POST unless
        # told not to: the upstream must see only what the client sent.
        r = self.kh.request("POST", "/api/issues/1/checkout")
        self.assertEqual(r.status, 200, r)
        rec = self.up.snapshot()[-1]
        self.assertEqual(rec.method, "POST")
        self.assertIsNone(rec.header("content-type"), rec)
        self.assertEqual(rec.body, b"")

    def test_patch_forwarded(self):
        body = b'{"status":"done"}'
        r = self.kh.request("PATCH", "/api/issues/issue-42", body=body,
                            headers=[("If-Match", '"v1"')])
        self.assertEqual(r.status, 200, r)
        rec = self.up.wait_requests(1)[0]
        self.assertEqual(rec.method, "PATCH")
        self.assertEqual(rec.path, "/api/issues/issue-42")
        self.assertEqual(rec.body, body)
        self.assertEqual(rec.header("if-match"), '"v1"')
        self.assertForwardedAsUpstreamExpects(rec)

    def test_head_forwarded_without_body(self):
        r = self.kh.request("HEAD", "/api/agents/me")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"")
        self.assertEqual(self.up.wait_requests(1)[0].method, "HEAD")

    def test_query_string_kept_byte_exact(self):
        q = "b=2&a=1&c=%2Fx%3d&d=&e=x/y?z&f=%7E"
        r = self.kh.request("GET", "/api/agents/me?" + q)
        self.assertEqual(r.status, 200, r)
        rec = self.up.wait_requests(1)[0]
        self.assertEqual(rec.path, "/api/agents/me?" + q)

    def test_request_header_allowlist(self):
        r = self.kh.request("GET", "/api/issues/issue-1/comments", headers=[
            ("Accept", "application/json"),
            ("If-None-Match", '"v0"'),
            ("X-Evil", "1"),
            ("Cookie", "session=stolen"),
            ("Accept-Encoding", "gzip, deflate"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Paperclip-Run-Id", "spoofed-run"),
            ("Proxy-Authorization", "Basic eDp5"),
        ])
        self.assertEqual(r.status, 200, r)
        rec = self.up.wait_requests(1)[0]
        self.assertEqual(rec.header("accept"), "application/json")
        self.assertEqual(rec.header("if-none-match"), '"v0"')
        for name in ("x-evil", "cookie", "x-forwarded-for", "proxy-authorization"):
            self.assertEqual(rec.all(name), [], "%s must not be forwarded: %r" % (name, rec))
        # Paperclip gzips when asked: the sandbox's accept-encoding never
        # goes through (keyhole may state `identity` itself).
        for v in rec.all("accept-encoding"):
            self.assertNotRegex(v.lower(), "gzip|deflate|br", rec)
        # The run id is the operator's, never the sandbox's.
        self.assertForwardedAsUpstreamExpects(rec)

    def test_response_header_allowlist(self):
        r = self.kh.request("GET", "/api/agents/me")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("etag"), '"v1"')
        self.assertEqual(r.header("content-type"), "application/json")
        self.assertEqual(r.headers.get("content-length"), [str(len(r.body))])
        for name in ("set-cookie", "x-upstream-secret", "server"):
            self.assertNotIn(name, r.headers, "%s must not be returned: %r" % (name, r))

    def test_upstream_304_passes_through(self):
        r = self.kh.request("GET", "/status/304", headers=[("If-None-Match", '"v1"')])
        self.assertEqual(r.status, 304, r)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("etag"), '"v1"')
        self.assertEqual(self.up.wait_requests(1)[0].header("if-none-match"), '"v1"')

    def test_upstream_error_status_passes_through(self):
        self.up.set_route("/status/422", body=b'{"error":"Validation failed"}')
        r = self.kh.request("GET", "/status/422")
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.body, b'{"error":"Validation failed"}')

    def test_redirect_not_followed(self):
        r = self.kh.request("GET", "/status/302")
        self.assertEqual(r.status, 302, r)
        self.up.wait_requests(1)
        time.sleep(0.3)
        reqs = self.up.snapshot()
        self.assertEqual([x.path for x in reqs], ["/status/302"],
                         "the redirect must not be followed")

    def test_client_host_header_does_not_steer_upstream(self):
        r = self.kh.request("GET", "/api/agents/me", host="evil.example:1")
        self.assertEqual(r.status, 200, r)
        rec = self.up.wait_requests(1)[0]
        self.assertEqual(rec.header("host"), "127.0.0.1:%d" % self.up.port)

    def test_keep_alive_two_requests_one_connection(self):
        c = self.kh.conn()
        c.send(khtest.build_request("GET", "/api/agents/me", token=self.kh.token))
        r1 = c.read_response()
        c.send(khtest.build_request("POST", "/api/issues/i1/comments", token=self.kh.token,
                                    body=b'{"body":"hi"}'))
        r2 = c.read_response()
        self.assertEqual((r1.status, r2.status), (200, 200), (r1, r2))
        self.assertEqual([x.method for x in self.up.wait_requests(2)], ["GET", "POST"])

    def test_pipelined_requests_answered_in_order(self):
        c = self.kh.conn()
        c.send(khtest.build_request("GET", "/status/201", token=self.kh.token) +
               khtest.build_request("GET", "/api/agents/me", token=self.kh.token))
        r1 = c.read_response()
        r2 = c.read_response()
        self.assertEqual((r1.status, r2.status), (201, 200), (r1, r2))


    # keyhole-net keeps reading a connection whose request is upstream and
    # stops only once the client sends more (conn_read_cb, docs/design.md
    # "The hot path").  These pin what a client sees either way.

    def test_request_sent_while_one_is_upstream_waits_its_turn(self):
        self.up.slow_seconds = 0.4
        c = self.kh.conn()
        c.send(khtest.build_request("POST", "/slow/one", token=self.kh.token,
                                    body=b'{"n":1}'))
        self.up.wait_requests(1)
        # The second request and the client's FIN arrive while the first
        # is upstream: both answered, in order, then the connection ends.
        c.send(khtest.build_request("GET", "/status/201", token=self.kh.token))
        c.sock.shutdown(socket.SHUT_WR)
        r1 = c.read_response("POST")
        r2 = c.read_response()
        self.assertEqual((r1.status, r2.status), (200, 201), (r1, r2))
        self.assertTrue(c.at_eof(), "connection not closed after the half-close")
        self.assertEqual([(x.method, x.path) for x in self.up.wait_requests(2)],
                         [("POST", "/slow/one"), ("GET", "/status/201")])

    def test_client_reset_while_upstream_does_not_cancel_the_request(self):
        self.up.slow_seconds = 0.4
        c = self.kh.conn()
        c.send(khtest.build_request("POST", "/slow/reset", token=self.kh.token,
                                    body=b'{"n":2}'))
        self.up.wait_requests(1)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sock.close()          # RST while the POST is upstream
        # keyhole-net notices the reset at once and frees the connection,
        # but the request is not cancelled: the upstream's answer is
        # taken and logged, 200.
        line = self.kh.wait_log(lambda ln: "path=/slow/reset" in ln and "status=" in ln,
                                timeout=5.0, what="the access line of /slow/reset")[0]
        self.assertIn("status=200", line)
        self.assertEqual(self.up.count(), 1)
        r = self.kh.request("GET", "/api/agents/me")
        self.assertEqual(r.status, 200, r)


class UpstreamBasePathTest(KeyholeTestCase):

    def test_upstream_base_path_is_prefixed(self):
        up = self.upstream()
        kh = self.keyhole(up.url + "/base")
        r = kh.request("GET", "/api/agents/me?x=1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(up.wait_requests(1)[0].path, "/base/api/agents/me?x=1")

    def test_no_run_id_header_without_run_id(self):
        up = self.upstream()
        kh = self.keyhole(up.url)
        r = kh.request("GET", "/api/agents/me", headers=[("X-Paperclip-Run-Id", "spoofed")])
        self.assertEqual(r.status, 200, r)
        rec = up.wait_requests(1)[0]
        self.assertEqual(rec.all("x-paperclip-run-id"), [])
        self.assertEqual(rec.all("authorization"), ["Bearer " + kh.credential])


class PaperclipPolicyTest(KeyholeTestCase):
    """The shipped policy/paperclip-minimal.policy: the reference bridge's
    surface, no more."""

    ALLOWED = [
        ("GET", "/api/agents/me", None),
        ("GET", "/api/issues/issue-1/heartbeat-context", None),
        ("GET", "/api/issues/issue-1/comments", None),
        ("GET", "/api/issues/issue-1/comments/c-9", None),
        ("GET", "/api/issues/issue-1/documents", None),
        ("GET", "/api/issues/issue-1/documents/plan", None),
        ("POST", "/api/issues/issue-1/checkout", b'{"agentId":"a"}'),
        ("POST", "/api/issues/issue-1/comments", b'{"body":"hello"}'),
        ("POST", "/api/issues/issue-1/interactions", b'{"kind":"q"}'),
        ("POST", "/api/issues/issue-1/interactions/int-3", b'{"answer":"y"}'),
        ("PATCH", "/api/issues/issue-1", b'{"status":"done"}'),
    ]

    DENIED = [
        ("GET", "/api/agents/me/", None),                 # trailing slash
        ("GET", "/api/agents/me/keys", None),             # extra segment
        ("GET", "/api/agents", None),                     # missing segment
        ("DELETE", "/api/issues/issue-1", None),
        ("GET", "/api/issues/issue-1", None),             # only PATCH on it
        ("PUT", "/api/issues/issue-1", b'{"a":1}'),
        ("POST", "/api/agents/me", b'{"a":1}'),
        ("GET", "/api/issues/issue-1/comments/c-9/raw", None),
        ("PATCH", "/api/issues/issue-1/comments", b'{"a":1}'),
        ("POST", "/api/issues/issue-1/accept", b'{"a":1}'),
        ("GET", "/api/companies/c-1/secrets", None),
        ("GET", "/", None),
    ]

    @classmethod
    def setUpClass(cls):
        if not os.path.isfile(khtest.PAPERCLIP_MINIMAL_POLICY):
            raise AssertionError("missing %s" % khtest.PAPERCLIP_MINIMAL_POLICY)

    def setUp(self):
        self.up = self.upstream()
        self.kh = self.keyhole(self.up.url, policy_file=khtest.PAPERCLIP_MINIMAL_POLICY,
                               run_id="run-paperclip")

    def test_paperclip_policy_allows_agent_routes(self):
        for i, (method, path, body) in enumerate(self.ALLOWED):
            with self.subTest(method=method, path=path):
                r = self.kh.request(method, path, body=body)
                self.assertEqual(r.status, 200, r)
                rec = self.up.wait_requests(i + 1)[i]
                self.assertEqual((rec.method, rec.path), (method, path))

    def test_paperclip_policy_denies_near_misses(self):
        for method, path, body in self.DENIED:
            with self.subTest(method=method, path=path):
                r = self.kh.request(method, path, body=body)
                self.assertJsonError(r, 403, khtest.body_403(method, path))
        self.up.assert_nothing(self)


if __name__ == "__main__":
    khtest.main()
