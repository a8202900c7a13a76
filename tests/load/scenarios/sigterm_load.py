"""SIGTERM under steady load: GETs and POSTs, new and kept-alive
connections, some in flight upstream (1 s) when the signal comes.

Clients keep sending until keyhole has exited.  The drain (README,
"Errors the sandbox sees"; SECURITY.md) promises: every request keyhole
accepted gets one answer, none is reset; what reached the upstream
finishes (200); what arrives while it drains is answered 503 {"error":
"Bridge is shutting down."} and closed; once the listener is gone a
connect is refused.  A kept-alive connection keyhole closes while it is
idle may meet the client's next request on the wire (the HTTP/1.1
keep-alive race, RFC 9112 9.3.1): counted apart, and it must not have
reached the upstream.  Pass: all of that, nothing duplicated, exit 0
within the drain deadline.  (drain.py covers a full listen backlog.)"""

import json
import signal
import time

import loadclient
import loadlib

NAME = "sigterm_load"
FAST = True
ABOUT = "SIGTERM under GET/POST load, new and kept-alive connections, 1 s in flight"

SHUTDOWN = {"error": "Bridge is shutting down."}
SLOW = 1.0


def is_shutdown(o):
    try:
        return o.status == 503 and json.loads(o.body) == SHUTDOWN
    except ValueError:
        return False


def run(opts):
    r = loadlib.Result(NAME)
    b = loadlib.Bench(nofile=1024)
    b.up.slow_seconds = SLOW
    try:
        loadlib.warm_up(b)
        log0 = loadlib.before(r, b, own=("st-",))
        t = loadclient.mixed(b.port, b.kh.token, "st").start(20)
        time.sleep(1.5)
        # Something is upstream now: the slow workers send back to back.
        t_term = time.monotonic()
        b.kh.signal(signal.SIGTERM)
        code = b.kh.wait_exit(15)
        took = time.monotonic() - t_term
        time.sleep(0.2)           # the clients meet the closed listener
        t.stop()
        r.logs = b.log_lines(own=("st-",)) - log0
        outs = t.outcomes()
        counts = r.from_outcomes(outs, b.up)
        before = [o for o in outs if o.end < t_term]
        reached = [o for o in outs if counts.get(o.path)]
        reached_not_200 = [o for o in reached if o.status != 200]
        wrong = [o for o in outs if o.answered() and o.status != 200 and not is_shutdown(o)]
        early_503 = [o for o in outs if is_shutdown(o) and o.end < t_term]
        races = [o for o in outs if o.ka_race]
        race_sent = [o for o in races if counts.get(o.path)]
        early = [o for o in outs if (o.ka_race or o.error == "refused") and o.start < t_term]
        resets = [o for o in outs if o.error == "reset" and not o.ka_race]
        in_flight = [o for o in reached if o.start < t_term < o.end]
        r.notes.append("keyhole exited %s after %.1f s; %d in flight upstream at SIGTERM; "
                       "%d kept-alive connections closed idle"
                       % (code, took, len(in_flight), t.ka_closed()))
        r.check("load before the signal all 200 (%d of %d)"
                % (sum(1 for o in before if o.status == 200), len(before)),
                all(o.status == 200 for o in before))
        r.check("requests in flight upstream at SIGTERM (%d)" % len(in_flight), in_flight)
        r.check("every accepted request answered (%d lost: %r)"
                % (r.lost, [o for o in outs if not o.answered() and o.error != "refused"
                            and not o.ka_race][:5]), r.lost == 0)
        r.check("no reset on a fresh connection (%d)" % len(resets), not resets)
        r.check("everything that reached the upstream answered 200 (%d not: %r)"
                % (len(reached_not_200), reached_not_200[:5]), not reached_not_200)
        r.check("other answers only 503 shutting down (%d not: %r)" % (len(wrong), wrong[:5]),
                not wrong)
        r.check("503 and refused connects only after SIGTERM (%d, %d)"
                % (len(early_503), len(early)), not early_503 and not early)
        r.check("keep-alive races never reached the upstream (%d of %d did)"
                % (len(race_sent), len(races)), not race_sent)
        r.check("nothing duplicated at the upstream (%d)" % r.dup, r.dup == 0)
        r.check("keyhole exited 0 within its drain deadline (%s, %.1f s)" % (code, took),
                code == 0 and took < 10)
    finally:
        b.close()
    return r
