"""httpcheck: strict reading of keyhole's responses, for the tests.

Reader parses responses byte-exactly: a status line `HTTP/1.1 NNN Reason`,
`name: value` lines with only the header names keyhole writes and fixed
value shapes (so a request byte echoed into a header, or an upstream
header that escaped the allowlist, fails), one Content-Length that frames
the body exactly, no body for HEAD, and nothing after the last response
when keyhole closes.
"""

import re
import socket
import time

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
    """The peer reset the connection."""


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

    def response(self, head_request=False):
        """(status, {name: value}, body) or None at a clean EOF.
        head_request: the response answers a HEAD (no body follows)."""
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
        if status in (204, 304):
            if "content-length" in headers:
                raise AssertionError("content-length on a %d: %r" % (status, head))
            return status, headers, b""
        if head_request and status < 300:
            # The upstream's HEAD answer reaches keyhole without a body,
            # so any length keyhole wrote here would be made up.
            if "content-length" in headers:
                raise AssertionError("HEAD answer with a content-length: %r" % head)
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
