"""The child's memory per idle connection, and that it comes back.

keyhole holds n idle connections (--max-conns n + 64, no per-peer cap, a
long head deadline so none is closed while measured): the child's RSS before, with all n open,
and after they are closed.  Fast: 2,000; --long: 10,000.  Pass: at most
PER_CONN_KIB per idle connection, and after the close the child keeps at
most RETAIN_KIB (or 10 % of the growth, the larger) above where it began."""

import time

import loadlib

NAME = "idle_memory"
FAST = True
ABOUT = "RSS of 2,000 (10,000 with --long) idle connections, before/during/after"

PER_CONN_KIB = 2.0      # SECURITY.md states this bound
RETAIN_KIB = 2048


def run(opts):
    n = 10000 if opts.long else 2000
    r = loadlib.Result(NAME + ("_10k" if opts.long else ""))
    args = ["--max-conns", str(n + 64), "--head-timeout-ms", "120000"]
    if loadlib.supports("--max-conns-per-peer"):
        args += ["--max-conns-per-peer", "0"]
    b = loadlib.Bench(args=args,
                      nofile=n + 4096)
    try:
        warm = loadlib.GoodClient(b.port, b.kh.token, tag="warm")
        for i in range(5):
            warm.one(i)
        time.sleep(0.5)
        r.rss[0], r.fds[0] = loadlib.snapshot(b.child)
        log0 = b.log_lines()
        flood = loadlib.Flood(b.port, n, mode="idle", reopen=False).start(120)
        flood.wait_open(n, 30)

        def held():
            f = loadlib.nfds(b.child)
            return f is None or f >= r.fds[0] + n
        deadline = time.monotonic() + 30
        while not held() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        gc = loadlib.GoodClient(b.port, b.kh.token)
        for i in range(20):
            gc.one(i)
        r.rss[1], r.fds[1] = loadlib.snapshot(b.child)
        flood.stop()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            f = loadlib.nfds(b.child)
            if f is not None and f <= r.fds[0] + 2:
                break
            time.sleep(0.1)
        time.sleep(3.0)
        r.rss[2], r.fds[2] = loadlib.snapshot(b.child)
        r.logs = b.log_lines() - log0
        r.from_client(gc, b.up)
        per = (r.rss[1] - r.rss[0]) / n
        kept = r.rss[2] - r.rss[0]
        r.notes.append("%.2f KiB per idle connection; %d KiB kept after the close" % (per, kept))
        r.check("all %d connections held (fds %s -> %s)" % (n, r.fds[0], r.fds[1]),
                r.fds[1] is None or r.fds[1] >= r.fds[0] + n)
        if loadlib.sanitized():
            r.notes.append("ASan build: RSS bounds not checked (its quarantine keeps "
                           "freed memory)")
        else:
            r.check("at most %.1f KiB per idle connection (%.2f)" % (PER_CONN_KIB, per),
                    per <= PER_CONN_KIB)
            r.check("memory comes back: %d KiB kept (bound: %d KiB or 10 %% of the growth)"
                    % (kept, RETAIN_KIB), kept <= max(RETAIN_KIB, (r.rss[1] - r.rss[0]) // 10))
        r.check("every connection closed again (fds %s -> %s)" % (r.fds[0], r.fds[2]),
                r.fds[2] is None or r.fds[2] <= r.fds[0] + 1)
        r.check("client answered while they are held (%d of %d)" % (r.ok, r.sent),
                r.ok == r.sent)
    finally:
        b.close()
    return r
