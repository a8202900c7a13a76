"""khtest: shared harness for keyhole's integration tests.

Everything a test needs runs on 127.0.0.1 with ephemeral ports in a
temporary directory, and is killed by the test's cleanups:

  Upstream   a recording HTTP/1.1 server playing the Paperclip API
  Keyhole    the real parent (which execs the real child), with its own
             credential, bridge token, policy and ready file
  Conn, request(), build_request()
             a raw-socket HTTP client, so a test controls every byte it
             sends and sees every byte keyhole answers

Environment: KEYHOLE_BUILD (build directory holding keyhole, keyhole-net,
hostile_child) and KEYHOLE_SRC (source tree, for policy/*.policy);
both default from this file's location.  A missing binary is a test FAILURE,
never a skip: only properties that need root are skipped.
"""

import datetime
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("KEYHOLE_SRC") or os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("KEYHOLE_BUILD") or os.path.join(SRC, "build")
PAPERCLIP_POLICY = os.path.join(SRC, "policy", "paperclip.policy")
PAPERCLIP_MINIMAL_POLICY = os.path.join(SRC, "policy", "paperclip-minimal.policy")

IS_ROOT = os.geteuid() == 0

# Exact error bodies of the Paperclip bridge (src/common/paperclip.h,
# README.md "Errors the sandbox sees").
BODY_401 = {"error": "Invalid bridge token."}
BODY_415 = {"error": "Bridge only accepts JSON request bodies."}
BODY_503 = {"error": "Bridge request queue is full."}


def body_403(method, path):
    return {"error": "Route not allowed: %s %s" % (method, path)}


# The policy most tests run with.  /slow/ and /status/ paths make the
# upstream sleep or answer a given status (see Upstream).
TEST_POLICY = """\
# keyhole integration-test policy
allow GET /api/agents/me
allow HEAD /api/agents/me
allow GET /api/issues/*/comments
allow POST /api/issues/*/comments
allow POST /api/issues/*/checkout
allow PATCH /api/issues/*
allow GET /status/*
allow GET /slow/*
allow POST /slow/*
allow PATCH /slow/*
"""


def binary(name):
    """Path of a built program; a missing one fails the test."""
    path = os.path.join(BUILD, name)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError(
            "%s is missing or not executable: build keyhole first "
            "(KEYHOLE_BUILD=%s)" % (path, BUILD))
    return path


def require_root(what):
    if not IS_ROOT:
        raise unittest.SkipTest("%s needs root (running as uid %d)" % (what, os.geteuid()))


def wait_until(pred, timeout, what, interval=0.02):
    """Poll pred() until it returns a true value (returned) or fail."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    """A port that was free a moment ago (for tests that must name one)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port_url():
    """An upstream URL nobody listens on."""
    return "http://127.0.0.1:%d" % free_port()


def make_tempdir(tc):
    d = tempfile.mkdtemp(prefix="keyhole-it-")
    tc.addCleanup(shutil.rmtree, d, True)
    return d


# --------------------------------------------------------------------------
# /proc helpers

def proc_children(pid):
    """Direct children of pid (all of its threads)."""
    kids = set()
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    found_file = False
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                found_file = True
                kids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    if not found_file:   # kernel without CONFIG_PROC_CHILDREN: scan
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open("/proc/%s/stat" % name) as f:
                        st = f.read()
                    ppid = int(st[st.rindex(")") + 2:].split()[1])
                except (OSError, ValueError):
                    continue
                if ppid == pid:
                    kids.add(int(name))
    return kids


def proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def proc_status(pid):
    """/proc/PID/status as {field: value-string}."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip("\n").lstrip("\t ")
    return out


def proc_status_raw(pid):
    with open("/proc/%d/status" % pid) as f:
        return f.read()


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2] != "Z"


def kill_pid_if(pid, comm):
    """SIGKILL pid only if it still is the process we saw (same comm)."""
    if comm is not None and proc_comm(pid) == comm:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def scan_process_memory(pid, needles, max_region=1 << 30):
    """Read every readable mapping of pid through /proc/PID/mem.

    Returns (found, stats): found maps each needle (bytes) to the first
    "address region" string where it occurs (absent when not found);
    stats = {"bytes": total read, "regions": read ok, "skipped": [...]}.
    Raises PermissionError if mem itself cannot be opened.
    """
    found = {}
    stats = {"bytes": 0, "regions": 0, "skipped": []}
    keep = max(len(n) for n in needles) - 1
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read().splitlines()
    fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    try:
        for line in maps:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if "r" not in fields[1]:
                continue
            name = fields[5] if len(fields) > 5 else ""
            if hi - lo > max_region:
                stats["skipped"].append("%s (%d bytes, too large)" % (fields[0], hi - lo))
                continue
            addr, tail, ok = lo, b"", False
            while addr < hi:
                n = min(1 << 20, hi - addr)
                try:
                    chunk = os.pread(fd, n, addr)
                except OSError as e:
                    stats["skipped"].append("%s %s (%s)" % (fields[0], name, e.strerror))
                    break
                if not chunk:
                    break
                ok = True
                stats["bytes"] += len(chunk)
                data = tail + chunk
                for nd in needles:
                    if nd not in found and nd in data:
                        found[nd] = "%s %s" % (fields[0], name)
                tail = data[-keep:] if keep else b""
                addr += len(chunk)
            if ok:
                stats["regions"] += 1
    finally:
        os.close(fd)
    return found, stats


def cap_effective_has(bit):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    return False


CAP_SYS_PTRACE = 19


def sanitizer_build():
    """True when keyhole was built with -DKH_SANITIZE=ON (ASan's runtime is
    linked in).  Such builds differ in ways a few tests must know:
    ASan's mlock() does nothing, its allocator ignores mallopt() and
    malloc_trim() and keeps freed memory in quarantine, and its runtime
    keeps its own copy of the environment it started with."""
    with open(binary("keyhole"), "rb") as f:
        return b"__asan_init" in f.read()


# --------------------------------------------------------------------------
# Upstream: a recording stand-in for the Paperclip API

class Recorded:
    """One request as the upstream received it."""

    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path                  # raw request target, query included
        self.headers = headers            # [(lower-case name, value)]
        self.body = body
        self.time = time.monotonic()

    def header(self, name):
        vals = self.all(name)
        return vals[0] if vals else None

    def all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def __repr__(self):
        return "<%s %s %r>" % (self.method, self.path, self.headers)


class _UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass   # keyhole hanging up on a slow response is expected


class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "khtest-upstream"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        # The handler writes the head and the body separately: without
        # TCP_NODELAY, Nagle + the client's delayed ACK add 40 ms to every
        # request on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if te == "chunked":
            out = b""
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(8)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self):
        up = self.server.upstream
        body = self._body()
        rec = Recorded(self.command, self.path,
                       [(k.lower(), v) for k, v in self.headers.items()], body)
        up._record(rec)
        plain = self.path.split("?", 1)[0]

        route = up._route_for(plain)
        delay = route.get("delay")
        if delay is None and "/slow/" in plain + "/":
            delay = up.slow_seconds
        if delay:
            up.closing.wait(delay)

        status = route.get("status")
        m = re.search(r"/status/(\d{3})(?:/|$)", plain)
        if status is None:
            status = int(m.group(1)) if m else 200
        headers = [("Content-Type", "application/json"),
                   ("ETag", '"v1"'),
                   ("Set-Cookie", "secret=1"),
                   ("X-Upstream-Secret", "s")]
        body_out = route.get("body", b'{"ok":true}')
        if status == 302:
            headers.append(("Location", "%s/api/agents/me" % up.url))
            body_out = route.get("body", b'{"redirect":true}')
        headers += route.get("headers", [])
        no_body = status in (204, 304) or 100 <= status < 200
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if not no_body:
            self.send_header("Content-Length", str(len(body_out)))
        self.end_headers()
        if not no_body and self.command != "HEAD":
            self.wfile.write(body_out)
        self.wfile.flush()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle


class Upstream:
    """Records every request; answers 200 {"ok":true} with content-type,
    etag "v1", set-cookie and x-upstream-secret headers unless:
      - a route was set for the path (set_route: status, headers, body, delay)
      - the path contains /slow/: sleeps slow_seconds first
      - the path contains /status/NNN: answers NNN (302 with a Location
        pointing back at this server's /api/agents/me; 304 without body)
    """

    def __init__(self, tc=None):
        self.requests = []
        self.slow_seconds = 3.0
        self.routes = {}
        self.closing = threading.Event()
        self._cond = threading.Condition()
        self.server = _UpstreamServer(("127.0.0.1", 0), _UpstreamHandler)
        self.server.upstream = self
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        if tc is not None:
            tc.addCleanup(self.close)

    def close(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def set_route(self, path, status=None, headers=None, body=None, delay=None):
        r = {}
        if status is not None:
            r["status"] = status
        if headers is not None:
            r["headers"] = headers
        if body is not None:
            r["body"] = body
        if delay is not None:
            r["delay"] = delay
        self.routes[path] = r

    def _route_for(self, path):
        return self.routes.get(path, {})

    def _record(self, rec):
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()

    def count(self):
        with self._cond:
            return len(self.requests)

    def snapshot(self):
        with self._cond:
            return list(self.requests)

    def wait_requests(self, n, timeout=5.0):
        """Wait until at least n requests were received; returns them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("upstream received %d request(s), expected %d: %r"
                                         % (len(self.requests), n, self.requests))
                self._cond.wait(left)
            return list(self.requests)

    def assert_nothing(self, tc, settle=0.3, what=""):
        """Fail if anything reached the upstream (after a short settle)."""
        time.sleep(settle)
        got = self.snapshot()
        tc.assertEqual(got, [], "upstream must receive nothing%s, got %r"
                       % ((" (" + what + ")") if what else "", got))


# --------------------------------------------------------------------------
# Raw HTTP client

class Response:
    def __init__(self, status, reason, headers, body, head):
        self.status = status
        self.reason = reason
        self.headers = headers    # {lower-case name: [values]}
        self.body = body
        self.head = head          # raw status line + fields

    def header(self, name):
        v = self.headers.get(name.lower())
        return v[0] if v else None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def raw(self):
        return self.head + b"\r\n\r\n" + self.body

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body[:200])


