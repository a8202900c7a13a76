#!/usr/bin/env python3
"""Limits and deadlines of the sandbox-facing front end (SECURITY.md I7), each
against the real binary with its option: header bytes and field count
(431), the head deadline and a one-byte-per-second head (408), the body
deadline and the minimum body rate (408), the keep-alive idle timeout and
a silent new connection (closed without a word), the connection cap (503
and close when every slot is busy, while existing clients are served), a pipelining flood and a
client that never reads (bounded child memory, answers in order, write
deadline), and the bounded lingering close.  Every test is bounded in
time; timing margins are generous (the CI machine is noisy)."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from httpcheck import Reader  # noqa: E402


def sanitized():
    """The child was built with AddressSanitizer: its quarantine keeps
    freed memory resident on purpose, so RSS bounds say nothing there."""
    with open(khtest.binary("keyhole-net"), "rb") as f:
        return b"__asan_init" in f.read()


def vm_rss_kib(pid):
    return int(khtest.proc_status(pid)["VmRSS"].split()[0])


class Sampler:
    """Samples a process's VmRSS in the background; .peak in KiB."""

    def __init__(self, pid, interval=0.02):
        self.pid = pid
        self.peak = vm_rss_kib(pid)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._t.start()

    def _run(self, interval):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, vm_rss_kib(self.pid))
            except (OSError, KeyError, ValueError):
                return
            time.sleep(interval)

    def stop(self):
        self._stop.set()
        self._t.join(2)
        return self.peak


def closed_within(sock, timeout):
    """True if the peer closes (EOF or reset) within timeout, reading and
    discarding whatever arrives; returns (closed, bytes_seen)."""
    deadline = time.monotonic() + timeout
    seen = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, seen
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return True, seen
        except socket.timeout:
            return False, seen
        if not chunk:
            return True, seen
        seen += chunk


class Base(KeyholeTestCase):

    def start(self, *args, policy=khtest.TEST_POLICY):
        self.up = self.upstream()
        self.kh = self.keyhole(self.up.url, policy=policy, args=list(args))
        self.auth = b"Authorization: Bearer " + self.kh.token.encode()
        return self.kh

    def get_bytes(self, path=b"/api/agents/me", *fields):
        return (b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + self.auth + b"\r\n" +
                b"".join(f + b"\r\n" for f in fields) + b"\r\n")

    def post_head(self, length, path=b"/api/issues/i1/comments"):
        return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + self.auth +
                b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % length)

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.kh.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.addCleanup(s.close)
        return s

    def one(self, sock, data, head=False, timeout=5.0):
        sock.sendall(data)
        return Reader(sock, time.monotonic() + timeout).response(head)


class HeadLimitsTest(Base):

    def test_head_bytes_over_max_head_431(self):
        self.start("--max-head", "1024")
        base = self.get_bytes(b"/api/agents/me", b"X-Pad: ")
        fits = self.get_bytes(b"/api/agents/me", b"X-Pad: " + b"p" * (1024 - len(base)))
        self.assertEqual(len(fits), 1024)
        s = self.connect()
        self.assertEqual(self.one(s, fits)[0], 200)
        over = self.get_bytes(b"/api/agents/me", b"X-Pad: " + b"p" * (1025 - len(base)))
        st, h, body = self.one(self.connect(), over)
        self.assertEqual(st, 431)
        self.assertEqual(h.get("connection"), "close")
        # A head that never ends is refused once it passes the limit.
        st, _, _ = self.one(self.connect(), b"GET /api/agents/me HTTP/1.1\r\nX-A: " + b"a" * 2000)
        self.assertEqual(st, 431)
        self.assertEqual([r.path for r in self.up.snapshot()], ["/api/agents/me"])

    def test_field_count_over_max_headers_431(self):
        self.start("--max-headers", "8")
        six = [b"X-%d: 1" % i for i in range(6)]       # + Host + Authorization = 8
        self.assertEqual(self.one(self.connect(), self.get_bytes(b"/api/agents/me", *six))[0],
                         200)
        seven = six + [b"X-6: 1"]
        st, h, _ = self.one(self.connect(), self.get_bytes(b"/api/agents/me", *seven))
        self.assertEqual(st, 431)
        self.assertEqual(len(self.up.snapshot()), 1)


