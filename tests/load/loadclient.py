"""loadclient: mixed HTTP traffic for the load campaign (tests/load/README.md).

  Outcome      one request: what was sent, when, and what came back (a
               status and body, or how it failed: reset, EOF, timeout,
               refused)
  Worker       one thread sending requests one after another, on a fresh
               connection each or on one kept-alive connection, each with a
               unique path so the upstream's record shows what was lost or
               duplicated
  Traffic      several workers started and stopped together
  tally()      counts of a list of outcomes, for a Result row

A kept-alive connection is reused the way a careful client (urllib3,
node's agent) reuses one: only if the server has not closed it meanwhile
(a zero-time poll for EOF first).  What closes after that check is the
HTTP/1.1 keep-alive race (RFC 9112 9.3.1): counted apart as ka_race, never
as lost, and the scenario then checks that the upstream never saw it.

Every socket has a timeout and every thread a deadline."""

import errno
import select
import socket
import threading
import time


class Outcome:
    """One request.  error: None (answered), "refused" (nothing listens),
    "reset", "eof" (closed before a byte of the answer), "cut" (closed or
    reset inside the answer), "timeout", or an errno name."""

    __slots__ = ("worker", "n", "method", "path", "start", "end", "status", "headers",
                 "body", "error", "reused", "ka_race")

    def __init__(self, worker, n, method, path, reused):
        self.worker = worker
        self.n = n
        self.method = method
        self.path = path
        self.reused = reused
        self.start = time.monotonic()
        self.end = None
        self.status = None
        self.headers = {}
        self.body = b""
        self.error = None
        self.ka_race = False

    def answered(self):
        return self.status is not None

    def __repr__(self):
        return "<%s %s %s%s>" % (self.method, self.path, self.status or self.error,
                                 " reused" if self.reused else "")


class _Closed(Exception):
    def __init__(self, what, got):
        super().__init__(what)
        self.what = what
        self.got = got


