"""Reloads under steady load (issue 16 item 3): the mix of sigterm_load
(GETs and POSTs, new and kept-alive connections, fast and 0.4 s routes)
plus a route only one of two policies allows, asked for all along, while
`keyhole reload` alternates the two policies 20 times (--quick: 10),
then a policy that does not compile.  tests/load/reloadlib.py's judge():
every request answered, none reset, no keep-alive race, no mutation
twice, each request decided by exactly one generation whose policy it
obeys, while that generation was live; the bad policy refused, the old
one in force.  Measured: how long a reload takes (keyhole reload's
round trip: SIGHUP, the files read, a new child compiles, its table
accepted, the old child closes its listeners)."""

import time

import loadlib
import reloadlib
import khtest

NAME = "reload_load"
FAST = True
ABOUT = "keyhole reload 20 times (two policies) + a bad policy under GET/POST load"


def run(opts):
    r = loadlib.Result(NAME)
    b = loadlib.Bench(nofile=1024, policy=reloadlib.POLICY_BASE)
    b.up.slow_seconds = 0.4
    n = 10 if getattr(opts, "quick", False) else 20
    try:
        loadlib.warm_up(b)
        log0 = loadlib.before(r, b, own=("rl-",))
        outs, reloads, bad, _ = reloadlib.run(b.kh, reloads=n, gap=0.5)
        kids = reloadlib.children_after(b.kh)
        if kids:
            time.sleep(0.5)
            r.rss[2], r.fds[2] = loadlib.snapshot(kids[0])
        r.parent_snapshot(2, b)
        r.logs = b.log_lines(own=("rl-",)) - log0
        r.from_outcomes(outs, b.up)
        for what, ok in reloadlib.judge(b.kh, b.up, outs, reloads, bad):
            r.check(what, ok)
        after = khtest.request(b.port, "GET", "/api/extra/after", token=b.kh.token).status
        r.check("after the refused reload the extra route is still denied (%d)" % after,
                after == 403)
        r.check("one child left (%r)" % kids, len(kids) == 1)
        took = sorted(x.took() * 1000 for x in reloads)
        r.notes.append("%d reloads: keyhole reload took median %.0f ms, max %.0f ms; "
                       "the refused one %.0f ms" % (len(took), took[len(took) // 2], took[-1],
                                                    bad.took() * 1000))
    finally:
        b.close()
    return r