class DeadlineTest(Base):

    def test_one_byte_per_second_head_cut_at_head_deadline_408(self):
        # Progress does not extend the head deadline: it is absolute.
        self.start("--head-timeout-ms", "1500")
        s = self.connect()
        head = self.get_bytes()
        t0 = time.monotonic()
        stop = threading.Event()

        def trickle():
            for i in range(len(head) - 2):
                if stop.is_set():
                    return
                try:
                    s.send(head[i:i + 1])
                except OSError:
                    return
                time.sleep(0.25)
        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        self.addCleanup(stop.set)
        st, h, _ = Reader(s, t0 + 8).response()
        elapsed = time.monotonic() - t0
        stop.set()
        self.assertEqual(st, 408)
        self.assertEqual(h.get("connection"), "close")
        self.assertGreater(elapsed, 1.2)
        self.assertLess(elapsed, 5.0)
        self.up.assert_nothing(self)

    def test_new_connection_sending_nothing_closed_silently(self):
        self.start("--head-timeout-ms", "800")
        s = self.connect()
        t0 = time.monotonic()
        closed, seen = closed_within(s, 6.0)
        self.assertTrue(closed, "an idle new connection must be closed")
        self.assertEqual(seen, b"", "closed without a word (no 408 to a client that asked nothing)")
        self.assertGreater(time.monotonic() - t0, 0.6)

    def test_keepalive_idle_timeout_closes_silently(self):
        self.start("--idle-timeout-ms", "800")
        s = self.connect()
        st, h, _ = self.one(s, self.get_bytes())
        self.assertEqual(st, 200)
        self.assertIsNone(h.get("connection"))
        t0 = time.monotonic()
        closed, seen = closed_within(s, 6.0)
        self.assertTrue(closed)
        self.assertEqual(seen, b"")
        self.assertGreater(time.monotonic() - t0, 0.6)
        # Before the idle timeout the connection serves the next request.
        s2 = self.connect()
        self.assertEqual(self.one(s2, self.get_bytes())[0], 200)
        time.sleep(0.3)
        self.assertEqual(self.one(s2, self.get_bytes())[0], 200)

    def test_one_byte_per_second_body_cut_by_minimum_rate_408(self):
        # The body deadline alone (30 s here) would let the trickle hold
        # the connection and its body buffer for 30 s; the minimum rate
        # cuts it after one 2 s window.
        self.start("--body-min-rate", "100", "--body-timeout-ms", "30000")
        s = self.connect()
        s.sendall(self.post_head(200))
        t0 = time.monotonic()
        stop = threading.Event()
        self.addCleanup(stop.set)

        def trickle():
            while not stop.is_set():
                try:
                    s.send(b" ")
                except OSError:
                    return
                time.sleep(1.0)
        threading.Thread(target=trickle, daemon=True).start()
        st, h, body = Reader(s, t0 + 10).response()
        elapsed = time.monotonic() - t0
        stop.set()
        self.assertEqual(st, 408)
        self.assertEqual(h.get("connection"), "close")
        self.assertIn(b"slow", body)
        self.assertGreater(elapsed, 1.5)
        self.assertLess(elapsed, 6.0)
        self.up.assert_nothing(self)

    def test_minimum_rate_lets_a_steady_body_and_a_short_tail_through(self):
        self.start("--body-min-rate", "100", "--body-timeout-ms", "30000")
        s = self.connect()
        body = b'{"b":"' + b"x" * 592 + b'"}'
        s.sendall(self.post_head(len(body)))
        # 300 bytes per second (above 100/s), then the last 3 bytes after
        # a pause: a window only asks for what is left of the body.
        for i in range(0, 597, 150):
            s.sendall(body[i:min(i + 150, 597)])
            time.sleep(0.5)
        time.sleep(1.0)
        s.sendall(body[597:])
        st, _, _ = Reader(s, time.monotonic() + 5).response()
        self.assertEqual(st, 200)
        self.assertEqual(self.up.wait_requests(1)[0].body, body)

    def test_body_deadline_without_minimum_rate_408(self):
        self.start("--body-min-rate", "0", "--body-timeout-ms", "2500")
        s = self.connect()
        s.sendall(self.post_head(200))
        t0 = time.monotonic()
        stop = threading.Event()
        self.addCleanup(stop.set)

        def trickle():
            while not stop.is_set():
                try:
                    s.send(b" ")
                except OSError:
                    return
                time.sleep(0.5)
        threading.Thread(target=trickle, daemon=True).start()
        st, _, _ = Reader(s, t0 + 10).response()
        elapsed = time.monotonic() - t0
        stop.set()
        self.assertEqual(st, 408)
        self.assertGreater(elapsed, 2.0)
        self.assertLess(elapsed, 7.0)
        self.up.assert_nothing(self)

    def test_lingering_close_is_bounded(self):
        # After an answer that closes, keyhole reads and discards for a
        # bounded time (KH_LINGER_MS = 2 s) so the answer is not reset,
        # then closes even if the client keeps sending.
        self.start()
        s = self.connect()
        s.sendall(b"GET /api/agents/me HTTP/1.1\nHost: x\n\n")
        r = Reader(s, time.monotonic() + 5)
        st, h, _ = r.response()
        self.assertEqual(st, 400)
        self.assertTrue(r.at_eof())        # FIN right after the answer
        t0 = time.monotonic()
        cut = None
        while time.monotonic() - t0 < 8:
            try:
                s.send(b"x" * 100)
            except (BrokenPipeError, ConnectionResetError):
                cut = time.monotonic() - t0
                break
            time.sleep(0.05)
        self.assertIsNotNone(cut, "keyhole kept the connection open while the client sent")
        self.assertGreater(cut, 1.0)
        self.assertLess(cut, 6.0)


