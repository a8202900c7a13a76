#!/usr/bin/env python3
"""Interop: Paperclip's OWN gateway (from the npm package
@paperclipai/adapter-utils, getSandboxCallbackBridgeServerSource()), run
with node against keyhole's queue_v1 host side, unchanged.

The package is installed once into the build directory (khpaperclip.py:
the version pinned there)."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from khqueue import Gateway, QueueDir, keyhole_queue  # noqa: E402
from khpaperclip import paperclip_gateway_source  # noqa: E402


class PaperclipGatewayInteropTest(KeyholeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.source = paperclip_gateway_source()

    def setUp(self):
        self.up = self.upstream()
        self.q = QueueDir(self)
        self.kh = keyhole_queue(self, self.up.url, self.q, policy_file=khtest.PAPERCLIP_MINIMAL_POLICY)
        self.gw = Gateway(self, ["node", self.source], self.q, self.kh.token,
                          env={"PAPERCLIP_API_BRIDGE_MODE": "queue_v1",
                               "PAPERCLIP_BRIDGE_POLL_INTERVAL_MS": "20"})

    def test_source_is_paperclips_queue_gateway(self):
        with open(self.source) as f:
            src = f.read()
        self.assertIn("runFileGateway", src)
        self.assertIn("Bridge request queue is full.", src)

    def test_allowed_requests_round_trip(self):
        r = self.gw.request("GET", "/api/agents/me", headers=[("Accept", "application/json")])
        self.assertEqual(r.status, 200, (r, self.gw.log()))
        self.assertEqual(r.body, b'{"ok":true}')
        self.assertEqual(r.header("etag"), '"v1"')
        rec = self.up.wait_requests(1)[0]
        self.assertEqual(rec.all("authorization"), ["Bearer " + self.kh.credential])
        body = '{"body":"h\u00e9llo from node"}'.encode("utf-8")
        r = self.gw.request("POST", "/api/issues/i-1/comments", body=body)
        self.assertEqual(r.status, 200, r)
        rec = self.up.wait_requests(2)[1]
        self.assertEqual((rec.method, rec.path, rec.body),
                         ("POST", "/api/issues/i-1/comments", body))
        r = self.gw.request("PATCH", "/api/issues/i-1", body=b'{"status":"done"}',
                            headers=[("If-Match", '"v1"')])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.wait_requests(3)[2].header("if-match"), '"v1"')
        self.assertEqual(self.q.listing("processing"), [])

    def test_utf8_document_key_round_trip(self):
        # Document keys are user text: Paperclip's gateway writes the
        # percent-encoded path, keyhole keeps it encoded in one spelling
        # (upper-case hex) and the upstream gets that.
        for sent in ("/api/issues/i-1/documents/caf%C3%A9",
                     "/api/issues/i-1/documents/caf%c3%a9"):
            r = self.gw.request("GET", sent)
            self.assertEqual(r.status, 200, (sent, r, self.gw.log()))
        recs = self.up.wait_requests(2)
        self.assertEqual([rec.path for rec in recs],
                         ["/api/issues/i-1/documents/caf%C3%A9"] * 2)
        # not UTF-8, or a fullwidth '..': refused, nothing forwarded
        for sent in ("/api/issues/i-1/documents/caf%C3",
                     "/api/issues/i-1/documents/%EF%BC%8E%EF%BC%8E"):
            r = self.gw.request("GET", sent)
            self.assertJsonError(r, 400, {"error": "Invalid bridge request payload."})
        time.sleep(0.3)
        self.assertEqual(self.up.count(), 2)

    def test_denied_route_403(self):
        r = self.gw.request("DELETE", "/api/issues/i-1", body=b"{}")
        self.assertJsonError(r, 403, {"error": "Route not allowed: DELETE /api/issues/i-1"})
        # Node resolves dot segments before writing the file; keyhole
        # judges the resolved path (here: not allowed either)
        r = self.gw.request("POST", "/api/issues/X/interactions/../accept", body=b"{}")
        self.assertJsonError(r, 403, {"error": "Route not allowed: POST /api/issues/X/accept"})
        self.up.assert_nothing(self)

    def test_bad_token_401(self):
        r = self.gw.request("GET", "/api/agents/me", token="not-the-token")
        self.assertJsonError(r, 401, khtest.BODY_401)
        self.up.assert_nothing(self)

    def test_non_json_415(self):
        r = self.gw.request("POST", "/api/issues/i-1/comments", body=b"hello",
                            content_type="text/plain")
        self.assertJsonError(r, 415, khtest.BODY_415)
        self.up.assert_nothing(self)

    def test_large_bodies(self):
        ok = json.dumps({"body": "x" * 700000}).encode()
        r = self.gw.request("POST", "/api/issues/i-1/comments", body=ok, timeout=20)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.wait_requests(1)[0].body, ok)
        # over paperclip-minimal.policy's max-body 1m: refused by keyhole's host
        big = json.dumps({"body": "x" * (1024 * 1024 + 10)}).encode()
        r = self.gw.request("POST", "/api/issues/i-1/comments", body=big, timeout=20)
        self.assertJsonError(r, 413, {"error": "Request body too large."})
        self.assertEqual(len(self.up.snapshot()), 1)


if __name__ == "__main__":
    khtest.main()
