#!/usr/bin/env python3
"""The parent gives memory back after a burst of large upstream responses
(SECURITY.md I7 and "Memory").

The parent buffers each upstream response (at most --max-response bytes)
before it hands it to the child.  glibc's dynamic mmap threshold made
those buffers heap after the first burst, and the heap kept its
high-water mark: the old parent stayed at 100+ MiB after bursts of
8 MiB responses.  Now each large buffer is its own mapping, the body goes
to the child by reference (not copied twice into frames), and malloc_trim
runs once the upstream is idle.

The test: parent RSS idle -> two bursts of CONCURRENT concurrent 8 MiB
responses -> 3 s later; the last must be back within SLACK_MIB of idle, and the
peak within the per-request bound.

    python3 tests/integration/test_parent_memory.py --measure [N]

prints the same figures for N concurrent responses (default 64).
"""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

SIZE = 8 * 1024 * 1024
CONCURRENT = 16
SLACK_MIB = 12
POLICY = "allow GET /big/*\n"


def rss_kib(pid, field="VmRSS"):
    return int(khtest.proc_status(pid)[field].split()[0])


def fetch_discard(port, token, path, timeout=60):
    """GET path; read and discard the body.  Returns (status, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                  b"Connection: close\r\n\r\n" % (path.encode(), token.encode()))
        buf = b""
        while b"\r\n\r\n" not in buf:
            c = s.recv(65536)
            if not c:
                return 0, 0
            buf += c
        head, _, rest = buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        n = len(rest)
        while True:
            c = s.recv(1 << 20)
            if not c:
                break
            n += len(c)
        return status, n
    finally:
        s.close()


def burst(kh, n):
    out = [None] * n

    def one(i):
        out[i] = fetch_discard(kh.port, kh.token, "/big/%d" % i)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    return out


def measure(tc, n):
    up = khtest.Upstream(tc)
    body = b"x" * SIZE
    for i in range(n):
        up.set_route("/big/%d" % i, body=body)
    kh = khtest.Keyhole(tc, up.url, policy=POLICY,
                        args=["--max-response", str(SIZE + 1024),
                              "--max-inflight", str(max(n, 64))])
    assert kh.request("GET", "/big/0", timeout=30).status == 200   # warm
    time.sleep(1.5)
    idle = rss_kib(kh.pid)
    # Two bursts: glibc's threshold moves after the first one's frees.
    out = burst(kh, n)
    time.sleep(1.5)
    first = rss_kib(kh.pid)
    out += burst(kh, n)
    after = rss_kib(kh.pid)
    peak = rss_kib(kh.pid, "VmHWM")
    time.sleep(3.0)
    later = rss_kib(kh.pid)
    return {"idle": idle, "first": first, "after": after, "later": later, "peak": peak,
            "out": out, "log": [ln for ln in kh.stderr_lines() if "status=200" not in ln]}


class ParentMemoryTest(KeyholeTestCase):

    def test_memory_back_after_burst_of_large_responses(self):
        if khtest.sanitizer_build():
            self.skipTest("ASan's allocator ignores mallopt() and malloc_trim() and keeps "
                          "freed memory in quarantine: glibc's behaviour is measured in "
                          "the normal build")
        m = measure(self, CONCURRENT)
        self.assertEqual(m["out"], [(200, SIZE)] * CONCURRENT * 2)
        msg = ("parent RSS idle %d KiB, after a burst of %d x 8 MiB %d KiB, right after a "
               "second %d KiB, 3 s later %d KiB, peak %d KiB"
               % (m["idle"], CONCURRENT, m["first"], m["after"], m["later"], m["peak"]))
        self.assertLess(m["later"] - m["idle"], SLACK_MIB * 1024, msg)
        # The peak: one response buffer per request in flight, plus room
        # for the one being queued to the child (not three copies each).
        self.assertLess(m["peak"] - m["idle"], (CONCURRENT + 4) * SIZE // 1024, msg)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        import unittest
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 64

        class M(unittest.TestCase):
            def runTest(self):
                m = measure(self, n)
                ok = sum(1 for o in m["out"] if o == (200, SIZE))
                bad = [o for o in m["out"] if o != (200, SIZE)]
                if bad:
                    print("not ok:", bad, "\n".join(m["log"][-20:]))
                print("2 bursts of %d x 8 MiB (%d ok): parent VmRSS idle %.1f MiB, 1.5 s after "
                      "the first %.1f MiB, right after the second %.1f MiB, 3 s later %.1f MiB, "
                      "peak (VmHWM) %.1f MiB"
                      % (n, ok, m["idle"] / 1024, m["first"] / 1024, m["after"] / 1024,
                         m["later"] / 1024, m["peak"] / 1024))
        r = unittest.TextTestRunner(verbosity=0).run(M())
        sys.exit(0 if r.wasSuccessful() else 1)
    khtest.main()
