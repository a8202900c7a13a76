"""SIGHUP under steady load (the sigterm_load traffic: GETs and POSTs, new
and kept-alive connections, some 1 s upstream), twice, 1.5 s apart.

SIGHUP reloads (src/priv/reload.c): the same policy here, so each SIGHUP
replaces the child while requests are in flight upstream for a second.
Before keyhole handled SIGHUP, its default action ended the parent at
once, its child with it (PR_SET_PDEATHSIG): every request in flight
lost, the bridge gone.  Then it was taken and ignored.  Now each one
starts a new child, the old one finishes what it has (the slow requests
included: answered, with `connection: close`) and exits.  Pass: every
request answered 200, none lost, none refused, none duplicated, no
keep-alive race; generation 2 serves, with one child.
(reload_load alternates two policies, 20 times, and checks which policy
decided each request.)"""

import json
import signal
import time

import loadclient
import loadlib

NAME = "sighup_load"
FAST = True
ABOUT = "SIGHUP (reload) twice under GET/POST load, new and kept-alive connections"

SLOW = 1.0


def run(opts):
    r = loadlib.Result(NAME)
    b = loadlib.Bench(nofile=1024)
    b.up.slow_seconds = SLOW
    try:
        loadlib.warm_up(b)
        log0 = loadlib.before(r, b, own=("hup-",))
        t = loadclient.mixed(b.port, b.kh.token, "hup").start(4.5)
        time.sleep(1.5)
        for _ in range(2):
            b.kh.signal(signal.SIGHUP)
            time.sleep(1.5)
        t.join(20)
        t.stop()
        alive = b.kh.alive()
        after = None
        gen = None
        kids = []
        if alive:
            after = loadlib.GoodClient(b.port, b.kh.token, tag="after").one(0)
            with open(b.kh.ready_path) as f:
                gen = json.load(f).get("generation")
            kids = b.kh.children("keyhole-net")
            if kids:
                r.rss[2], r.fds[2] = loadlib.snapshot(kids[0])
            r.parent_snapshot(2, b)
        r.logs = b.log_lines(own=("hup-",)) - log0
        outs = t.outcomes()
        r.from_outcomes(outs, b.up)
        races = [o for o in outs if o.ka_race]
        refused = [o for o in outs if o.error == "refused"]
        r.notes.append("keyhole %s; generation %r; what it logged: %r" % (
            "still running" if alive else "exited %r" % b.kh.proc.returncode, gen,
            [ln.split(": ", 1)[-1] for ln in b.kh.stderr_lines()
             if "reload" in ln or "signal" in ln][:4]))
        r.check("keyhole still running after SIGHUP (exit status %r)" % b.kh.proc.poll(), alive)
        r.check("and serving (%r)" % after, after == 200)
        r.check("two reloads: generation 2 serves (%r), one child (%r)" % (gen, kids),
                gen == 2 and len(kids) == 1)
        r.check("every request answered 200 (%d lost, %d not 200, %d keep-alive races)"
                % (r.lost, r.non200, len(races)),
                r.lost == 0 and r.non200 == 0 and not races)
        r.check("no connect refused (%d)" % len(refused), not refused)
        r.check("nothing duplicated at the upstream (%d)" % r.dup, r.dup == 0)
    finally:
        b.close()
    return r
