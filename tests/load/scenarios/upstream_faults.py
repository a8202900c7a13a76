"""A misbehaving upstream under load: reset, closed, cut short, hung,
oversized, garbage, beside normal answers.

A raw-socket upstream (tests/integration/rawup.py) decides by the path
what to do with each request it reads: answer normally, reset, close
without a byte, close in the middle of the body, never answer, answer
with more than --max-response, answer with no HTTP at all.  Eight
clients send GETs and POSTs through keyhole meanwhile (six on fresh
connections, two kept alive), 8 s (--long: 30 s), with
--upstream-timeout-ms 1000 and --max-response 1024.

Pass: every request gets exactly one answer, the status and JSON body the
README's error table documents for that fault and method (409
indeterminate for a POST that may have run); no POST reaches the upstream
more than once (and each exactly once: every fault here happens after
the upstream read it); the child is never replaced; the parent's RSS is
back near idle 3 s after the load and its fds back (less its upstream
pool)."""

import time

import khtest
import loadclient
import loadlib
import rawup

NAME = "upstream_faults"
FAST = True
ABOUT = "upstream resets/closes/hangs/oversized/garbage under GET+POST load"

POLICY = "allow GET /f/*/*\nallow POST /f/*/*\n"
MAX_RESPONSE = 1024
RSS_BACK_KIB = 4096       # the parent's RSS after the load, above idle


def indeterminate(msg):
    return {"error": msg, "outcome": "indeterminate", "retryable": False}


HEAD_200 = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
OK = (200, {"ok": True})
# fault: (upstream action, GET answer, POST answer), as test_upstream_faults.
FAULTS = {
    "ok": (("respond", 200), OK, OK),
    "reset": (("reset",),
              (502, {"error": "Bridge upstream reset the connection before answering."}),
              (409, indeterminate("Bridge upstream reset the connection after the request "
                                  "was sent; it may have taken effect."))),
    "close": (("close",),
              (502, {"error": "Bridge upstream closed the connection before answering."}),
              (409, indeterminate("Bridge upstream closed the connection after the request "
                                  "was sent; it may have taken effect."))),
    "cut": (("raw", HEAD_200 + b"Content-Length: 100\r\n\r\n{\"partial\":", "close"),
            (502, {"error": "Bridge upstream response was cut short."}),
            (409, indeterminate("Bridge upstream response was cut short; the request may "
                                "have taken effect."))),
    "large": (("respond", 200, b'{"x":"' + b"y" * 5000 + b'"}'),
              (502, {"error": "Bridge upstream response too large."}),
              (409, indeterminate("Bridge upstream response was too large to return; the "
                                  "request may have taken effect."))),
    "hang": (("hang",),
             (504, {"error": "Bridge upstream request timed out."}),
             (409, indeterminate("Bridge upstream request timed out after it was sent; it "
                                 "may have taken effect."))),
    "garbage": (("raw", b"NOT HTTP AT ALL\r\n\r\n", "close"),
                (502, {"error": "Bridge upstream sent an invalid response."}),
                (409, indeterminate("Bridge upstream sent an invalid response; the request "
                                    "may have taken effect."))),
}
CYCLE = ["ok", "reset", "ok", "close", "ok", "cut", "ok", "large", "ok", "hang", "ok",
         "garbage"]


def fault_of(path):
    return path.split("/")[2]


def plan(req):
    return FAULTS[fault_of(req.path)][0]


def client_plan(tag, methods, offset):
    def p(n):
        method = methods[n % len(methods)]
        fault = CYCLE[(n + offset) % len(CYCLE)]
        body = b'{"n":%d}' % n if method == "POST" else None
        return method, "/f/%s/%s-%d" % (fault, tag, n), body
    return p


def expected(o):
    f = FAULTS[fault_of(o.path)]
    return f[1] if o.method == "GET" else f[2]


def answer_ok(o):
    import json
    st, body = expected(o)
    if o.status != st:
        return False
    try:
        got = json.loads(o.body)
    except ValueError:
        return False
    ind = o.headers.get("x-paperclip-bridge-outcome")
    return got == body and ind == ("indeterminate" if st == 409 else None)


def run(opts):
    seconds = 30 if opts.long else 8
    r = loadlib.Result(NAME)
    b = loadlib.Bench(args=["--upstream-timeout-ms", "1000", "--max-response",
                            str(MAX_RESPONSE)], nofile=1024, policy=POLICY,
                      upstream=lambda c: rawup.RawUpstream(c, plan))
    try:
        warm = loadclient.Worker(b.port, b.kh.token, None)
        for i in range(20):
            o = warm.one(i, "GET", "/f/ok/warm-%d" % i)
            if o.status != 200:
                raise AssertionError("keyhole does not answer: %r" % o)
        time.sleep(1.5)
        r.rss[0], r.fds[0] = loadlib.snapshot(b.child)
        r.parent_snapshot(0, b)
        child0 = b.child
        log0 = b.log_lines(own=("/f/",))
        csamp = loadlib.ProcSampler(b.child)
        psamp = loadlib.ProcSampler(b.kh.pid)
        W = loadclient.Worker
        workers = []
        for i in range(3):
            workers.append(W(b.port, b.kh.token, client_plan("g%d" % i, ["GET"], i), "get%d" % i))
            workers.append(W(b.port, b.kh.token, client_plan("p%d" % i, ["POST"], i + 3),
                             "post%d" % i))
        for i in range(2):
            workers.append(W(b.port, b.kh.token, client_plan("k%d" % i, ["GET", "POST"], i + 6),
                             "ka%d" % i, keepalive=True))
        traffic = loadclient.Traffic(workers).start(seconds)
        traffic.join(seconds + 20)
        traffic.stop()
        r.rss[1], r.fds[1] = csamp.stop()
        r.prss[1], r.pfds[1] = psamp.stop()
        time.sleep(3.0)
        r.rss[2], r.fds[2] = loadlib.snapshot(b.child)
        r.parent_snapshot(2, b)
        r.logs = b.log_lines(own=("/f/",)) - log0
        outs = traffic.outcomes()
        counts = r.from_outcomes(outs, b.up)
        wrong = [o for o in outs if o.answered() and not answer_ok(o)]
        unanswered = [o for o in outs if not o.answered()]
        posts = [o for o in outs if o.method == "POST"]
        not_once = [o for o in posts if counts.get(o.path, 0) != 1]
        per_fault = {}
        for o in outs:
            k = (fault_of(o.path), o.method)
            per_fault[k] = per_fault.get(k, 0) + 1
        r.notes.append("per fault: %s" % ", ".join(
            "%s %s %d" % (f, m, n) for (f, m), n in sorted(per_fault.items())))
        r.check("every request answered (%d not: %r)" % (len(unanswered), unanswered[:5]),
                not unanswered)
        r.check("every answer the documented status and body (%d not: %r)"
                % (len(wrong), [(o, o.body[:120]) for o in wrong[:3]]), not wrong)
        r.check("every fault met by GET and POST (%d kinds)" % len(per_fault),
                len(per_fault) == 2 * len(FAULTS))
        r.check("no POST duplicated at the upstream (%d)" % r.dup, r.dup == 0)
        r.check("each POST reached the upstream exactly once (%d not: %r)"
                % (len(not_once), not_once[:5]), not not_once)
        loadlib.check_steady(r, b, child0, RSS_BACK_KIB, b.up.port)
    finally:
        b.close()
    return r
