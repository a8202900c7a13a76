"""100 reloads in a row (--quick: 40), alternating two policies, one GET
between each: what a reload costs the parent and whether anything stays
behind.  Each reload starts a child, accepts its table, retires the old
child (which exits at once: no connection is open) and frees the old
generation (its policy text, table, buckets and token page).  Measured:
keyhole reload's round trip (median, max) and the parent's RSS and open
fds before and after (after the old children have exited).  Pass: every
reload succeeds, every GET answered by the new policy, one child left,
the parent's fds back where they were, its RSS within 1 MiB (not judged
in an ASan build: its quarantine keeps freed memory)."""

import time

import loadlib
import reloadlib
import khtest

NAME = "reload_many"
FAST = True
ABOUT = "keyhole reload 100 times in a row: reload time, parent RSS and fds before/after"

RSS_BOUND_KIB = 1024


def run(opts):
    r = loadlib.Result(NAME)
    b = loadlib.Bench(nofile=1024, policy=reloadlib.POLICY_BASE)
    n = 40 if getattr(opts, "quick", False) else 100
    try:
        loadlib.warm_up(b)
        # Two reloads first: the parent's one-time allocations (the
        # second generation, libcurl's first transfers) are not a leak.
        for pol in (reloadlib.POLICY_EXTRA, reloadlib.POLICY_BASE):
            reloadlib.reload_once(b.kh, pol)
        reloadlib.children_after(b.kh)
        time.sleep(1.2)        # upstream_mem.c trims once idle for 1 s
        r.rss[0], r.fds[0] = loadlib.snapshot(reloadlib.children_after(b.kh)[0])
        r.parent_snapshot(0, b)
        took, bad, wrong = [], [], []
        for i in range(n):
            extra = i % 2 == 0
            rl = reloadlib.reload_once(b.kh, reloadlib.POLICY_EXTRA if extra
                                       else reloadlib.POLICY_BASE)
            took.append(rl.took() * 1000)
            if rl.rc != 0:
                bad.append(rl.err.strip())
            st = khtest.request(b.port, "GET", "/api/extra/%d" % i, token=b.kh.token).status
            if st != (200 if extra else 403):
                wrong.append((i, st))
        r.sent = n
        r.ok = n - len(bad)
        kids = reloadlib.children_after(b.kh)
        time.sleep(1.2)
        if kids:
            r.rss[2], r.fds[2] = loadlib.snapshot(kids[0])
        r.parent_snapshot(2, b)
        took.sort()
        r.notes.append("%d reloads: median %.0f ms, max %.0f ms; parent RSS %s -> %s KiB, "
                       "fds %s -> %s" % (n, took[len(took) // 2], took[-1], r.prss[0],
                                          r.prss[2], r.pfds[0], r.pfds[2]))
        r.check("every reload succeeded (%d failed: %r)" % (len(bad), bad[:3]), not bad)
        r.check("each GET answered by the policy just loaded (%r)" % wrong[:5], not wrong)
        r.check("one child left (%r)" % kids, len(kids) == 1)
        r.check("the parent's fds back (%s -> %s)" % (r.pfds[0], r.pfds[2]),
                r.pfds[2] is not None and r.pfds[2] <= r.pfds[0])
        if loadlib.sanitized():
            r.notes.append("ASan build: RSS bound not checked")
        else:
            r.check("the parent's RSS within %d KiB (%+d KiB)"
                    % (RSS_BOUND_KIB, r.prss[2] - r.prss[0]),
                    r.prss[2] - r.prss[0] <= RSS_BOUND_KIB)
    finally:
        b.close()
    return r