def _recv(sock, deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("timed out")
    sock.settimeout(left)
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return None


def read_response(sock, buf, deadline, head_request=False):
    """One response from sock (buf: bytes already read).  Returns (status,
    {lower-case name: value}, body, rest of buf).  Raises _Closed("eof" or
    "reset") when the connection ends before a byte of it, _Closed("cut")
    inside it, socket.timeout past the deadline."""
    while b"\r\n\r\n" not in buf:
        chunk = _recv(sock, deadline)
        if not chunk:
            raise _Closed(("reset" if chunk is None else "eof") if not buf else "cut", buf)
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise AssertionError("bad status line %r" % lines[0])
    status = int(parts[1])
    headers = {}
    for ln in lines[1:]:
        k, sep, v = ln.partition(b":")
        if not sep:
            raise AssertionError("bad header line %r" % ln)
        headers[k.decode("latin-1").strip().lower()] = v.decode("latin-1").strip()
    if head_request or status in (204, 304) or 100 <= status < 200:
        return status, headers, b"", buf
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(buf) < n:
            chunk = _recv(sock, deadline)
            if not chunk:
                raise _Closed("cut", buf)
            buf += chunk
        return status, headers, buf[:n], buf[n:]
    while True:                   # no length: the body ends at EOF
        chunk = _recv(sock, deadline)
        if not chunk:
            return status, headers, buf, b""
        buf += chunk


def request_bytes(method, path, token, body=None, keepalive=False, headers=()):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    if token is not None:
        lines.append("Authorization: Bearer %s" % token)
    lines += ["%s: %s" % kv for kv in headers]
    if body is not None:
        lines.append("Content-Type: application/json")
        lines.append("Content-Length: %d" % len(body))
    if not keepalive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def _closed_by_peer(sock):
    """A kept-alive connection the server has closed (or sent something
    unasked on): poll without waiting."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(r)


class Worker:
    """Sends plan(n) for n = 1, 2, ... until stopped or `seconds` pass.

    plan(n) returns (method, path[, body[, token]]) or None to skip a turn
    (token: the bridge token by default; pass "" for none, or another).
    keepalive: one connection reused for every request while keyhole keeps
    it open.  interval: pause after each request."""

    def __init__(self, port, token, plan, name="w", keepalive=False, interval=0.0,
                 timeout=10.0, host="127.0.0.1"):
        self.port = port
        self.token = token
        self.plan = plan
        self.name = name
        self.keepalive = keepalive
        self.interval = interval
        self.timeout = timeout
        self.host = host
        self.outcomes = []
        self.ka_closed = 0          # kept-alive connections keyhole closed while idle
        self._sock = None
        self._buf = b""
        self._stop = threading.Event()
        self._t = None

    def _drop(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._buf = b""

    def one(self, n, method, path, body=None, token=None):
        if token is None:
            token = self.token
        reused = False
        if self.keepalive and self._sock is not None:
            if _closed_by_peer(self._sock):
                self.ka_closed += 1
                self._drop()
            else:
                reused = True
        o = Outcome(self.name, n, method, path, reused)
        self.outcomes.append(o)
        deadline = o.start + self.timeout
        try:
            if self._sock is None:
                s = socket.socket()
                s.settimeout(self.timeout)
                try:
                    s.connect((self.host, self.port))
                except BaseException:
                    s.close()
                    raise
                self._sock = s
            self._sock.sendall(request_bytes(method, path, token or None, body,
                                             self.keepalive))
            st, hdrs, b, self._buf = read_response(self._sock, self._buf, deadline,
                                                   method == "HEAD")
            o.status, o.headers, o.body = st, hdrs, b
            if not self.keepalive or hdrs.get("connection", "").lower() == "close":
                self._drop()
        except ConnectionRefusedError:
            o.error = "refused"
            self._drop()
        except _Closed as e:
            o.error = e.what
            o.ka_race = reused and e.what in ("eof", "reset")
            self._drop()
        except (socket.timeout, TimeoutError):
            o.error = "timeout"
            self._drop()
        except OSError as e:
            name = errno.errorcode.get(e.errno, type(e).__name__) if e.errno else type(e).__name__
            o.error = {"ECONNRESET": "reset", "EPIPE": "reset"}.get(name, name)
            o.ka_race = reused and o.error == "reset"
            self._drop()
        o.end = time.monotonic()
        return o

    def _run(self, deadline):
        n = 0
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                n += 1
                p = self.plan(n)
                if p is not None:
                    self.one(n, *p)
                if self.interval:
                    self._stop.wait(self.interval)
        finally:
            self._drop()

    def start(self, seconds):
        self._t = threading.Thread(target=self._run, args=(time.monotonic() + seconds,),
                                   daemon=True)
        self._t.start()
        return self

    def stop(self, wait=True):
        self._stop.set()
        if wait and self._t is not None:
            self._t.join(self.timeout + 5)

    def join(self, timeout):
        if self._t is not None:
            self._t.join(timeout)


class Traffic:
    """Workers started and stopped together."""

    def __init__(self, workers):
        self.workers = list(workers)

    def start(self, seconds):
        for w in self.workers:
            w.start(seconds)
        return self

    def join(self, timeout):
        end = time.monotonic() + timeout
        for w in self.workers:
            w.join(max(0.0, end - time.monotonic()))

    def stop(self):
        for w in self.workers:
            w.stop(wait=False)
        for w in self.workers:
            w.stop()

    def outcomes(self):
        out = []
        for w in self.workers:
            out.extend(w.outcomes)
        return out

    def ka_closed(self):
        return sum(w.ka_closed for w in self.workers)


def unique_plan(tag, cycle):
    """A plan that walks `cycle`, a list of (method, path template[, body]),
    the template taking the request's unique id ("<tag>-<n>")."""
    def plan(n):
        item = cycle[(n - 1) % len(cycle)]
        method, tmpl = item[0], item[1]
        body = item[2] if len(item) > 2 else None
        return method, tmpl % ("%s-%d" % (tag, n)), body
    return plan


def mixed(port, token, tag):
    """The steady mix of sigterm_load, sighup_load and soak: GETs and
    POSTs on new and on kept-alive connections, to fast routes and to
    /slow/ (the recording upstream's slow_seconds)."""
    fast_get = ("GET", "/api/issues/%s/comments")
    fast_post = ("POST", "/api/issues/%s/comments", b'{"body":"x"}')
    slow_get = ("GET", "/slow/%s")
    slow_post = ("POST", "/slow/%s", b"{}")
    p = unique_plan
    return Traffic([
        Worker(port, token, p(tag + "-gn", [fast_get]), "get-new", interval=0.01),
        Worker(port, token, p(tag + "-pn", [fast_post]), "post-new", interval=0.01),
        Worker(port, token, p(tag + "-ga", [fast_get]), "get-ka", keepalive=True,
               interval=0.01),
        Worker(port, token, p(tag + "-ma", [fast_post, fast_get]), "mixed-ka",
               keepalive=True, interval=0.01),
        Worker(port, token, p(tag + "-sg", [slow_get]), "slow-get", interval=0.01,
               timeout=15),
        Worker(port, token, p(tag + "-sp", [slow_post]), "slow-post", interval=0.01,
               timeout=15),
        Worker(port, token, p(tag + "-sk", [slow_post, slow_get]), "slow-ka",
               keepalive=True, interval=0.01, timeout=15),
    ])


def tally(outcomes):
    """{status or error: count} of outcomes."""
    out = {}
    for o in outcomes:
        k = o.status if o.status is not None else o.error
        out[k] = out.get(k, 0) + 1
    return out


def p99_ms(outcomes):
    v = sorted(o.end - o.start for o in outcomes if o.answered())
    if not v:
        return None
    return 1000 * v[min(len(v) - 1, int(len(v) * 0.99))]


def upstream_counts(up):
    """{path without query: times the upstream received it}."""
    seen = {}
    for r in up.snapshot():
        p = r.path.split("?", 1)[0]
        seen[p] = seen.get(p, 0) + 1
    return seen


MUTATIONS = ("POST", "PUT", "PATCH", "DELETE")


def duplicated(outcomes, counts, mutations=True):
    """How many of outcomes' requests (mutations, or safe ones) the
    upstream received more than once (each extra copy counts)."""
    n = 0
    for o in outcomes:
        if (o.method in MUTATIONS) == mutations:
            c = counts.get(o.path, 0)
            if c > 1:
                n += c - 1
    return n
