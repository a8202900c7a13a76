#!/usr/bin/env python3
"""What sending every mutation on a fresh upstream connection costs.

keyhole sends POST/PUT/PATCH/DELETE on a new upstream connection
(CURLOPT_FRESH_CONNECT; src/priv/upstream.c says why) while GETs reuse
kept-alive ones.  This measures, for N sequential POSTs through keyhole
(one kept-alive client connection), the client's latency (median, p90)
and the parent's CPU time per request (utime + stime of the parent from
/proc/PID/stat, microseconds), against an http and an https upstream on
loopback (Python's http.server; its own time is in the latency, not in
the parent's CPU).  Compare two builds:

    KEYHOLE_BUILD=/path/to/old/build python3 bench/mutation_cost.py
    KEYHOLE_BUILD=build python3 bench/mutation_cost.py [N]
"""

import os
import statistics
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import khtest  # noqa: E402
import test_credential_parent as tcp  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 400
POLICY = "allow GET /api/agents/me\nallow POST /api/issues/*/comments\n"


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])    # utime + stime


def run(kh, method):
    hz = os.sysconf("SC_CLK_TCK")
    lat = []
    body = b'{"body":"x"}' if method == "POST" else None
    path = "/api/issues/i1/comments" if method == "POST" else "/api/agents/me"
    with khtest.Conn(kh.port, timeout=10) as c:
        req = khtest.build_request(method, path, token=kh.token, body=body)
        for _ in range(20):     # warm: connections, TLS session cache
            c.send(req)
            assert c.read_response(method=method).status == 200
        t0 = cpu_ticks(kh.pid)
        for _ in range(N):
            s = time.perf_counter()
            c.send(req)
            r = c.read_response(method=method)
            lat.append(time.perf_counter() - s)
            assert r.status == 200, r
        cpu = (cpu_ticks(kh.pid) - t0) / hz
    lat.sort()
    return (statistics.median(lat) * 1e3, lat[int(len(lat) * 0.9)] * 1e3,
            cpu / N * 1e6)


class Bench(unittest.TestCase):
    def runTest(self):
        up = khtest.Upstream(self)
        url, ca, _ = tcp.tls_upstream(self)
        for name, kh in (("http", khtest.Keyhole(self, up.url, policy=POLICY)),
                         ("https", khtest.Keyhole(self, url, policy=POLICY,
                                                  args=["--ca-file", ca]))):
            for method in ("GET", "POST"):
                med, p90, cpu = run(kh, method)
                print("%-5s %-4s N=%d  latency median %.3f ms  p90 %.3f ms  parent CPU "
                      "%.0f us/request" % (name, method, N, med, p90, cpu))


if __name__ == "__main__":
    print("build:", khtest.BUILD)
    r = unittest.TextTestRunner(verbosity=0).run(Bench())
    sys.exit(0 if r.wasSuccessful() else 1)
