"""20,000 queue request files at once, HTTP clients beside them.

One keyhole serves a queue directory and HTTP.  20,000 request files
(three GETs to one POST, each a unique path) are written beforehand in a
staging directory on the same file system and renamed into requests/ in
one burst, as a gateway under a flood would leave them.  A collector
takes each response file as it appears (as the gateway does).  Meanwhile
two HTTP clients use the same keyhole (loadqueue.burst).  --quick
(ctest): 2,000 files.

Pass: every file answered exactly once, 200, and received by the
upstream exactly once; processing/ and requests/ empty; all of it at
RATE_MIN files/s or better; the child's and the parent's RSS grow by at
most RSS_KIB while it runs.  The HTTP clients' figures (answered 200,
p99) are in the notes; what they must be is queue_http_share's check."""

import loadlib
import loadqueue

NAME = "queue_flood"
FAST = True
ABOUT = "20,000 queue request files at once (2,000 with --quick), HTTP clients beside"

RSS_KIB = 16384           # growth of each process while the files are served
RATE_MIN = 100            # files answered per second, at least (bounds the time)


def run(opts):
    n = 2000 if getattr(opts, "quick", False) else 20000
    r = loadlib.Result(NAME + ("_%dk" % (n // 1000)))
    b = loadlib.Bench(nofile=1024, queue=True)
    try:
        loadlib.warm_up(b)
        res = loadqueue.burst(r, b, n, RATE_MIN)
        q = res["q"]
        r.check("every file answered (%d of %d)" % (res["have"], n), q["unanswered"] == 0)
        r.check("none answered twice (%d)" % q["twice"], q["twice"] == 0)
        r.check("each answered 200 and received by the upstream exactly once (%d not: %r)"
                % (q["wrong"], q["examples"]), q["wrong"] == 0)
        r.check("none received twice (%d)" % q["sent_twice"], q["sent_twice"] == 0)
        left = loadqueue.listing(b.queue.path, "processing") + \
            [x for x in loadqueue.listing(b.queue.path, "requests") if x.endswith(".json")]
        r.check("processing/ and requests/ empty (%d left)" % len(left), not left)
        r.check("within %.0f s (%.1f s)" % (res["limit"], res["took"]),
                res["took"] <= res["limit"])
        if loadlib.sanitized():
            r.notes.append("ASan build: RSS bounds not checked")
        else:
            r.check("child's RSS grew at most %d KiB (%+d)" % (RSS_KIB, r.rss[1] - r.rss[0]),
                    r.rss[1] - r.rss[0] <= RSS_KIB)
            r.check("parent's RSS grew at most %d KiB (%+d)" % (RSS_KIB, r.prss[1] - r.prss[0]),
                    r.prss[1] - r.prss[0] <= RSS_KIB)
        r.check("HTTP answered meanwhile, every one (%s)" % res["http"]["tally"],
                all(o.answered() for o in res["outs"]))
        loadlib.check_child_fds(r)
    finally:
        b.close()
    return r
