"""rawup: a misbehaving HTTP/1.1 upstream on a raw socket, for the tests of
what keyhole's parent answers when the upstream does not answer normally
(test_upstream_faults.py, test_mutation_once.py).

Every connection is served by its own thread.  For each request read on
it, `plan(req)` says what to do; `req` has method, path, headers (lower-
case names), body, conn (connection number, from 1) and nth (the request's
position on its connection, from 1; nth > 1 means keyhole reused a
kept-alive connection).  A plan returns one action:

  ("respond", status[, body[, headers]])   a normal keep-alive answer
  ("raw", bytes, after)                    exact bytes, then `after`:
                                           "keep" (read the next request),
                                           "close" (FIN), "reset" (RST),
                                           "hang" (hold the connection)
  ("close",)                               FIN without a byte of answer
  ("reset",)                               RST without a byte of answer
  ("hang",)                                never answer

`on_connect(conn)` may return "reset-unread": the connection is reset as
soon as the request's first bytes arrive, before any is read.

Nothing here parses more HTTP than keyhole's libcurl sends: a head ended
by CRLF CRLF and a Content-Length body.  Every thread and socket is closed
by close(), which the test's cleanup calls.
"""

import select
import socket
import struct
import threading
import time


class Req:
    def __init__(self, method, path, headers, body, conn, nth):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.conn = conn
        self.nth = nth
        self.time = time.monotonic()

    def __repr__(self):
        return "<%s %s conn=%d nth=%d>" % (self.method, self.path, self.conn, self.nth)


def response_bytes(status, body=b"{}", headers=(), reason=b"X"):
    head = [b"HTTP/1.1 %d %s" % (status, reason),
            b"Content-Type: application/json",
            b"Content-Length: %d" % len(body)]
    for k, v in headers:
        head.append(k.encode() + b": " + v.encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class RawUpstream:

    def __init__(self, tc, plan, on_connect=None, backlog=128, accept=True):
        self.plan = plan
        self.on_connect = on_connect
        self.requests = []
        self.nconns = 0
        self.resets_unread = 0
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._socks = []
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(backlog)
        self.port = self.lsock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._threads = []
        if accept:
            t = threading.Thread(target=self._accept_loop, daemon=True)
            t.start()
            self._threads.append(t)
        tc.addCleanup(self.close)

    # -- bookkeeping ---------------------------------------------------------

    def close(self):
        self._closing.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self._cond:
            socks = list(self._socks)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(2.0)

    def snapshot(self):
        with self._cond:
            return list(self.requests)

    def count(self, method=None):
        return sum(1 for r in self.snapshot() if method is None or r.method == method)

    def wait_requests(self, n, timeout=5.0, method=None):
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(1 for r in self.requests if method is None or r.method == method) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("upstream saw %r, expected %d %s request(s)"
                                         % (self.requests, n, method or "any"))
                self._cond.wait(left)
            return list(self.requests)

    # -- serving -------------------------------------------------------------

    def _accept_loop(self):
        while not self._closing.is_set():
            try:
                r, _, _ = select.select([self.lsock], [], [], 0.05)
                if not r:
                    continue
                s, _ = self.lsock.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._cond:
                self.nconns += 1
                n = self.nconns
                self._socks.append(s)
                self._cond.notify_all()
            t = threading.Thread(target=self._serve, args=(s, n), daemon=True)
            t.start()
            self._threads.append(t)

    @staticmethod
    def _reset(s):
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass

    @staticmethod
    def _fin(s):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def _hang(self, s):
        self._closing.wait(60)
        self._fin(s)

    def _read_request(self, s, buf):
        """(Req fields, rest of buf), or None at EOF."""
        while b"\r\n\r\n" not in buf:
            if len(buf) > 1 << 20:
                return None
            try:
                chunk = s.recv(65536)
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(buf) < n:
            try:
                chunk = s.recv(65536)
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return (method, path, headers, buf[:n]), buf[n:]

    def _serve(self, s, conn):
        try:
            if self.on_connect is not None and self.on_connect(conn) == "reset-unread":
                # Wait for the request's first bytes, read none, reset.
                select.select([s], [], [], 5.0)
                with self._cond:
                    self.resets_unread += 1
                    self._cond.notify_all()
                self._reset(s)
                return
            buf, nth = b"", 0
            while not self._closing.is_set():
                got = self._read_request(s, buf)
                if got is None:
                    self._fin(s)
                    return
                (method, path, headers, body), buf = got
                nth += 1
                req = Req(method, path, headers, body, conn, nth)
                with self._cond:
                    self.requests.append(req)
                    self._cond.notify_all()
                action = self.plan(req)
                kind = action[0]
                if kind == "respond":
                    status = action[1]
                    body_out = action[2] if len(action) > 2 else b'{"ok":true}'
                    hdrs = action[3] if len(action) > 3 else ()
                    s.sendall(response_bytes(status, body_out, hdrs))
                    continue
                if kind == "raw":
                    s.sendall(action[1])
                    kind = action[2]
                    if kind == "keep":
                        continue
                if kind == "close":
                    self._fin(s)
                elif kind == "reset":
                    self._reset(s)
                elif kind == "hang":
                    self._hang(s)
                else:
                    raise AssertionError("unknown action %r" % (action,))
                return
        except OSError:
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass
