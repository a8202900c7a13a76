#!/usr/bin/env python3
"""Round-trip latency of one GET through each of keyhole's transports and
through Paperclip's own http2_v1 pair (issue 15, item 7):

  python3 scripts/h2_latency.py [N]          (N = 50 by default; root for ssh)

  HTTP           keyhole serve --listen, the agent straight to keyhole
  queue inotify  keyhole-gateway + keyhole serve --queue-dir (inotify)
  stdio pipe     keyhole serve --connect 'node <Paperclip's gateway>'
  stdio ssh      keyhole serve --connect 'ssh -T 127.0.0.1 sh' --gateway-cmd
                 (OpenSSH on loopback, tests/integration/khssh.py; root)
  Paperclip h2   Paperclip's host (startAdapterExecutionTargetPaperclipBridge,
                 bench/paperclip/host-paperclip.mjs) + Paperclip's gateway

Everything on 127.0.0.1, a local stand-in upstream that answers in one
send().  Prints min / median / p90 in milliseconds.  The gateway of the
stdio rows is Paperclip's (node); KEYHOLE_H2_GATEWAY_CMD replaces it."""

import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)
import khtest  # noqa: E402
from khconnect import keyhole_connect, paperclip_h2_gateway, wait_gateway  # noqa: E402
from khqueue import Gateway, QueueDir, keyhole_queue  # noqa: E402
from queue_latency import FastUpstream  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50


class Bench(unittest.TestCase):
    def setUp(self):
        self.up = FastUpstream()
        self.addCleanup(self.up.server_close)
        self.addCleanup(self.up.shutdown)
        self.gw = os.environ.get("KEYHOLE_H2_GATEWAY_CMD") or paperclip_h2_gateway()

    def measure(self, label, send):
        for _ in range(5):
            send()
        ms = []
        for _ in range(N):
            t0 = time.perf_counter()
            r = send()
            ms.append((time.perf_counter() - t0) * 1000)
            assert r.status == 200, r
        ms.sort()
        print("%-40s min %6.2f  median %6.2f  p90 %6.2f ms" % (
            label, ms[0], ms[len(ms) // 2], ms[int(len(ms) * 0.9) - 1]), flush=True)

    def get(self, port, token):
        return lambda: khtest.request(port, "GET", "/api/agents/me", token=token)

    def test_latency(self):
        kh = khtest.Keyhole(self, self.up.url)
        self.measure("HTTP (keyhole --listen)", self.get(kh.port, kh.token))
        q = QueueDir(self)
        kq = keyhole_queue(self, self.up.url, q)
        g = Gateway(self, [khtest.binary("keyhole-gateway")], q, kq.token)
        self.measure("queue_v1 inotify (keyhole-gateway)",
                     lambda: g.request("GET", "/api/agents/me"))
        kc = keyhole_connect(self, self.up, self.gw)
        wait_gateway(kc)
        self.measure("http2_v1 stdio over a pipe", self.get(kc.gw_port, kc.token))
        if os.geteuid() == 0:
            from khssh import Sshd
            sshd = Sshd(self, khtest.make_tempdir(self))
            ks = keyhole_connect(self, self.up, sshd.ssh_cmd("sh"),
                                 args=["--gateway-cmd", self.gw])
            wait_gateway(ks)
            self.measure("http2_v1 stdio over ssh (loopback)", self.get(ks.gw_port, ks.token))
        self.paperclip_pair()

    def paperclip_pair(self):
        from test_queue_paperclip_interop import paperclip_gateway_source
        prefix = os.path.dirname(paperclip_gateway_source())
        env = dict(os.environ, PAPERCLIP_ADAPTER_UTILS_DIST=os.path.join(
            prefix, "node_modules", "@paperclipai", "adapter-utils", "dist"))
        p = subprocess.Popen(["node", os.path.join(HERE, "..", "bench", "paperclip",
                                                   "host-paperclip.mjs"),
                              "--upstream", self.up.url, "--credential", "BENCH-CRED"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.addCleanup(p.wait, 10)
        self.addCleanup(p.terminate)
        line = p.stdout.readline()
        ready = json.loads(line)
        port = int(ready["PAPERCLIP_API_URL"].rsplit(":", 1)[1])
        self.measure("Paperclip's http2_v1 host + gateway", self.get(port, ready["PAPERCLIP_API_KEY"]))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=0)
