"""Soak: 5 minutes of mixed traffic (--long only; KEYHOLE_SOAK_S=N for
another length).

loadclient.mixed (GETs and POSTs on new and kept-alive connections, some
to a route the upstream answers after 0.2 s) plus a client whose
requests are all refused: a route or a method no rule allows (403), a
wrong bridge token and none at all (401).  The RSS and fds of both processes are sampled every second.

Pass: every allowed request answered 200, every refused one with its
exact status, none of those reaching the upstream, nothing lost or
duplicated; each process's RSS in the last minute at most GROWTH_KIB
above its peak in the first minute after warm-up; fds back after the
load (the parent's less its upstream pool)."""

import os
import threading
import time

import loadclient
import loadlib

NAME = "soak"
FAST = False
ABOUT = "5 minutes of mixed GET/POST traffic, refused requests among it; RSS/fds sampled"

GROWTH_KIB = 1024
WARM_S = 60


DENIED = [
    # (method, path template, body, token: None = the right one, "" = none; status)
    ("GET", "/api/secret/%s", None, None, 403),              # no rule
    ("DELETE", "/api/issues/%s", None, None, 403),           # no rule for the method
    ("POST", "/api/issues/%s/comments", b'{"body":"x"}', "wrong-token-" + "x" * 16, 401),
    ("GET", "/api/issues/%s/comments", None, "", 401),       # no token at all
]


def denied_plan(n):
    m, tmpl, body, token, _ = DENIED[(n - 1) % len(DENIED)]
    return m, tmpl % ("soak-d-%d" % n), body, token


def denied_status(o):
    return DENIED[(o.n - 1) % len(DENIED)][4]


class Sampler:
    """(t, child rss, child fds, parent rss, parent fds) every second."""

    def __init__(self, child, parent):
        self.child, self.parent = child, parent
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        t0 = time.monotonic()
        while not self._stop.wait(1.0):
            c = loadlib.snapshot(self.child)
            p = loadlib.snapshot(self.parent)
            self.samples.append((time.monotonic() - t0,) + c + p)

    def stop(self):
        self._stop.set()
        self._t.join(3)

    def peak(self, col, t_from, t_to):
        v = [s[col] for s in self.samples if t_from <= s[0] < t_to and s[col] is not None]
        return max(v) if v else None


def run(opts):
    seconds = int(os.environ.get("KEYHOLE_SOAK_S", "300"))
    r = loadlib.Result(NAME + ("_%ds" % seconds if seconds != 300 else ""))
    b = loadlib.Bench(nofile=1024)
    b.up.slow_seconds = 0.2
    try:
        loadlib.warm_up(b)
        time.sleep(0.5)
        log0 = loadlib.before(r, b, own=("soak-",))
        child0 = b.child
        traffic = loadclient.mixed(b.port, b.kh.token, "soak")
        for w in traffic.workers:
            w.interval = max(w.interval, 0.02)
        denied = loadclient.Worker(b.port, b.kh.token, denied_plan, "denied", interval=0.05)
        traffic.workers.append(denied)
        samp = Sampler(b.child, b.kh.pid)
        traffic.start(seconds)
        traffic.join(seconds + 30)
        traffic.stop()
        samp.stop()
        warm_s = min(WARM_S, seconds / 5)
        first = (samp.peak(1, warm_s, warm_s + 60), samp.peak(3, warm_s, warm_s + 60))
        last = (samp.peak(1, seconds - 60, seconds + 60), samp.peak(3, seconds - 60, seconds + 60))
        r.rss[1] = samp.peak(1, 0, seconds + 60)
        r.fds[1] = samp.peak(2, 0, seconds + 60)
        r.prss[1] = samp.peak(3, 0, seconds + 60)
        r.pfds[1] = samp.peak(4, 0, seconds + 60)
        time.sleep(3.0)
        r.rss[2], r.fds[2] = loadlib.snapshot(b.child)
        r.parent_snapshot(2, b)
        r.logs = b.log_lines(own=("soak-",)) - log0
        outs = traffic.outcomes()
        counts = r.from_outcomes(outs, b.up)
        d_outs = denied.outcomes
        allowed = [o for o in outs if o.worker != "denied"]
        bad_allowed = [o for o in allowed if o.status != 200]
        bad_denied = [o for o in d_outs if o.status != denied_status(o)]
        leaked = [o for o in d_outs if counts.get(o.path)]
        r.notes.append("RSS KiB child %s -> %s, parent %s -> %s (peak in the first minute "
                       "after %.0f s, in the last minute); %d samples"
                       % (first[0], last[0], first[1], last[1], warm_s, len(samp.samples)))
        r.check("every allowed request answered 200 (%d not: %r)"
                % (len(bad_allowed), bad_allowed[:5]), allowed and not bad_allowed)
        r.check("every refused request answered its status (%d of %d not: %r)"
                % (len(bad_denied), len(d_outs), bad_denied[:5]), d_outs and not bad_denied)
        r.check("no refused request reached the upstream (%d)" % len(leaked), not leaked)
        r.check("nothing lost (%d) or duplicated (%d)" % (r.lost, r.dup),
                r.lost == 0 and r.dup == 0)
        r.check("the child was never replaced", b.kh.children("keyhole-net") == [child0])
        if loadlib.sanitized():
            r.notes.append("ASan build: RSS bounds not checked")
        else:
            for who, (a, z) in (("child", (first[0], last[0])), ("parent", (first[1], last[1]))):
                r.check("%s's RSS: no growth beyond %d KiB after the first minute (%s -> %s)"
                        % (who, GROWTH_KIB, a, z), a is not None and z is not None and
                        z - a <= GROWTH_KIB)
        loadlib.check_child_fds(r)
        loadlib.check_parent_fds(r, b, b.up.port)
    finally:
        b.close()
    return r
