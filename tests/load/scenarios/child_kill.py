"""keyhole-net killed (SIGKILL) three times under load, both transports.

One keyhole serves HTTP and a queue directory.  HTTP: GETs and POSTs on
fresh and on kept-alive connections, half of them to a route the upstream
answers after 0.4 s, so requests are always in flight; queue: a GET and a
POST request file every 50 ms to the slow route.  The child is killed
three times, 1.5 s apart.

The documented child-death case (README, "Errors the sandbox sees"): an
HTTP request in flight when its child dies sees its connection close with
no answer; those are counted apart ("died": started before the child was
gone, ended after the kill).  Pass:
  - every other HTTP request answered 200, none lost, those made while
    the child restarts included (they wait in the parent's listen
    backlog);
  - nothing duplicated at the upstream (HTTP and queue);
  - every queue request answered exactly once: 200 (sent exactly once), or
    the restart answers with their exact bodies, 503 for a GET, 409
    indeterminate for a POST (sent at most once); processing/ and
    requests/ empty at the end;
  - each kill replaced by a new child; fds of both processes back."""

import os
import signal
import time

import khtest
import loadclient
import loadlib
import loadqueue

NAME = "child_kill"
FAST = True
ABOUT = "SIGKILL keyhole-net 3 times under GET/POST load, HTTP and queue at once"

KILLS = 3
GAP = 1.5
SLOW = 0.4
OWN = ("ck-", "q-", "warm-")      # the access lines of the scenario's own requests


def http_traffic(b):
    tok = b.kh.token
    fast_get = ("GET", "/api/issues/%s/comments")
    fast_post = ("POST", "/api/issues/%s/comments", b'{"body":"x"}')
    slow_get = ("GET", "/slow/%s")
    slow_post = ("POST", "/slow/%s", b"{}")
    W = loadclient.Worker
    return loadclient.Traffic([
        W(b.port, tok, loadclient.unique_plan("ck-gn", [fast_get]), "get-new", interval=0.01),
        W(b.port, tok, loadclient.unique_plan("ck-pn", [fast_post]), "post-new", interval=0.01),
        W(b.port, tok, loadclient.unique_plan("ck-ka", [fast_get, fast_post]), "mixed-ka",
          keepalive=True, interval=0.01),
        W(b.port, tok, loadclient.unique_plan("ck-sg", [slow_get]), "slow-get"),
        W(b.port, tok, loadclient.unique_plan("ck-sp", [slow_post]), "slow-post"),
        W(b.port, tok, loadclient.unique_plan("ck-sk", [slow_post, slow_get]), "slow-ka",
          keepalive=True),
    ])


def queue_plan(n):
    if n % 2:
        return ("q-p-%d" % n, "POST", "/slow/q-p-%d" % n, "{}")
    return ("q-g-%d" % n, "GET", "/slow/q-g-%d" % n, "")


def kill_child(b):
    """SIGKILL the child; returns (t_kill, t_dead, t_new, old, new)."""
    old = b.child
    t_kill = time.monotonic()
    os.kill(old, signal.SIGKILL)
    deadline = t_kill + 5
    while khtest.pid_alive(old) and time.monotonic() < deadline:
        time.sleep(0.001)
    t_dead = time.monotonic()
    new = b.new_child(old)
    return t_kill, t_dead, time.monotonic(), old, new


