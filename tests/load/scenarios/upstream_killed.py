"""The upstream process killed (SIGKILL) under load, twice, and started
again on the same port after 1.5 s each time.

The upstream (tests/load/procup.py) runs in its own process and records
every request it has read before it answers, so what a killed
incarnation received is known.  Clients send GETs and POSTs through
keyhole, fresh and kept-alive connections, half of them to a route the
upstream answers after 0.3 s (so some are in flight at each kill).

Pass (README, "Errors the sandbox sees"):
  - every request answered, exactly once;
  - 200 only for what the upstream received exactly once;
  - 502 "could not reach the upstream" for what never left keyhole: a
    POST so answered never reached the upstream (a GET may have, when
    libcurl retried it after its first upstream died: harmless);
  - a request in flight at a kill: 502 "closed"/"reset" for a GET, 409
    indeterminate for a POST;
  - no POST received twice; every answer but 200 overlaps a time the
    upstream was down; everything started after it came back is 200;
  - the child never replaced; the parent's RSS back near idle and its fds
    back (less its upstream pool)."""

import json
import time

import loadclient
import loadlib
import procup

NAME = "upstream_killed"
FAST = True
ABOUT = "the upstream process SIGKILLed twice under GET+POST load, then back"

KILLS = 2
DOWN = 1.5
UP = 2.0
RSS_BACK_KIB = 4096

UNREACHABLE = (502, {"error": "Bridge could not reach the upstream."})
# What a request in flight at a kill may get.  "request failed": a GET
# sent on a pooled connection the dying upstream had read it from, which
# libcurl then re-sent on a new connection, refused (CURLE_COULDNT_CONNECT
# after the send: upstream_recv.c's default case).
GET_GONE = [(502, {"error": "Bridge upstream closed the connection before answering."}),
            (502, {"error": "Bridge upstream reset the connection before answering."}),
            (502, {"error": "Bridge upstream response was cut short."}),
            (502, {"error": "Bridge upstream request failed."})]


def indeterminate(msg):
    return {"error": msg, "outcome": "indeterminate", "retryable": False}


POST_GONE = [(409, indeterminate("Bridge upstream closed the connection after the request "
                                 "was sent; it may have taken effect.")),
             (409, indeterminate("Bridge upstream reset the connection after the request "
                                 "was sent; it may have taken effect.")),
             (409, indeterminate("Bridge upstream response was cut short; the request may "
                                 "have taken effect.")),
             (409, indeterminate("Bridge upstream request failed after it was sent; it may "
                                 "have taken effect."))]


def classify(o, sent):
    """What o's answer says, or None when it is not a documented one for
    what the upstream received (sent: times)."""
    try:
        body = json.loads(o.body) if o.body else None
    except ValueError:
        return None
    got = (o.status, body)
    ind = o.headers.get("x-paperclip-bridge-outcome")
    if o.status == 200:
        return "ok" if sent == 1 else None
    if got == UNREACHABLE and ind is None:
        if o.method == "POST" and sent:
            return None
        return "unreachable"
    if o.method == "GET" and got in GET_GONE and ind is None:
        return "gone"
    if o.method == "POST" and got in POST_GONE and ind == "indeterminate" and sent <= 1:
        return "gone"
    return None


def run(opts):
    r = loadlib.Result(NAME)
    b = loadlib.Bench(nofile=1024, upstream=lambda c: procup.ProcUpstream(c, slow=0.3))
    try:
        warm = loadclient.Worker(b.port, b.kh.token, None)
        for i in range(10):
            if warm.one(i, "GET", "/api/issues/warm-%d/comments" % i).status != 200:
                raise AssertionError("keyhole does not answer")
        time.sleep(1.5)
        r.rss[0], r.fds[0] = loadlib.snapshot(b.child)
        r.parent_snapshot(0, b)
        child0 = b.child
        log0 = b.log_lines(own=("uk-",))
        psamp = loadlib.ProcSampler(b.kh.pid)
        fast_get = ("GET", "/api/issues/%s/comments")
        fast_post = ("POST", "/api/issues/%s/comments", b'{"body":"x"}')
        slow_get = ("GET", "/slow/%s")
        slow_post = ("POST", "/slow/%s", b"{}")
        W = loadclient.Worker
        tok = b.kh.token
        p = loadclient.unique_plan
        seconds = 1.5 + KILLS * (DOWN + UP) + 0.5
        traffic = loadclient.Traffic([
            W(b.port, tok, p("uk-gn", [fast_get]), "get-new", interval=0.05),
            W(b.port, tok, p("uk-pn", [fast_post]), "post-new", interval=0.05),
            W(b.port, tok, p("uk-ka", [fast_get, fast_post]), "mixed-ka", keepalive=True,
              interval=0.05),
            W(b.port, tok, p("uk-sg", [slow_get]), "slow-get", interval=0.02),
            W(b.port, tok, p("uk-sp", [slow_post]), "slow-post", interval=0.02),
            W(b.port, tok, p("uk-sk", [slow_post, slow_get]), "slow-ka", keepalive=True,
              interval=0.02),
        ]).start(seconds)
        time.sleep(1.5)
        downs = []
        for _ in range(KILLS):
            t_kill = time.monotonic()
            b.up.kill()
            time.sleep(DOWN)
            b.up.start()
            downs.append((t_kill, time.monotonic()))
            time.sleep(UP)
        traffic.join(seconds + 20)
        traffic.stop()
        r.prss[1], r.pfds[1] = psamp.stop()
        time.sleep(3.0)
        r.rss[2], r.fds[2] = loadlib.snapshot(b.child)
        r.parent_snapshot(2, b)
        r.logs = b.log_lines(own=("uk-",)) - log0
        outs = traffic.outcomes()
        counts = r.from_outcomes(outs, b.up)
        kinds = {}
        wrong, outside, after = [], [], []
        for o in outs:
            if not o.answered():
                continue
            k = classify(o, counts.get(o.path, 0))
            kinds[(k, o.method)] = kinds.get((k, o.method), 0) + 1
            if k is None:
                wrong.append(o)
            elif k != "ok" and not any(o.start <= back and o.end >= down
                                       for down, back in downs):
                outside.append(o)
            if k != "ok" and any(o.start > back + 0.05 for _, back in downs[-1:]):
                after.append(o)
        unanswered = [o for o in outs if not o.answered()]
        r.notes.append("answers: %s" % ", ".join("%s %s %d" % (k, m, n) for (k, m), n in
                                                 sorted(kinds.items(), key=str)))
        r.check("every request answered (%d not: %r)" % (len(unanswered), unanswered[:5]),
                not unanswered)
        r.check("every answer documented and true to what the upstream received "
                "(%d not: %r)" % (len(wrong), [(o, o.body[:100], counts.get(o.path))
                                               for o in wrong[:3]]), not wrong)
        r.check("the kills hit requests (%d answered other than 200)" % r.non200, r.non200 > 0)
        r.check("answers other than 200 only while the upstream was down (%d not: %r)"
                % (len(outside), outside[:3]), not outside)
        r.check("everything after the upstream came back answered 200 (%d not: %r)"
                % (len(after), after[:3]), not after)
        r.check("no POST duplicated at the upstream (%d)" % r.dup, r.dup == 0)
        loadlib.check_steady(r, b, child0, RSS_BACK_KIB, b.up.port)
    finally:
        b.close()
    return r
