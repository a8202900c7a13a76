#!/usr/bin/env python3
"""Reload under load (issue 16 item 3; SECURITY.md I18): steady GET and
POST traffic on new and kept-alive connections while keyhole is reloaded
20 times in a row, alternating two policies that both allow the traffic,
one with an extra route a client keeps asking for; then a policy that does
not compile, under the same traffic.  Zero failed or reset requests, zero
duplicated mutations at the upstream, every request decided by exactly one
generation whose policy it obeys, the extra route allowed exactly while a
generation that has it was live, the bad policy refused with the old one
still in force (tests/load/reloadlib.py has the checks)."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "load"))
import khtest  # noqa: E402
import loadlib  # noqa: E402,F401  (the upstream's listen backlog)
import reloadlib  # noqa: E402


class ReloadUnderLoadTest(khtest.KeyholeTestCase):
    def test_twenty_reloads_and_a_bad_policy_under_load(self):
        up = self.upstream()
        up.slow_seconds = 0.4
        kh = self.keyhole(up.url, policy=reloadlib.POLICY_BASE,
                          args=["--drain-ms", "10000"])
        parent0 = loadlib.snapshot(kh.pid)
        outcomes, reloads, bad, _ = reloadlib.run(kh, reloads=20, gap=0.5)
        checks = reloadlib.judge(kh, up, outcomes, reloads, bad)
        # After the bad one: generation 20 (POLICY_BASE) serves, unchanged.
        r = khtest.request(kh.port, "GET", "/api/extra/after", token=kh.token)
        checks.append(("after the refused reload the extra route is still denied (%d)"
                       % r.status, r.status == 403))
        kids = reloadlib.children_after(kh)
        checks.append(("one child left (%r)" % kids, len(kids) == 1))
        took = sorted(x.took() for x in reloads)
        summary = ("%d requests; reload took median %.0f ms, max %.0f ms; parent RSS/fds "
                   "%s -> %s" % (len(outcomes), 1000 * took[len(took) // 2],
                                 1000 * took[-1], parent0, loadlib.snapshot(kh.pid)))
        print(summary)
        for what, ok in checks:
            print("%s %s" % ("ok  " if ok else "FAIL", what))
        failed = [what for what, ok in checks if not ok]
        self.assertFalse(failed, "\n".join(failed) + "\n" + summary)


if __name__ == "__main__":
    unittest.main()
