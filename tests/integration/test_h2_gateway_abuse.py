#!/usr/bin/env python3
"""keyhole-gateway (http2_v1) against a host that misbehaves: every byte
from its stdin is the host's, and a broken or hostile host must cost the
gateway bounded memory and time, end in a clear line on stderr, answer
every agent request it had, and never crash.

  garbage         an HTTP/1.1 answer instead of HTTP/2 frames
  frame size      a frame over 16,384 bytes (no SETTINGS allowed it)
  host streams    the host opens a stream, or promises one (push is off)
  floods          SETTINGS and PING frames sent while the host never reads
                  the gateway's output: the ACK queue is bounded, the
                  session ends (nghttp2's flood limit), RSS stays small
  CONTINUATION    a header block in endless CONTINUATION frames
  header list     an answer whose header list is over 64 KiB: that stream
                  refused (502), the session goes on
  zero window     INITIAL_WINDOW_SIZE 0 and no WINDOW_UPDATE: the body
                  never leaves, the request's deadline answers 409 (a
                  POST whose HEADERS went out) and cancels the stream
"""

import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
import h2host  # noqa: E402
from h2host import Gateway  # noqa: E402

MSG_SESSION = "Bridge HTTP/2 session ended before the host answered."
IND = {"outcome": "indeterminate", "retryable": False}
# What a gateway may use, KiB of resident memory, after any abuse here:
# its own use is a few MiB (a static binary, 64 KiB buffers).
RSS_MAX_KIB = 32 * 1024