class ConnectionClosed(AssertionError):
    pass


class Conn:
    """One TCP connection to keyhole; send bytes, read whole responses."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no complete response in time")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return False
        self.buf += chunk
        return True

    def _take_line(self, deadline):
        while b"\r\n" not in self.buf:
            if not self._fill(deadline):
                raise ConnectionClosed("connection closed inside a chunked body")
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_response(self, method="GET", timeout=None):
        """Read one full response (1xx skipped).  Raises ConnectionClosed
        when the peer closes before a status line."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            while b"\r\n\r\n" not in self.buf:
                if not self._fill(deadline):
                    raise ConnectionClosed("connection closed before a complete response head "
                                           "(got %r)" % self.buf[:200])
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            m = re.match(rb"HTTP/1\.[01] (\d{3})(?: (.*))?$", lines[0])
            if not m:
                raise AssertionError("bad status line %r" % lines[0])
            status = int(m.group(1))
            headers = {}
            for ln in lines[1:]:
                k, sep, v = ln.partition(b":")
                if not sep:
                    raise AssertionError("bad header line %r" % ln)
                headers.setdefault(k.decode("latin-1").strip().lower(), []).append(
                    v.decode("latin-1").strip())
            if 100 <= status < 200:
                continue
            body = b""
            if method == "HEAD" or status in (204, 304):
                pass
            elif "chunked" in (headers.get("transfer-encoding") or [""])[-1].lower():
                while True:
                    size = int(self._take_line(deadline).split(b";")[0], 16)
                    if size == 0:
                        while self._take_line(deadline) != b"":
                            pass
                        break
                    while len(self.buf) < size + 2:
                        if not self._fill(deadline):
                            raise ConnectionClosed("closed inside a chunk")
                    body += self.buf[:size]
                    self.buf = self.buf[size + 2:]
            elif "content-length" in headers:
                n = int(headers["content-length"][0])
                while len(self.buf) < n:
                    if not self._fill(deadline):
                        raise ConnectionClosed("closed after %d of %d body bytes"
                                               % (len(self.buf), n))
                body, self.buf = self.buf[:n], self.buf[n:]
            else:
                while self._fill(deadline):
                    pass
                body, self.buf = self.buf, b""
            return Response(status, (m.group(2) or b"").decode("latin-1"), headers, body, head)

    def at_eof(self, timeout=2.0):
        """True when the peer closes the connection within timeout."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
            return True
        except (socket.timeout, TimeoutError):
            return False


_AUTO = object()


def build_request(method, target, token=None, headers=(), body=None,
                  content_type=_AUTO, host="127.0.0.1", version="HTTP/1.1"):
    """Bytes of one request.  token: bridge token for `Authorization:
    Bearer` (None: no header).  body: bytes; sets Content-Length unless the
    given headers carry Content-Length or Transfer-Encoding.  content_type:
    default application/json when there is a body; None omits it."""
    if isinstance(target, str):
        target = target.encode()
    lines = [method.encode() + b" " + target + b" " + version.encode()]
    if host is not None:
        lines.append(b"Host: " + host.encode())
    if token is not None:
        lines.append(b"Authorization: Bearer " + (token.encode() if isinstance(token, str) else token))
    names = set()
    for k, v in headers:
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        names.add(k.lower())
        lines.append(k + b": " + v)
    if body is not None:
        if content_type is _AUTO:
            content_type = "application/json"
        if content_type is not None and b"content-type" not in names:
            lines.append(b"Content-Type: " + content_type.encode())
        if b"content-length" not in names and b"transfer-encoding" not in names:
            lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def request(port, method, target, timeout=5.0, **kw):
    """One request on a fresh connection; returns the Response."""
    with Conn(port, timeout=timeout) as c:
        c.send(build_request(method, target, **kw))
        return c.read_response(method=method, timeout=timeout)


def send_raw(port, data, timeout=5.0, method="GET"):
    """Send exact bytes on a fresh connection, read one response."""
    with Conn(port, timeout=timeout) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return c.read_response(method=method, timeout=timeout)


# --------------------------------------------------------------------------
# Keyhole: the real parent process

def new_credential():
    return "KHCRED-" + secrets.token_hex(16)


def new_token():
    return "KHTOKEN-" + secrets.token_hex(16)


class Keyhole:
    """One `keyhole serve` process.

    credential_via: "file" (--credential-file, mode cred_mode), "env"
    (KEYHOLE_CREDENTIAL), "credentials-dir" ($CREDENTIALS_DIRECTORY/
    keyhole-credential) or None (no credential at all).
    token_via: "env" (PAPERCLIP_BRIDGE_TOKEN), "file" (--token-file) or None.
    listen: "tcp:HOST:PORT" for --listen, or None to leave it out.
    """

    def __init__(self, tc, upstream_url, policy=TEST_POLICY, policy_file=None,
                 credential=None, token=None, run_id=None, args=(), env=None,
                 credential_via="file", token_via="env", cred_mode=0o600,
                 net_binary=None, listen="tcp:127.0.0.1:0", ready_file=True,
                 start=True, wait_ready=True, text_logs=True):
        self.tc = tc
        self.dir = make_tempdir(tc)
        self.credential = credential if credential is not None else new_credential()
        self.token = token if token is not None else new_token()
        self.run_id = run_id
        self.upstream_url = upstream_url
        self.proc = None
        self.pid = None
        self.ready = None
        self.port = None
        self.seen_children = {}      # pid -> comm, for cleanup
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.ready_path = os.path.join(self.dir, "ready.json") if ready_file else None

        if policy_file is None:
            policy_file = os.path.join(self.dir, "test.policy")
            with open(policy_file, "w") as f:
                f.write(policy)
        self.policy_file = policy_file

        argv = [binary("keyhole"), "serve", "--policy", policy_file,
                "--upstream", upstream_url]
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("PAPERCLIP_") and k not in
             ("KEYHOLE_CREDENTIAL", "CREDENTIALS_DIRECTORY")}
        self.credential_file = None
        if credential_via == "file":
            self.credential_file = os.path.join(self.dir, "credential")
            fd = os.open(self.credential_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, self.credential.encode())
            os.close(fd)
            os.chmod(self.credential_file, cred_mode)
            argv += ["--credential-file", self.credential_file]
        elif credential_via == "env":
            e["KEYHOLE_CREDENTIAL"] = self.credential
        elif credential_via == "credentials-dir":
            cdir = os.path.join(self.dir, "creds")
            os.mkdir(cdir, 0o700)
            self.credential_file = os.path.join(cdir, "keyhole-credential")
            fd = os.open(self.credential_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, self.credential.encode())
            os.close(fd)
            e["CREDENTIALS_DIRECTORY"] = cdir
        if token_via == "env":
            e["PAPERCLIP_BRIDGE_TOKEN"] = self.token
        elif token_via == "file":
            tf = os.path.join(self.dir, "token")
            fd = os.open(tf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, self.token.encode())
            os.close(fd)
            argv += ["--token-file", tf]
        if run_id is not None:
            argv += ["--run-id", run_id]
        if listen is not None:
            argv += ["--listen", listen]
        if self.ready_path is not None:
            argv += ["--ready-file", self.ready_path]
        if net_binary is not None:
            argv += ["--net-binary", net_binary]
        argv += list(args)
        # Text log lines unless a test asks for JSON (test_logs.py covers
        # JSON, the default when stderr is not a terminal).
        if text_logs and not any(str(a).startswith("--log-format") for a in args):
            argv += ["--log-format", "text"]
        # Sanitizer builds: both binaries compile in detect_leaks=0
        # (LeakSanitizer cannot stop the world inside their seccomp
        # sandboxes), so leaks are the unit tests' and fuzzers' job; every
        # other sanitizer report, the child's included (its stderr is the
        # parent's in those builds), fails the test at cleanup.
        if env:
            e.update(env)
        self.argv = argv
        self.env = e
        tc.addCleanup(self._cleanup)
        if start:
            self.start()
            if wait_ready and self.ready_path is not None:
                self.wait_ready()

    # -- process control --------------------------------------------------

    def start(self):
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=self.env, close_fds=True)
        finally:
            out.close()
            err.close()
        self.pid = self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=10.0):
        """Wait for the ready file; returns its parsed JSON."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.ready_path) as f:
                    self.ready = json.load(f)
                break
            except (OSError, ValueError):
                pass
            if not self.alive():
                raise AssertionError("keyhole exited with %r before writing its ready file:\n%s"
                                     % (self.proc.returncode, self.output_text()))
            if time.monotonic() >= deadline:
                raise AssertionError("no ready file after %.0f s:\n%s" % (timeout, self.output_text()))
            time.sleep(0.02)
        self.port = self.ready.get("port")   # absent when serving only a queue
        return self.ready

    def wait_exit(self, timeout):
        """Wait for the parent to exit by itself; returns its exit code."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("keyhole did not exit within %.1f s:\n%s"
                                 % (timeout, self.output_text()))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def _note_children(self):
        if self.pid:
            for k in proc_children(self.pid):
                c = proc_comm(k)
                if c:
                    self.seen_children[k] = c

    def stop(self, timeout=15.0):
        """SIGTERM, then SIGKILL after timeout.  Returns the exit code."""
        if self.proc is None:
            return None
        self._note_children()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._kill_children()
        return self.proc.returncode

    SANITIZER_MARKS = (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:",
                       b"UndefinedBehaviorSanitizer")

    def _cleanup(self):
        """End of test: SIGTERM (SIGKILL after 3 s), then fail if a
        sanitizer build reported anything."""
        if self.proc is None:
            return
        self.stop(timeout=3.0)
        out = self.output()
        # A process killed by its own seccomp filter means the filter lacks
        # a syscall that process needs: always a bug, never a test's aim.
        for ln in self.stderr_lines():
            low = ln.lower()
            if "exited" in low and ("seccomp" in low or "sigsys" in low or "signal 31" in low):
                raise AssertionError("a keyhole process was killed by seccomp: %r\n%s"
                                     % (ln, self.output_text()[-4000:]))
        for mark in self.SANITIZER_MARKS:
            if mark in out:
                raise AssertionError("sanitizer report in keyhole's output:\n%s"
                                     % out.decode("utf-8", "replace")[-6000:])

    def kill(self):
        if self.proc is None:
            return
        self._note_children()
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._kill_children()

    def _kill_children(self):
        # Children get EOF on the socketpair when the parent dies and should
        # exit; make sure, by pid, only if they still are what we saw.
        for pid, comm in list(self.seen_children.items()):
            kill_pid_if(pid, comm)

    def children(self, comm=None):
        kids = proc_children(self.pid)
        out = []
        for k in sorted(kids):
            c = proc_comm(k)
            if c is None:
                continue
            self.seen_children[k] = c
            if comm is None or c == comm:
                out.append(k)
        return out

    def child_pid(self, comm="keyhole-net", exclude=(), timeout=5.0):
        """The parent's direct child running `comm` (not in exclude)."""
        def find():
            for k in self.children(comm):
                if k not in exclude:
                    return k
            return None
        return wait_until(find, timeout, "a %s child of keyhole[%d] (stderr:\n%s)"
                          % (comm, self.pid, self.output_text()[-2000:]))

    # -- output -------------------------------------------------------------

    def stdout(self):
        with open(self.stdout_path, "rb") as f:
            return f.read()

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read()

    def output(self):
        """Everything keyhole (parent and relayed child) printed."""
        return self.stdout() + self.stderr()

    def output_text(self):
        return self.output().decode("utf-8", "replace")

    def stderr_lines(self):
        return self.stderr().decode("utf-8", "replace").splitlines()

    def count_lines(self, pred):
        return sum(1 for ln in self.stderr_lines() if pred(ln))

    def wait_log(self, pred, count=1, timeout=5.0, what=None):
        """Wait until `count` stderr lines satisfy pred (a callable or a
        substring); returns the matching lines."""
        if isinstance(pred, str):
            sub = pred
            pred = lambda ln: sub in ln
            what = what or repr(sub)

        def check():
            m = [ln for ln in self.stderr_lines() if pred(ln)]
            return m if len(m) >= count else None
        try:
            return wait_until(check, timeout, "%d log line(s) matching %s" % (count, what))
        except AssertionError as e:
            raise AssertionError("%s\nstderr:\n%s" % (e, self.output_text()[-4000:]))

    # -- requests -------------------------------------------------------------

    def request(self, method, target, token=_AUTO, **kw):
        if token is _AUTO:
            token = self.token
        return request(self.port, method, target, token=token, **kw)

    def send_raw(self, data, **kw):
        return send_raw(self.port, data, **kw)

    def conn(self, timeout=5.0):
        c = Conn(self.port, timeout=timeout)
        self.tc.addCleanup(c.close)
        return c


