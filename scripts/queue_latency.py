#!/usr/bin/env python3
"""Round-trip latency of one GET through a gateway + keyhole's queue_v1
host side, for the configurations the README compares:

  python3 scripts/queue_latency.py [N]

Runs a local stand-in upstream, keyhole serve --queue-dir (inotify or
polling), and keyhole-gateway or Paperclip's own gateway (node, from the
interop test's npm cache in build/paperclip-npm), all on 127.0.0.1 in a
temporary directory, and prints min / median / p90 in milliseconds."""

import os
import socket
import socketserver
import statistics
import threading
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import khtest  # noqa: E402
from khqueue import Gateway, QueueDir, keyhole_queue  # noqa: E402
from test_queue_paperclip_interop import paperclip_gateway_source  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50
RESP = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: 11\r\n\r\n{\"ok\":true}")


class FastUpstream(socketserver.ThreadingTCPServer):
    """Answers every GET with one send() (khtest's upstream writes head and
    body separately, which with Nagle + delayed ACK on a kept-alive
    connection adds 40 ms that are not the bridge's)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        class H(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buf = b""
                while True:
                    while b"\r\n\r\n" not in buf:
                        d = self.request.recv(65536)
                        if not d:
                            return
                        buf += d
                    _, _, buf = buf.partition(b"\r\n\r\n")
                    self.request.sendall(RESP)
        super().__init__(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Bench(unittest.TestCase):
    def setUp(self):
        self.up = FastUpstream()
        self.addCleanup(self.up.server_close)
        self.addCleanup(self.up.shutdown)

    def measure(self, label, send):
        for _ in range(3):
            send()
        ms = []
        for _ in range(N):
            t0 = time.perf_counter()
            r = send()
            ms.append((time.perf_counter() - t0) * 1000)
            assert r.status == 200, r
        ms.sort()
        self.report(label, ms)

    @staticmethod
    def report(label, ms):
        print("%-52s min %6.2f  median %6.2f  p90 %6.2f ms" % (
            label, ms[0], statistics.median(ms), ms[int(len(ms) * 0.9) - 1]), flush=True)

    def run_one(self, label, host_args, gw_argv, gw_env):
        q = QueueDir(self)
        kh = keyhole_queue(self, self.up.url, q, args=host_args)
        gw = Gateway(self, gw_argv, q, kh.token, env=gw_env)
        self.measure(label, lambda: gw.request("GET", "/api/agents/me"))

    def test_latency(self):
        kh = khtest.Keyhole(self, self.up.url)
        self.measure("(reference) keyhole HTTP transport, no queue",
                     lambda: kh.request("GET", "/api/agents/me"))
        kgw = [khtest.binary("keyhole-gateway")]
        node = ["node", paperclip_gateway_source()]
        self.run_one("keyhole-gateway + host, inotify both sides", [], kgw, {})
        self.run_one("keyhole-gateway + host, polling 100 ms both", [
            "--queue-watch", "poll", "--queue-poll-ms", "100"], kgw,
            {"KEYHOLE_GATEWAY_INOTIFY": "0", "PAPERCLIP_BRIDGE_POLL_INTERVAL_MS": "100"})
        self.run_one("keyhole-gateway + host, polling 10 ms both", [
            "--queue-watch", "poll", "--queue-poll-ms", "10"], kgw,
            {"KEYHOLE_GATEWAY_INOTIFY": "0", "PAPERCLIP_BRIDGE_POLL_INTERVAL_MS": "10"})
        self.run_one("Paperclip gateway (poll 100 ms) + host inotify", [], node, {})
        self.run_one("Paperclip gateway (poll 10 ms) + host inotify", [], node,
                     {"PAPERCLIP_BRIDGE_POLL_INTERVAL_MS": "10"})


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=0)
