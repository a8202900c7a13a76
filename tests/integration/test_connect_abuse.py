#!/usr/bin/env python3
"""http2_v1 host side under attack from its own channel.  Every byte out
of the --connect command is the sandbox's; a hostile gateway
(h2_hostile_gateway.py, raw frames) tries: garbage instead of READY, a
wrong nonce, no preface, an oversized frame, rapid reset
(CVE-2023-44487), SETTINGS and PING floods whose ACKs it never reads, a
CONTINUATION flood (CVE-2024-28182), an HPACK bomb (one table entry
referenced thousands of times), a zero flow-control window that never
opens, and streams with a wrong token or a dot-segment path.

Each must end with a clear log line, keyhole-net's memory bounded, and
the session dropped (the child restarted with a new command) or the
stream refused — never the parent."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase, proc_status  # noqa: E402
from khconnect import hostile_gateway, keyhole_connect  # noqa: E402

# keyhole-net's peak resident memory during an attack, kB.  An idle child
# is a few MB; the bounds (nghttp2's memory, bodies, answers) keep a
# session far below this.
MAX_CHILD_KB = 64 * 1024


class ConnectAbuseTest(KeyholeTestCase):

    def run_mode(self, mode, expect, args=(), restart=True):
        up = self.upstream()
        kh = keyhole_connect(self, up, hostile_gateway(mode), args=args)
        peak = 0
        deadline = time.monotonic() + 20
        seen = set()
        while True:
            for pid in kh.children("keyhole-net"):
                seen.add(pid)
                try:
                    st = proc_status(pid)
                except OSError:
                    continue    # ended since it was listed (the session ended)
                hwm = st.get("VmHWM", "0 kB").split()[0]
                peak = max(peak, int(hwm) if hwm.isdigit() else 0)
            if any(expect in ln for ln in kh.stderr_lines()):
                break
            if time.monotonic() > deadline:
                self.fail("no log line %r:\n%s" % (expect, kh.output_text()[-4000:]))
            time.sleep(0.02)
        self.assertTrue(kh.alive(), kh.output_text()[-3000:])
        self.assertLess(peak, MAX_CHILD_KB, "keyhole-net peaked at %d kB" % peak)
        if restart:
            # Dropped: the parent stops the command and starts both again.
            kh.wait_log("restarting child in", timeout=10)
            kh.wait_log("connect: started command pid=", count=2, timeout=10)
        self.assertTrue(kh.alive())
        for ln in kh.stderr_lines():
            self.assertNotIn("protocol violation", ln)   # the child stayed honest
        return up, kh

    def test_garbage_instead_of_ready(self):
        self.run_mode("garbage", "and no READY line")

    def test_wrong_nonce(self):
        self.run_mode("wrong_nonce", "READY line with another nonce")

    def test_ready_without_preface(self):
        self.run_mode("no_preface", "HTTP/2 protocol error from the gateway")

    def test_oversized_frame(self):
        self.run_mode("oversized_frame", "connect: session ended")

    def test_rapid_reset(self):
        up, kh = self.run_mode("rapid_reset", "connect: session ended")
        # Streams the gateway reset at once are not all forwarded.
        self.assertLess(up.count(), 1000, up.count())

    def test_settings_flood(self):
        self.run_mode("settings_flood", "connect: session ended")

    def test_ping_flood(self):
        self.run_mode("ping_flood", "connect: session ended")

    def test_continuation_flood(self):
        self.run_mode("continuation_flood", "connect: session ended")

    def test_hpack_bomb_is_refused_per_stream(self):
        up, kh = self.run_mode("hpack_bomb", "peer=connect:3", restart=False)
        kh.wait_log(lambda ln: "peer=connect:1 " in ln and "status=431" in ln)
        kh.wait_log(lambda ln: "peer=connect:3 " in ln and "status=200" in ln)
        self.assertEqual(up.count(), 1)
        self.assertFalse(any("session ended" in ln for ln in kh.stderr_lines()))

    def test_zero_window_never_opened(self):
        up, kh = self.run_mode("zero_window", "flow-control window never opened",
                               args=["--write-timeout-ms", "1000"], restart=False)
        self.assertEqual(up.count(), 1)

    def test_token_and_path_checked_per_stream(self):
        up, kh = self.run_mode("bad_token", "peer=connect:3", restart=False)
        kh.wait_log(lambda ln: "peer=connect:1 " in ln and "status=401" in ln)
        kh.wait_log(lambda ln: "peer=connect:3 " in ln and "status=400" in ln)
        up.assert_nothing(self)


if __name__ == "__main__":
    import unittest
    unittest.main()
