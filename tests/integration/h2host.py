"""h2host: a fake http2_v1 host for keyhole-gateway's tests.

It runs the gateway with pipes for stdin/stdout, reads its READY line and
HTTP/2 client preface, and then speaks raw HTTP/2 frames: it never decodes
HPACK (the request fields are checked by unit.test_gateway_h2 and by
Paperclip's own host in it.test_h2_paperclip_host) and encodes its answers
as HPACK literals without Huffman coding, so a test can send any bytes at
all -- a valid answer, garbage, floods, oversized frames.

  Gateway(tc, argv=None, env=None, ...)   the process, its stdout read
                                          into frames by a thread
  g.handshake(settings)                   READY, preface, SETTINGS both ways
  g.wait_frame(pred)                      the next matching frame from it
  g.respond(sid, status, headers, body)   an answer
"""

import os
import queue
import signal
import struct
import subprocess
import threading
import time

import khtest

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
REFUSED_STREAM, CANCEL = 7, 8
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, \
    S_INITIAL_WINDOW_SIZE, S_MAX_FRAME_SIZE, S_MAX_HEADER_LIST_SIZE = range(1, 7)


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid & 0x7fffffff) + payload


def hpack_int(n, prefix_bits, first=0):
    top = (1 << prefix_bits) - 1
    if n < top:
        return bytes([first | n])
    out = [first | top]
    n -= top
    while n >= 128:
        out.append((n & 0x7f) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def hpack(fields):
    """Literal header fields without indexing, new names, no Huffman."""
    out = b""
    for name, value in fields:
        name = name.encode() if isinstance(name, str) else name
        value = value.encode() if isinstance(value, str) else value
        out += b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value
    return out


def settings(pairs=(), ack=False):
    if ack:
        return frame(SETTINGS, ACK, 0)
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def goaway(last, code=NO_ERROR):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last, code))


def rst(sid, code):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def ping(data=b"12345678", ack=False):
    return frame(PING, ACK if ack else 0, 0, data)


def window_update(sid, n):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", n))


class Frame:
    def __init__(self, ftype, flags, sid, payload):
        self.type, self.flags, self.sid, self.payload = ftype, flags, sid, payload

    def __repr__(self):
        return "<Frame type=%d flags=%#x sid=%d len=%d>" % (
            self.type, self.flags, self.sid, len(self.payload))


