#!/usr/bin/env python3
"""A mutation is never sent twice (SECURITY.md I6).

libcurl 7.88.1 re-sends a request on another connection when a reused
keep-alive connection dies before the first response byte
(lib/transfer.c Curl_retry_request, up to CONN_MAX_RETRIES = 5 times: six
copies when the retries land on other pooled connections), whatever the
method.  An upstream that read the POST and then dropped the connection
received it up to six times.  keyhole sends every non-idempotent request
on a fresh connection (CURLOPT_FRESH_CONNECT: a new connection is never
`bits.reuse`, so never retried), and refuses a second send of one
transfer (CURLOPT_PREREQFUNCTION; unit.test_upstream_once).

Each test pools keep-alive connections first (GETs answered normally),
then sends a mutation to an upstream that reads it and closes without a
byte of answer, and asserts the upstream received exactly one copy and
the client was told the truth: 409 indeterminate, or the upstream's real
answer.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
import rawup  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

POLICY = """\
allow GET /pool/*
allow GET /get/*
allow POST /m/*
allow PATCH /m/*
allow PUT /m/*
allow DELETE /m/*
"""

MUTATIONS = ("POST", "PATCH", "PUT", "DELETE")

CLOSED_409 = {"error": "Bridge upstream closed the connection after the request was "
                       "sent; it may have taken effect.",
              "outcome": "indeterminate", "retryable": False}


class MutationSentOnceTest(KeyholeTestCase):

    def start(self, plan, pool):
        self.pool_barrier = threading.Barrier(pool, timeout=10)
        self.pool_n = pool

        def route(req):
            if req.path.startswith("/pool/"):
                # Hold every pooling GET until all are in: keyhole must
                # open one connection per GET, and keeps each afterwards.
                self.pool_barrier.wait()
                return ("respond", 200)
            return plan(req)
        self.up = rawup.RawUpstream(self, route)
        self.kh = self.keyhole(self.up.url, policy=POLICY)

    def pool_connections(self):
        """pool_n concurrent GETs: pool_n kept-alive upstream connections."""
        self.pool_barrier.reset()
        before = len(self.up.snapshot())
        out = [None] * self.pool_n

        def one(i):
            out[i] = self.kh.request("GET", "/pool/%d" % i, timeout=15)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(self.pool_n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        self.assertEqual([r.status if r else None for r in out], [200] * self.pool_n)
        return {r.conn for r in self.up.snapshot()[before:] if r.path.startswith("/pool/")}

    def mutate(self, method, path):
        body = None if method == "DELETE" else b'{"n":1}'
        return self.kh.request(method, path, body=body, timeout=15)

    def copies(self, method, path, settle=1.0):
        time.sleep(settle)
        return [r for r in self.up.snapshot() if r.method == method and r.path == path]

    def test_mutation_dropped_by_upstream_reaches_it_once_409(self):
        # Six pooled connections: on the old code the POST went out on one,
        # was dropped, and libcurl re-sent it on each of the others.
        self.start(lambda req: ("close",), pool=6)
        for method in MUTATIONS:
            with self.subTest(method=method):
                pooled = self.pool_connections()
                self.assertEqual(len(pooled), 6, self.up.snapshot())
                path = "/m/%s" % method.lower()
                r = self.mutate(method, path)
                got = self.copies(method, path)
                self.assertEqual(len(got), 1, "the upstream received %d copies of one %s: %r"
                                 % (len(got), method, got))
                self.assertNotIn(got[0].conn, pooled,
                                 "a mutation went out on a reused connection")
                self.assertJsonError(r, 409, CLOSED_409)
                self.assertEqual(r.header("x-paperclip-bridge-outcome"), "indeterminate", r)

    def test_mutation_never_on_a_reused_connection_real_answer(self):
        # An upstream that drops a request arriving on a kept-alive
        # connection (a Node server closing an idle socket as it arrives)
        # and answers on a new one: the client gets the real answer, and
        # the upstream one copy.
        def plan(req):
            if req.nth > 1:
                return ("close",)
            return ("respond", 201, b'{"created":true}')
        self.start(plan, pool=1)
        for method in MUTATIONS:
            with self.subTest(method=method):
                self.pool_connections()
                path = "/m/%s-fresh" % method.lower()
                r = self.mutate(method, path)
                got = self.copies(method, path)
                self.assertEqual(len(got), 1, "the upstream received %d copies of one %s: %r"
                                 % (len(got), method, got))
                self.assertEqual(got[0].nth, 1, got)
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.json(), {"created": True})

    def test_get_still_reuses_connections_and_may_be_retried(self):
        # Control: a GET (idempotent) keeps using pooled connections, and
        # libcurl's retry on a fresh one after a dropped reused one is
        # harmless and kept.
        def plan(req):
            if req.nth > 1:
                return ("close",)
            return ("respond", 200, b'{"got":true}')
        self.start(plan, pool=1)
        pooled = self.pool_connections()
        r = self.kh.request("GET", "/get/x", timeout=15)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"got": True})
        got = self.copies("GET", "/get/x", settle=0.2)
        self.assertEqual(len(got), 2, got)
        self.assertIn(got[0].conn, pooled, "a GET did not reuse the pooled connection")
        self.assertEqual(got[1].nth, 1, got)


if __name__ == "__main__":
    khtest.main()
