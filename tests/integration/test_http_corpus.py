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
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

sys.path.insert(0, os.path.join(khtest.SRC, "tests", "http"))
import corpus  # noqa: E402

# Response header names keyhole may write, with the shape of their values.
# Anything else (or another value) would be a request byte echoed, or an
# upstream header that escaped the allowlist.
HEADER_SHAPES = {
    "content-type": re.compile(r"application/json\Z"),
    "content-length": re.compile(r"(0|[1-9][0-9]*)\Z"),
    "connection": re.compile(r"(close|keep-alive)\Z"),
    "etag": re.compile(r'"v1"\Z'),
}
STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5][0-9][0-9]) ([A-Za-z][A-Za-z -]*)\Z")


class Reset(Exception):
    pass


class Reader:
    """Reads responses from a socket with strict framing checks."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.buf = b""
        self.eof = False
        self.deadline = deadline

    def _fill(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            raise Reset("connection reset (after %r)" % self.buf[:200])
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def response(self, head_request):
        """(status, {name: value}, body) or None at a clean EOF."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                if self.buf:
                    raise AssertionError("EOF inside a response head: %r" % self.buf[:300])
                return None
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        m = STATUS_LINE.match(lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        status = int(m.group(1))
        headers = {}
        for ln in lines[1:]:
            name, sep, value = ln.partition(b": ")
            if not sep:
                raise AssertionError("bad header line %r" % ln)
            name = name.decode("latin-1")
            value = value.decode("latin-1")
            if name in headers:
                raise AssertionError("header %s twice in %r" % (name, head))
            shape = HEADER_SHAPES.get(name)
            if shape is None or not shape.match(value):
                raise AssertionError("unexpected response header %r in %r" % (ln, head))
            headers[name] = value
        if 100 <= status < 200:
            if headers:
                raise AssertionError("headers on an interim response: %r" % head)
            return status, headers, b""
        if "content-type" not in headers:
            raise AssertionError("no content-type: %r" % head)
        if head_request and status < 300:
            if "content-length" in headers and headers["content-length"] != "0":
                pass    # a HEAD may announce the GET's length
            return status, headers, b""
        if "content-length" not in headers:
            raise AssertionError("no content-length: %r" % head)
        n = int(headers["content-length"])
        if head_request:
            return status, headers, b""
        while len(self.buf) < n:
            if not self._fill():
                raise AssertionError("EOF after %d of %d body bytes" % (len(self.buf), n))
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def at_eof(self):
        """True at EOF with nothing left over; False if more bytes came."""
        while not self.eof:
            if self.buf:
                return False
            try:
                self._fill()
            except Reset:
                return not self.buf
        return not self.buf


def send_vector(sock, raw, split):
    """Send raw (whole or one byte per write).  Stops quietly when keyhole
    has closed; returns the number of bytes sent."""
    try:
        if not split:
            sock.sendall(raw)
            return len(raw)
        # Small vectors get a pause after each byte so keyhole's reads
        # really see one byte at a time; big ones are still written one
        # byte per send() but without the pause (CI time).
        pause = len(raw) <= 2048
        for i in range(len(raw)):
            sock.sendall(raw[i:i + 1])
            if pause:
                time.sleep(0.00005)
        return len(raw)
    except (BrokenPipeError, ConnectionResetError):
        return -1


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
        deadline = time.monotonic() + 15.0
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
        for v in corpus.VECTORS:
            t0 = time.monotonic()
            try:
                problems = self.run_vector(v, split)
            except (AssertionError, OSError) as e:
                problems = [str(e)]
            if problems:
                failures.append("%s [%s]: %s" % (v.name, v.category, "; ".join(problems)))
            slow.append((time.monotonic() - t0, v.name))
        # Whatever the attribution above, the upstream saw exactly the
        # listed requests and the sentinels, nothing more.
        time.sleep(0.3)
        total = self.up.count() - start
        listed = sum(len(v.forwarded) for v in corpus.VECTORS) + self.nsentinel - nsent
        if total != listed:
            failures.append("the upstream received %d requests in all, the table lists %d"
                            % (total, listed))
        if os.environ.get("KH_CORPUS_TIMES"):
            for t, name in sorted(slow)[-15:]:
                print("%.3f %s" % (t, name))
        self.assertTrue(self.kh.alive(), "keyhole died:\n" + self.kh.output_text()[-3000:])
        if failures:
            self.fail("%d of %d vectors failed (%s):\n  %s" % (
                len(failures), len(corpus.VECTORS), "split" if split else "whole",
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