class H2GatewayAbuseTest(KeyholeTestCase):

    def gateway(self, **kw):
        g = Gateway(self, **kw)
        g.handshake()
        return g

    def assertSessionLost(self, g, pend, why):
        """pend's GET answered 502, the gateway gone with status 1 and
        why in its last line."""
        self.assertJsonError(pend.result(), 502, {"error": MSG_SESSION})
        self.assertEqual(g.wait_exit(), 1)
        self.assertIn("http2_v1 session ended: " + why, g.stderr())

    def test_garbage_instead_of_frames(self):
        g = Gateway(self)
        pend = g.request_async("GET", "/api/agents/me")
        g.request_stream()      # sent before the host's SETTINGS
        g.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        self.assertSessionLost(g, pend, "the host broke the HTTP/2 protocol: Remote peer "
                               "returned unexpected data while we expected SETTINGS frame")

    def test_oversized_frame(self):
        g = self.gateway()
        pend = g.request_async("GET", "/api/agents/me")
        sid = g.request_stream()
        g.send(h2host.frame(h2host.DATA, 0, sid, b"x" * 20000))
        f = g.wait_frame(lambda f: f.type == h2host.GOAWAY, what="the gateway's GOAWAY")
        self.assertEqual(struct.unpack(">I", f.payload[4:8])[0], 6)     # FRAME_SIZE_ERROR
        self.assertSessionLost(g, pend, "the gateway sent GOAWAY (FRAME_SIZE_ERROR)")

    def test_host_opens_or_promises_a_stream(self):
        g = self.gateway()
        pend = g.request_async("GET", "/api/agents/me")
        g.request_stream()
        g.send(h2host.frame(h2host.HEADERS, h2host.END_HEADERS, 2,
                            h2host.hpack([(":method", "GET"), (":path", "/"),
                                          (":scheme", "http"), (":authority", "x")])))
        f = g.wait_frame(lambda f: f.type == h2host.GOAWAY, what="the gateway's GOAWAY")
        self.assertEqual(struct.unpack(">I", f.payload[4:8])[0], h2host.PROTOCOL_ERROR)
        self.assertSessionLost(g, pend, "the gateway sent GOAWAY (PROTOCOL_ERROR)")
        g2 = self.gateway()
        pend = g2.request_async("GET", "/api/agents/me")
        sid = g2.request_stream()
        g2.send(h2host.frame(h2host.PUSH_PROMISE, h2host.END_HEADERS, sid,
                             struct.pack(">I", 2) + h2host.hpack([(":method", "GET")])))
        g2.wait_frame(lambda f: f.type == h2host.GOAWAY, what="the gateway's GOAWAY")
        self.assertSessionLost(g2, pend, "the gateway sent GOAWAY (PROTOCOL_ERROR)")

    def flood(self, one, n):
        """n copies of one frame from a host that never reads the
        gateway's output."""
        g = Gateway(self, read=False)
        g.send(h2host.settings(((h2host.S_MAX_CONCURRENT_STREAMS, 4),)))
        pend = g.request_async("GET", "/api/agents/me")
        time.sleep(0.3)     # the request is queued in the session
        done = threading.Event()

        def write():
            chunk = one * 512
            for _ in range(n // 512):
                if g.proc.poll() is not None:
                    break
                g.send(chunk)
            done.set()
        threading.Thread(target=write, daemon=True).start()
        peak = 0
        deadline = time.monotonic() + 20
        while g.proc.poll() is None and time.monotonic() < deadline:
            try:
                peak = max(peak, g.rss_kib())
            except OSError:
                break
            time.sleep(0.05)
        self.assertLess(peak, RSS_MAX_KIB, "RSS peak %d KiB" % peak)
        self.assertSessionLost(g, pend, "the host's bytes: Flooding was detected")
        return g

    def test_settings_flood(self):
        self.flood(h2host.settings(((h2host.S_ENABLE_PUSH, 0),)), 200000)

    def test_ping_flood(self):
        self.flood(h2host.ping(), 200000)

    def test_continuation_flood(self):
        g = self.gateway()
        pend = g.request_async("GET", "/api/agents/me")
        sid = g.request_stream()
        g.send(h2host.frame(h2host.HEADERS, 0, sid, h2host.hpack([(":status", "200")])))
        for i in range(100):
            g.send(h2host.frame(h2host.CONTINUATION, 0, sid,
                                h2host.hpack([("x-%d" % i, "y")])))
            if g.proc.poll() is not None:
                break
        self.assertSessionLost(g, pend, "the host's bytes: Too many CONTINUATION frames")

    def test_header_list_over_the_limit(self):
        g = self.gateway()
        pend = g.request_async("GET", "/api/agents/me")
        sid = g.request_stream()
        block = h2host.hpack([(":status", "200")] +
                             [("x-big-%d" % i, "v" * 4000) for i in range(20)])
        chunks = [block[i:i + 16384] for i in range(0, len(block), 16384)]
        self.assertLessEqual(len(chunks), 8)
        for i, c in enumerate(chunks):
            flags = h2host.END_HEADERS if i == len(chunks) - 1 else 0
            ftype = h2host.HEADERS if i == 0 else h2host.CONTINUATION
            g.send(h2host.frame(ftype, flags | (h2host.END_STREAM if i == 0 else 0), sid, c))
        self.assertJsonError(pend.result(), 502,
                             {"error": "Bridge response has an invalid header."})
        # the session goes on
        pend = g.request_async("GET", "/api/agents/me")
        g.respond(g.request_stream(), 200, [], b"ok")
        self.assertEqual(pend.result().body, b"ok")

    def test_zero_window_never_opened(self):
        g = Gateway(self, env={"PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS": "800"})
        g.handshake(((h2host.S_INITIAL_WINDOW_SIZE, 0), (h2host.S_MAX_CONCURRENT_STREAMS, 4)))
        pend = g.request_async("POST", "/api/issues/i-1/comments", body=b'{"body":"x"}')
        sid = g.request_stream()
        r = pend.result()
        self.assertJsonError(r, 409, dict({"error": "Timed out waiting for host bridge response."},
                                          **IND))
        f = g.wait_frame(lambda f: f.type in (h2host.RST_STREAM, h2host.DATA) and f.sid == sid)
        self.assertEqual(f.type, h2host.RST_STREAM, "no DATA may pass a zero window")
        self.assertEqual(g.proc.poll(), None)
        self.assertLess(g.rss_kib(), RSS_MAX_KIB)


if __name__ == "__main__":
    khtest.main()
