#!/usr/bin/env python3
"""Response side of the front end: whatever the upstream answers, keyhole
writes a well-formed HTTP/1.1 response (exact Content-Length, no body where
none may be, only its own header names, `connection: close` only when it
closes) so the client's next response on the connection starts exactly
where this one ends.  Checked with the strict reader in httpcheck.py; the
HTTP corpus test checks every refusal the same way."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from httpcheck import Reader  # noqa: E402


class ResponseFramingTest(KeyholeTestCase):

    def setUp(self):
        self.up = self.upstream()
        self.kh = self.keyhole(self.up.url, policy=khtest.TEST_POLICY + "allow GET /status/*/*\n")
        self.sock = socket.create_connection(("127.0.0.1", self.kh.port), timeout=10)
        self.addCleanup(self.sock.close)
        self.reader = Reader(self.sock, time.monotonic() + 60)

    def ask(self, method, path, head=False):
        self.sock.sendall(khtest.build_request(method, path, token=self.kh.token))
        return self.reader.response(head)

    def test_forwarded_bodies_framed_exactly_on_one_connection(self):
        sizes = [0, 1, 2, 1000, 65535, 65536, 65537, 1024 * 1024 + 3]
        for n in sizes:
            self.up.set_route("/status/200/%d" % n, body=b"x" * n)
        for n in sizes:
            st, h, body = self.ask("GET", "/status/200/%d" % n)
            self.assertEqual(st, 200)
            self.assertEqual(h["content-length"], str(n))
            self.assertEqual(body, b"x" * n)
            self.assertNotIn("connection", h)
        # The connection is still in step: one more request on it.
        self.assertEqual(self.ask("GET", "/api/agents/me")[0], 200)

    def test_every_status_class_framed_and_bodyless_statuses_have_no_body(self):
        for status in (200, 201, 202, 204, 301, 304, 400, 404, 409, 422, 429, 500, 503):
            st, h, body = self.ask("GET", "/status/%d" % status)
            self.assertEqual(st, status)
            if status in (204, 304):
                self.assertEqual(body, b"")
            else:
                self.assertEqual(int(h["content-length"]), len(body))
        self.assertEqual(self.ask("GET", "/api/agents/me")[0], 200)

    def test_head_answer_has_no_body_and_connection_stays_in_step(self):
        st, h, body = self.ask("HEAD", "/api/agents/me", head=True)
        self.assertEqual(st, 200)
        self.assertNotIn("content-length", h)
        # Denied HEAD: keyhole's own error, with the length a GET would
        # get, and no body either.
        st, h, _ = self.ask("HEAD", "/api/issues/x/secret", head=True)
        self.assertEqual(st, 403)
        self.assertGreater(int(h["content-length"]), 0)
        st, _, body = self.ask("GET", "/api/agents/me")
        self.assertEqual((st, body), (200, b'{"ok":true}'))

    def test_upstream_headers_outside_the_allowlist_never_reach_the_client(self):
        self.up.set_route("/status/200", headers=[("X-Leak", "1"), ("Connection", "close"),
                                                  ("Content-Location", "/x"),
                                                  ("Keep-Alive", "timeout=1")])
        # The strict reader fails on any header but keyhole's own.
        st, h, body = self.ask("GET", "/status/200")
        self.assertEqual(st, 200)
        self.assertEqual(self.ask("GET", "/api/agents/me")[0], 200)


if __name__ == "__main__":
    khtest.main()