class ConnectionCapTest(Base):

    def test_max_conns_503_and_close_while_existing_clients_served(self):
        # Only connections busy with a request hold their slot: an idle one
        # would make room for the newcomer (test_floods.py).  So the three
        # held here are in the middle of their bodies.
        self.start("--max-conns", "3", "--max-conns-per-peer", "0", "--body-min-rate", "0")
        body = b'{"a":1}'
        held = [self.connect() for _ in range(3)]
        for s in held:
            s.sendall(self.post_head(len(body)) + body[:3])
        time.sleep(0.3)
        extra = self.connect()
        r = Reader(extra, time.monotonic() + 5)
        st, h, body503 = r.response()
        self.assertEqual(st, 503)
        self.assertEqual(h.get("connection"), "close")
        self.assertEqual(body503, b'{"error":"Bridge has too many connections."}')
        self.assertTrue(r.at_eof())
        # The three existing clients are still served, on their connections.
        for s in held:
            self.assertEqual(self.one(s, body[3:])[0], 200)
        for s in held:
            self.assertEqual(self.one(s, self.get_bytes())[0], 200)
        # A slot frees when a client leaves.
        held[0].close()

        def accepted():
            s = self.connect()
            s.sendall(self.get_bytes())
            resp = Reader(s, time.monotonic() + 5).response()
            return resp is not None and resp[0] == 200
        khtest.wait_until(accepted, 5, "a connection slot to free up", interval=0.1)
        self.assertEqual(len(self.up.snapshot()), 7)