def run(opts):
    r = loadlib.Result(NAME)
    b = loadlib.Bench(nofile=1024, queue=True)
    b.up.slow_seconds = SLOW
    col = feeder = traffic = None
    try:
        loadlib.warm_up(b)
        time.sleep(0.3)
        log0 = loadlib.before(r, b, own=OWN)
        psamp = loadlib.ProcSampler(b.kh.pid)
        seconds = 1.0 + KILLS * GAP + 1.0
        col = loadqueue.Collector(b.queue.path).start(seconds + 30)
        feeder = loadqueue.Feeder(b.queue.path, queue_plan, interval=0.05).start(seconds)
        traffic = http_traffic(b).start(seconds)
        time.sleep(1.0)
        kills = []
        for _ in range(KILLS):
            kills.append(kill_child(b))
            time.sleep(GAP)
        traffic.join(seconds + 15)
        traffic.stop()
        feeder.stop()
        ids = [it[0] for it in feeder.items]
        have = col.wait_for(ids, 15)
        time.sleep(1.0)           # an answer written twice would show by now
        col.stop()
        r.prss[1], r.pfds[1] = psamp.stop()
        time.sleep(1.0)
        r.rss[2], r.fds[2] = loadlib.snapshot(b.child)
        r.parent_snapshot(2, b)

        outs = traffic.outcomes()

        def in_death(o):
            return any(o.start <= t_dead and o.end >= t_kill for t_kill, t_dead, _, _, _ in kills)
        died = [o for o in outs if not o.answered() and o.error in ("eof", "reset", "cut")
                and in_death(o)]
        lost = [o for o in outs if not o.answered() and o not in died]
        counts = r.from_outcomes(outs, b.up, lost=lost, died=died)
        http_dup = loadclient.duplicated(outs, counts, True) + \
            loadclient.duplicated(outs, counts, False)
        died_post_sent = sum(1 for o in died if o.method == "POST" and counts.get(o.path))
        q = loadqueue.judge(feeder.items, col, b.up, allow_restart=True)
        r.sent += len(feeder.items)
        r.ok += q["ok"]
        r.non200 += q["restart"] + q["wrong"]
        r.lost += q["unanswered"]
        r.dup += q["sent_twice"]
        r.logs = b.log_lines(own=OWN) - log0
        restarts = ", ".join("%.0f ms" % (1000 * (t_new - t_kill)) for t_kill, _, t_new, _, _
                             in kills)
        r.notes.append("HTTP: %d died (%d of them POSTs the upstream had received); "
                       "children replaced after %s" % (len(died), died_post_sent, restarts))
        r.notes.append("queue: %d files, %r; %d restart answers (%d of those sent upstream)"
                       % (len(feeder.items), q["statuses"], q["restart"], q["restart_sent"]))
        if feeder.errors:
            r.notes.append("queue writes failed: %r" % feeder.errors)

        r.check("child killed %d times, a new one each time" % KILLS,
                len({k[4] for k in kills} | {k[3] for k in kills}) == KILLS + 1)
        r.check("the kills hit requests in flight (%d HTTP died, %d queue restart answers)"
                % (len(died), q["restart"]), len(died) + q["restart"] > 0)
        r.check("every HTTP request not in flight at a kill answered (%d lost: %r)"
                % (len(lost), lost[:5]), not lost)
        r.check("every HTTP answer 200 (%r)" % loadclient.tally(o for o in outs if o.answered()),
                all(o.status == 200 for o in outs if o.answered()))
        r.check("no HTTP request reached the upstream twice (%d)" % http_dup, http_dup == 0)
        r.check("every queue request answered (%d of %d)" % (have, len(ids)),
                q["unanswered"] == 0)
        r.check("no queue request answered twice (%d)" % q["twice"], q["twice"] == 0)
        r.check("queue answers as documented: 200 sent once, 503/409 restart sent at most "
                "once (%d wrong: %r)" % (q["wrong"], q["examples"]), q["wrong"] == 0)
        r.check("no queue request reached the upstream twice (%d)" % q["sent_twice"],
                q["sent_twice"] == 0)
        left = loadqueue.listing(b.queue.path, "processing") + \
            [n for n in loadqueue.listing(b.queue.path, "requests") if n.endswith(".json")]
        r.check("processing/ and requests/ empty (%r)" % left[:5], not left)
        loadlib.check_child_fds(r)
        loadlib.check_parent_fds(r, b, b.up.port)
        r.check("keyhole still running", b.kh.alive())
    finally:
        for x in (traffic, feeder, col):
            if x is not None:
                x.stop()
        b.close()
    return r
