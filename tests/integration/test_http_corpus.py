#!/usr/bin/env python3
"""The HTTP corpus (tests/http/corpus.py) against the real keyhole.

Every vector is sent to one keyhole, whole and again split into one-byte
writes.  For each: the statuses keyhole answers, that every response is
well-formed (status line, only keyhole's own header names with fixed value
shapes so no request byte is ever echoed into a header, a Content-Length
matching the body, no body for HEAD, a JSON error body), that
`connection: close` is sent exactly when keyhole then closes (otherwise
the same connection must serve the next request), and that the recording
upstream received exactly the vector's listed requests: method, canonical
path, query and body bytes, nothing else (invariants 4 and 5)."""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

sys.path.insert(0, os.path.join(khtest.SRC, "tests", "http"))
import corpus  # noqa: E402
from httpcheck import Reader, Reset, send_vector  # noqa: E402


class HttpCorpusTest(KeyholeTestCase):
    """One keyhole for the whole corpus: every vector, both ways."""

    @classmethod
    def setUpClass(cls):
        class ClassScope:
            addCleanup = cls.addClassCleanup
        scope = ClassScope()
        cls.up = khtest.Upstream(scope)
        cls.kh = khtest.Keyhole(scope, cls.up.url, policy=corpus.POLICY,
                                token=corpus.TOKEN.decode(), args=corpus.ARGS)
        cls.nsentinel = 0

    def _sentinel(self, sock, reader):
        self.__class__.nsentinel += 1
        n = self.nsentinel
        try:
            sock.sendall(corpus.sentinel(n))
        except OSError as e:
            raise AssertionError("connection without `connection: close` is unusable: %r" % e)
        r = reader.response(False)
        if r is None or r[0] != 200:
            raise AssertionError("kept-alive connection did not serve the next request: %r"
                                 % (r,))
        return n

    def _check_response(self, v, last, resp):
        status, headers, body = resp
        if status >= 400 and not (v.head and last):
            try:
                err = json.loads(body.decode("utf-8"))
            except ValueError:
                raise AssertionError("error body is not JSON: %r" % body)
            if not (isinstance(err, dict) and isinstance(err.get("error"), str)):
                raise AssertionError("error body is not {\"error\": ...}: %r" % body)
            if status == 403 and v.error403 and not v.head:
                want = khtest.body_403(*v.error403)
                if err != want:
                    raise AssertionError("403 body %r, expected %r" % (err, want))
            if status == 401 and err != khtest.BODY_401:
                raise AssertionError("401 body %r" % err)
            if status == 415 and err != khtest.BODY_415:
                raise AssertionError("415 body %r" % err)

    def _read_responses(self, v, reader, problems):
        """Read the vector's responses; returns their statuses."""
        got = []
        for i in range(len(v.statuses)):
            last = i == len(v.statuses) - 1
            try:
                resp = reader.response(v.head and last)
            except (Reset, AssertionError, OSError) as e:
                problems.append("reading response %d: %s" % (i + 1, e))
                break
            if resp is None:
                break
            got.append(resp[0])
            try:
                self._check_response(v, last, resp)
            except AssertionError as e:
                problems.append(str(e))
            closing = resp[1].get("connection") == "close"
            if closing and not last:
                problems.append("`connection: close` on response %d of %r" %
                                (i + 1, v.statuses))
            if last and v.close and not v.half_close and not closing:
                problems.append("keyhole closes but did not say `connection: close`: %r"
                                % (resp[1],))
            if last and not v.close and closing:
                problems.append("`connection: close` on a connection that should stay open")
            if last and v.http10 and not v.close and \
                    resp[1].get("connection") != "keep-alive":
                problems.append("HTTP/1.0 keep-alive answer without `connection: keep-alive`")
        return got

    def run_vector(self, v, split):
        """Returns a list of problems (empty: the vector behaved)."""
        up = self.up
        before = up.count()
        deadline = time.monotonic() + 5.0
        problems = []
        n = None
        sock = socket.create_connection(("127.0.0.1", self.kh.port), timeout=5)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            send_vector(sock, v.raw, split)
            if v.half_close:
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            reader = Reader(sock, deadline)
            got = self._read_responses(v, reader, problems)
            if got != v.statuses:
                problems.insert(0, "statuses %r, expected %r" % (got, v.statuses))
            if v.close:
                reader.deadline = min(reader.deadline, time.monotonic() + 3.0)
                try:
                    closed = reader.at_eof()
                except OSError as e:
                    closed, problems = False, problems + [str(e)]
                if not closed:
                    problems.append("connection not closed, or bytes after the last "
                                    "response: %r" % reader.buf[:300])
                sock.close()
                sock = socket.create_connection(("127.0.0.1", self.kh.port), timeout=5)
                reader = Reader(sock, time.monotonic() + 10.0)
            try:
                n = self._sentinel(sock, reader)
            except (AssertionError, OSError, Reset) as e:
                problems.append(str(e))
                time.sleep(0.3)    # let anything in flight reach the upstream
        finally:
            sock.close()
        want = [(f.method, f.target(), f.body) for f in v.forwarded]
        if n is not None:
            want.append(("GET", "/api/agents/me?sentinel=%d" % n, b""))
        got_up = [(r.method, r.path, r.body) for r in up.snapshot()[before:]]
        if got_up != want:
            problems.insert(0, "UPSTREAM received %r, expected %r" % (got_up, want))
        return problems

    def run_all(self, split):
        failures = []
        slow = []
        start = self.up.count()
        nsent = self.nsentinel
        ran = []
        for v in corpus.VECTORS:
            ran.append(v)
            t0 = time.monotonic()
            try:
                problems = self.run_vector(v, split)
            except (AssertionError, OSError) as e:
                problems = [str(e)]
            if problems:
                failures.append("%s [%s]: %s" % (v.name, v.category, "; ".join(problems)))
                if len(failures) >= 25:    # each may have waited seconds
                    failures.append("... stopped after 25 failing vectors")
                    break
            slow.append((time.monotonic() - t0, v.name))
        # Whatever the attribution above, the upstream saw exactly the
        # listed requests and the sentinels, nothing more.
        time.sleep(0.3)
        total = self.up.count() - start
        listed = sum(len(v.forwarded) for v in ran) + self.nsentinel - nsent
        if total != listed:
            failures.append("the upstream received %d requests in all, the table lists %d"
                            % (total, listed))
        if os.environ.get("KH_CORPUS_TIMES"):
            for t, name in sorted(slow)[-15:]:
                print("%.3f %s" % (t, name))
        self.assertTrue(self.kh.alive(), "keyhole died:\n" + self.kh.output_text()[-3000:])
        if failures:
            self.fail("%d of %d vectors failed (%s):\n  %s" % (
                len(failures), len(ran), "split" if split else "whole",
                "\n  ".join(failures)))

    def test_corpus_has_every_category(self):
        cats = {v.category for v in corpus.VECTORS}
        self.assertGreaterEqual(len(corpus.VECTORS), 150)
        for c in ("baseline", "content-length", "cl-te", "transfer-encoding", "chunk-size",
                  "chunk-ext", "chunk-term", "trailers", "head-bytes", "request-line",
                  "version", "method", "target", "host", "header-name", "limits",
                  "pipelining", "http10", "expect", "upgrade", "path", "query", "response"):
            self.assertIn(c, cats)

    def test_every_vector_whole(self):
        self.run_all(split=False)

    def test_every_vector_split_into_one_byte_writes(self):
        self.run_all(split=True)


if __name__ == "__main__":
    khtest.main()