class Gateway:
    """keyhole-gateway in http2_v1 mode, its stdio ours.

    argv: the command (default: keyhole-gateway-static when built, else
    keyhole-gateway).  env: extra environment.  read: a thread reads its
    stdout (False: nobody reads it, a host that does not read)."""

    def __init__(self, tc, argv=None, env=None, nonce="0123456789abcdef0123456789abcdef",
                 port=None, token=None, read=True, wait_ready=True, cwd=None):
        self.tc = tc
        self.token = token or khtest.new_token()
        self.nonce = nonce
        self.port = port or khtest.free_port()
        self.argv = argv or [gateway_binary()]
        d = khtest.make_tempdir(tc)
        self.err_path = os.path.join(d, "gateway.err")
        e = {"PATH": "/usr/bin:/bin",
             "PAPERCLIP_API_BRIDGE_MODE": "http2_v1",
             "PAPERCLIP_BRIDGE_TOKEN": self.token,
             "PAPERCLIP_BRIDGE_HOST": "127.0.0.1",
             "PAPERCLIP_BRIDGE_PORT": str(self.port),
             "PAPERCLIP_BRIDGE_NONCE": nonce,
             "PAPERCLIP_BRIDGE_MAX_BODY_BYTES": "10551296"}
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, env=e, cwd=cwd)
        self.err.close()
        tc.addCleanup(self.kill)
        self.raw = b""              # every byte of stdout, for the record
        self.frames = queue.Queue()
        self.ready_line = None
        self._reader = None
        self.read = read
        self.eof = threading.Event()
        if wait_ready:
            self.read_ready()

    # -- the gateway's stdout ------------------------------------------------

    def _read_exact(self, n, timeout=10.0):
        out = b""
        deadline = time.monotonic() + timeout
        while len(out) < n:
            if time.monotonic() > deadline:
                raise AssertionError("timed out reading the gateway's stdout; stderr:\n"
                                     + self.stderr())
            chunk = os.read(self.proc.stdout.fileno(), n - len(out))
            if not chunk:
                raise AssertionError("the gateway's stdout ended after %r; stderr:\n%s"
                                     % (self.raw[-200:], self.stderr()))
            out += chunk
            self.raw += chunk
        return out

    def read_ready(self):
        line = b""
        while not line.endswith(b"\n"):
            line += self._read_exact(1)
            if len(line) > 4096:
                raise AssertionError("no READY line: %r" % line[:200])
        self.ready_line = line
        preface = self._read_exact(len(PREFACE))
        self.tc.assertEqual(preface, PREFACE)
        if self.read:
            self._reader = threading.Thread(target=self._read_frames, daemon=True)
            self._reader.start()
        return line

    def _read_frames(self):
        buf = b""
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.eof.set()
                return
            self.raw += chunk
            buf += chunk
            while len(buf) >= 9:
                n = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + n:
                    break
                f = Frame(buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7fffffff,
                          buf[9:9 + n])
                buf = buf[9 + n:]
                self.frames.put(f)

    def wait_frame(self, pred=lambda f: True, timeout=5.0, what="a frame"):
        """The next frame matching pred (others are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for %s; stderr:\n%s"
                                     % (what, self.stderr()))
            try:
                f = self.frames.get(timeout=left)
            except queue.Empty:
                continue
            if pred(f):
                return f

    def request_stream(self, timeout=5.0):
        """Wait for the next request HEADERS; its stream id."""
        return self.wait_frame(lambda f: f.type == HEADERS, timeout,
                               "a request's HEADERS").sid

    # -- to the gateway ------------------------------------------------------

    def send(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def handshake(self, pairs=((S_MAX_CONCURRENT_STREAMS, 4), (S_ENABLE_PUSH, 0))):
        """Our SETTINGS and the ACK of the gateway's (its SETTINGS is its
        first frame); waits for its ACK of ours."""
        first = self.wait_frame(what="the gateway's SETTINGS")
        self.tc.assertEqual((first.type, first.flags), (SETTINGS, 0))
        self.client_settings = {struct.unpack(">H", first.payload[i:i + 2])[0]:
                                struct.unpack(">I", first.payload[i + 2:i + 6])[0]
                                for i in range(0, len(first.payload), 6)}
        self.send(settings(pairs) + settings(ack=True))
        self.wait_frame(lambda f: f.type == SETTINGS and f.flags & ACK, what="SETTINGS ACK")

    def respond(self, sid, status, headers=(), body=b"", end=True):
        fields = [(":status", str(status))] + list(headers)
        block = hpack(fields)
        if body:
            self.send(frame(HEADERS, END_HEADERS, sid, block))
            for i in range(0, len(body), 16384):
                last = i + 16384 >= len(body)
                self.send(frame(DATA, END_STREAM if (last and end) else 0, sid,
                                body[i:i + 16384]))
        else:
            self.send(frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), sid, block))

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    # -- the process ----------------------------------------------------------

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_exit(self, timeout=10.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("the gateway did not exit within %.1f s; stderr:\n%s"
                                 % (timeout, self.stderr()))

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    # -- the agent --------------------------------------------------------------

    def request(self, method, target, token=khtest._AUTO, **kw):
        if token is khtest._AUTO:
            token = self.token
        kw.setdefault("timeout", 10.0)
        return khtest.request(self.port, method, target, token=token, **kw)

    def request_async(self, method, target, **kw):
        """Start a request in a thread; .result() waits for its Response
        (or the exception it raised)."""
        box = {}

        def run():
            try:
                box["r"] = self.request(method, target, **kw)
            except Exception as e:  # noqa: BLE001 - handed to the test
                box["r"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()

        class Pending:
            def result(self_, timeout=15.0):
                t.join(timeout)
                if t.is_alive():
                    raise AssertionError("the agent's request got no answer in %.1f s" % timeout)
                return box["r"]
        return Pending()


def gateway_binary():
    """keyhole-gateway-static where the build has it (sanitizer builds do
    not), else keyhole-gateway."""
    path = os.path.join(khtest.BUILD, "keyhole-gateway-static")
    if os.path.isfile(path):
        return path
    return khtest.binary("keyhole-gateway")


def static_gateway():
    """The static gateway, or None in a build without it (sanitizers)."""
    path = os.path.join(khtest.BUILD, "keyhole-gateway-static")
    return path if os.path.isfile(path) else None