def run_keyhole(args, env=None, timeout=10.0):
    """Run `keyhole ARGS` to completion: (exit code, stdout, stderr)."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("PAPERCLIP_") and k not in
         ("KEYHOLE_CREDENTIAL", "CREDENTIALS_DIRECTORY")}
    if env:
        e.update(env)
    p = subprocess.run([binary("keyhole")] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, env=e, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class KeyholeTestCase(unittest.TestCase):
    """Base class: helpers shared by every integration test file."""

    maxDiff = 4000

    def upstream(self):
        return Upstream(self)

    def keyhole(self, upstream_url, **kw):
        return Keyhole(self, upstream_url, **kw)

    def assertJsonError(self, resp, status, body=None):
        """resp has `status`, content-type application/json and a JSON
        body; equal to `body` when given, else an object with "error"."""
        self.assertEqual(resp.status, status, resp)
        ct = (resp.header("content-type") or "").split(";")[0].strip().lower()
        self.assertEqual(ct, "application/json", resp)
        try:
            got = resp.json()
        except ValueError:
            self.fail("error body is not JSON: %r" % resp.body)
        if body is not None:
            self.assertEqual(got, body, resp)
        else:
            self.assertIsInstance(got, dict, resp)
            self.assertIn("error", got, resp)
        return got


def is_iso8601(s):
    if not isinstance(s, str):
        return False
    try:
        datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def file_mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def main():
    unittest.main(verbosity=2)