class BackPressureTest(Base):

    POLICY = khtest.TEST_POLICY + "allow GET /big/*\n"

    def test_pipelined_flood_memory_bounded_answers_in_order(self):
        # 10000 pipelined requests (about 32 MB, answers about as large)
        # written without reading a byte: keyhole works on one request at
        # a time and stops reading while an answer waits, so the flood
        # stays in the socket buffers, not in keyhole's memory.  Then
        # every answer comes back, in order.
        # Deadlines well above what a slow (sanitizer, loaded) machine
        # needs to move 32 MB: this test is about memory, not deadlines.
        kh = self.start("--head-timeout-ms", "120000", "--write-timeout-ms",
                        "120000", policy=self.POLICY)
        child = kh.child_pid()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.settimeout(60)
        s.connect(("127.0.0.1", kh.port))
        self.addCleanup(s.close)
        self.assertEqual(self.one(s, self.get_bytes())[0], 200)    # warm up
        before = self.up.count()
        base = vm_rss_kib(child)
        n = 10000
        tail = b"/" + b"z" * 3000
        reqs = []
        for i in range(n):
            if i % 1000 == 999:
                reqs.append(self.get_bytes(b"/api/agents/me?seq=%05d" % i))
            else:
                reqs.append(self.get_bytes(b"/private/seq-%05d" % i + tail))
        data = b"".join(reqs)
        sampler = Sampler(child)
        err = []

        def writer():
            try:
                s.sendall(data)
            except OSError as e:
                err.append(e)
        w = threading.Thread(target=writer, daemon=True)
        w.start()
        time.sleep(2.0)                 # the client reads nothing meanwhile
        self.assertTrue(w.is_alive(), "a %d-byte pipeline was taken in while no answer "
                        "was read" % len(data))
        stalled = vm_rss_kib(child)
        r = Reader(s, time.monotonic() + 60)
        for i in range(n):
            st, _, body = r.response()
            if i % 1000 == 999:
                self.assertEqual(st, 200, i)
            else:
                self.assertEqual(st, 403, i)
                self.assertEqual(body, b'{"error":"Route not allowed: GET /private/seq-%05d%s"}'
                                 % (i, tail))
        w.join(10)
        peak = sampler.stop()
        self.assertEqual(err, [])
        self.assertEqual([x.path for x in self.up.snapshot()[before:]],
                         ["/api/agents/me?seq=%05d" % i for i in range(999, n, 1000)])
        if sanitized():
            return
        self.assertLess(peak - base, 4096,
                        "child VmRSS grew by %d KiB under a %d-byte pipeline (%d KiB while "
                        "stalled)" % (peak - base, len(data), stalled - base))

    def test_client_never_reading_large_responses_bounded_then_closed(self):
        # Each answer is 1 MiB and the client never reads: keyhole holds at
        # most one answer for it, stops reading its requests, and drops it
        # at the write deadline.
        kh = self.start("--write-timeout-ms", "1500", policy=self.POLICY)
        big = b'{"x":"' + b"y" * (1024 * 1024) + b'"}'
        self.up.set_route("/big/1", body=big)
        child = kh.child_pid()
        s = self.connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        base = vm_rss_kib(child)
        sampler = Sampler(child)
        reqs = self.get_bytes(b"/big/1") * 64
        s.settimeout(10)
        try:
            s.sendall(reqs)
        except OSError:
            pass
        kh.wait_log("response not taken within 1500 ms", timeout=10)
        peak = sampler.stop()
        forwarded = len(self.up.snapshot())
        self.assertLess(forwarded, 16, "keyhole kept reading requests from a client that "
                        "does not read its answers (%d forwarded)" % forwarded)
        if not sanitized():
            self.assertLess(peak - base, 8 * 1024,
                            "child VmRSS grew by %d KiB for a client that never reads"
                            % (peak - base))
        time.sleep(0.5)
        self.assertEqual(len(self.up.snapshot()), forwarded, "nothing more after the close")
        # The connection is gone: the client finds its end closed.
        closed, _ = closed_within(s, 10)
        self.assertTrue(closed)
        # And keyhole serves others.
        self.assertEqual(self.one(self.connect(), self.get_bytes())[0], 200)


if __name__ == "__main__":
    khtest.main()
