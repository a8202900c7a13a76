"""loadqueue: queue_v1 traffic for the load campaign (tests/load/README.md).

  Collector   takes every responses/<id>.json as it appears (read, then
              removed, as a gateway does), so an id answered twice shows up
              as a second file; counts statuses
  put_many    writes request files the way a gateway does (<id>.json.tmp,
              then rename)
  Feeder      writes request files at a steady rate from a thread
  judge()     checks every id's answer against what the upstream received:
              200 = sent exactly once; the restart answers (503 for a safe
              method, 409 indeterminate otherwise, exact bodies) = sent at
              most once; nothing unanswered, nothing answered twice

Everything is bounded: threads stop by a deadline, scans by a count."""

import json
import os
import threading
import time

import loadclient

BODY_503_RESTART = {"error": "Bridge restarted before the request was answered."}
BODY_409_RESTART = {"error": "Bridge restarted after the request was claimed; it may "
                             "have taken effect.",
                    "outcome": "indeterminate", "retryable": False}


def envelope(rid, method, path, body=""):
    env = {"id": rid, "method": method, "path": path, "query": "",
           "headers": {"content-type": "application/json"} if body else {},
           "body": body, "createdAt": "2026-01-01T00:00:00.000Z"}
    return json.dumps(env).encode()


def put(qdir, rid, method, path, body=""):
    final = os.path.join(qdir, "requests", rid + ".json")
    tmp = final + ".tmp"
    with open(tmp, "wb") as f:
        f.write(envelope(rid, method, path, body))
    os.rename(tmp, final)


def put_many(qdir, items):
    """items: (id, method, path, body); returns the number written."""
    os.makedirs(os.path.join(qdir, "requests"), exist_ok=True)
    n = 0
    for rid, method, path, body in items:
        put(qdir, rid, method, path, body)
        n += 1
    return n


class Collector:
    """Reads and removes responses/*.json every `interval` s.

    answers   {id: [parsed envelope, ...]} (more than one: answered twice)
    times     {id: monotonic time its (first) answer was seen}"""

    def __init__(self, qdir, interval=0.02):
        self.dir = os.path.join(qdir, "responses")
        self.interval = interval
        self.answers = {}
        self.times = {}
        self.bad = []             # files that were not a JSON answer
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t = None

    def scan(self):
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return 0
        got = 0
        for name in names:
            if not name.endswith(".json"):
                continue
            path = os.path.join(self.dir, name)
            try:
                with open(path, "rb") as f:
                    data = f.read()
                os.unlink(path)
            except FileNotFoundError:
                continue
            rid = name[:-5]
            try:
                env = json.loads(data)
            except ValueError:
                self.bad.append(name)
                continue
            with self._lock:
                self.answers.setdefault(rid, []).append(env)
                self.times.setdefault(rid, time.monotonic())
            got += 1
        return got

    def _run(self, deadline):
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.scan()
            self._stop.wait(self.interval)

    def start(self, seconds):
        self._t = threading.Thread(target=self._run, args=(time.monotonic() + seconds,),
                                   daemon=True)
        self._t.start()
        return self

    def wait_for(self, ids, timeout):
        """Wait until every id has an answer; returns how many have."""
        ids = list(ids)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                have = sum(1 for i in ids if i in self.answers)
            if have == len(ids) or time.monotonic() >= deadline:
                return have
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
        if self._t is not None:
            self._t.join(10)
        self.scan()


class Feeder:
    """Writes plan(n) = (id, method, path, body) every `interval` s."""

    def __init__(self, qdir, plan, interval=0.05):
        self.qdir = qdir
        self.plan = plan
        self.interval = interval
        self.items = []           # (id, method, path, body, time written)
        self.errors = {}
        self._stop = threading.Event()
        self._t = None

    def _run(self, deadline):
        n = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            n += 1
            rid, method, path, body = self.plan(n)
            try:
                put(self.qdir, rid, method, path, body)
                self.items.append((rid, method, path, body, time.monotonic()))
            except OSError as e:
                # Not written (a full disk): the gateway's failure, not
                # keyhole's; its .tmp would take space keyhole needs.
                self.errors[e.strerror] = self.errors.get(e.strerror, 0) + 1
                try:
                    os.unlink(os.path.join(self.qdir, "requests", rid + ".json.tmp"))
                except OSError:
                    pass
            self._stop.wait(self.interval)

    def start(self, seconds):
        os.makedirs(os.path.join(self.qdir, "requests"), exist_ok=True)
        self._t = threading.Thread(target=self._run, args=(time.monotonic() + seconds,),
                                   daemon=True)
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        if self._t is not None:
            self._t.join(10)


def _body(env):
    import base64
    if env.get("bodyEncoding") == "base64":
        return base64.b64decode(env["body"])
    return env.get("body", "").encode()


def judge(items, collector, up, allow_restart=False):
    """items: (id, method, path, ...).  Returns a dict of counts:
    ok (200, sent once), restart (503/409 restart answers, sent at most
    once), unanswered, twice (answered more than once), wrong (any other
    answer, or an answer that disagrees with what the upstream got:
    listed in "examples"), sent_twice (the upstream received it more than
    once), statuses {status: count}."""
    counts = loadclient.upstream_counts(up)
    res = {"ok": 0, "restart": 0, "unanswered": 0, "twice": 0, "wrong": 0,
           "sent_twice": 0, "restart_sent": 0, "statuses": {}, "examples": []}
    for it in items:
        rid, method, path = it[0], it[1], it[2]
        got = collector.answers.get(rid, [])
        sent = counts.get(path, 0)
        if sent > 1:
            res["sent_twice"] += 1
        if not got:
            res["unanswered"] += 1
            continue
        if len(got) > 1:
            res["twice"] += 1
        env = got[0]
        st = env.get("status")
        res["statuses"][st] = res["statuses"].get(st, 0) + 1
        hdrs = env.get("headers", {})
        try:
            body = json.loads(_body(env))
        except ValueError:
            body = None
        if st == 200 and sent == 1:
            res["ok"] += 1
            continue
        safe = method in ("GET", "HEAD", "OPTIONS")
        if allow_restart and sent <= 1 and (
                (safe and st == 503 and body == BODY_503_RESTART) or
                (not safe and st == 409 and body == BODY_409_RESTART and
                 hdrs.get("x-paperclip-bridge-outcome") == "indeterminate")):
            res["restart"] += 1
            res["restart_sent"] += sent
            continue
        res["wrong"] += 1
        if len(res["examples"]) < 5:
            res["examples"].append((rid, method, st, body, sent))
    return res


def listing(qdir, sub):
    try:
        return sorted(n for n in os.listdir(os.path.join(qdir, sub)))
    except FileNotFoundError:
        return []


def burst_items(n, tag="qf"):
    """n request files, three GETs to one POST, each a unique path."""
    out = []
    for i in range(n):
        rid = "%s-%d" % (tag, i)
        if i % 4 == 3:
            out.append((rid, "POST", "/api/issues/%s/comments" % rid, '{"body":"x"}'))
        else:
            out.append((rid, "GET", "/api/issues/%s/comments" % rid, ""))
    return out


def burst(r, b, n, rate_min, tag="qf", files_in_row=True):
    """The queue_flood run: n request files written beforehand in a
    staging directory of the same file system, renamed into requests/ in
    one burst; a Collector takes the answers; two HTTP clients use the
    same keyhole meanwhile (GETs on fresh connections every 20 ms, GETs
    and POSTs on a kept-alive one).  Fills r (the files and the HTTP
    requests together) and returns a dict: items, q (judge()), have,
    took (s until every file was answered, or the limit), limit,
    t_put, outs (the HTTP outcomes), http (sent, ok, p99, tally).
    files_in_row=False: r's traffic cells count the HTTP requests only."""
    import loadlib
    todo = burst_items(n, tag)
    stage = os.path.join(b.queue.path, "staging")
    os.mkdir(stage)
    for rid, method, path, body in todo:
        with open(os.path.join(stage, rid + ".json"), "wb") as f:
            f.write(envelope(rid, method, path, body))
    time.sleep(0.5)
    own = (tag + "-", "hq-")
    r.rss[0], r.fds[0] = loadlib.snapshot(b.child)
    r.parent_snapshot(0, b)
    log0 = b.log_lines(own=own)
    csamp = loadlib.ProcSampler(b.child)
    psamp = loadlib.ProcSampler(b.kh.pid)
    limit = 10 + n / rate_min
    col = Collector(b.queue.path, interval=0.05).start(limit + 30)
    W = loadclient.Worker
    traffic = loadclient.Traffic([
        W(b.port, b.kh.token, loadclient.unique_plan(
            "hq-g", [("GET", "/api/issues/%s/comments")]), "get-new", interval=0.02),
        W(b.port, b.kh.token, loadclient.unique_plan(
            "hq-k", [("GET", "/api/issues/%s/comments"),
                     ("POST", "/api/issues/%s/comments", b'{"body":"x"}')]),
          "mixed-ka", keepalive=True, interval=0.02),
    ])
    try:
        traffic.start(limit + 5)
        time.sleep(1.0)
        t0 = time.monotonic()
        for rid, _, _, _ in todo:
            os.rename(os.path.join(stage, rid + ".json"),
                      os.path.join(b.queue.path, "requests", rid + ".json"))
        t_put = time.monotonic() - t0
        have = col.wait_for([it[0] for it in todo], limit)
        took = time.monotonic() - t0
        # The HTTP figures are those of the time the files were served.
        for w in traffic.workers:
            w.outcomes = [o for o in w.outcomes if o.start >= t0 and o.start <= t0 + took]
    finally:
        traffic.stop()
        time.sleep(1.0)           # an answer written twice would show by now
        col.stop()
    r.rss[1], r.fds[1] = csamp.stop()
    r.prss[1], r.pfds[1] = psamp.stop()
    time.sleep(2.0)
    r.rss[2], r.fds[2] = loadlib.snapshot(b.child)
    r.parent_snapshot(2, b)
    r.logs = b.log_lines(own=own) - log0
    outs = traffic.outcomes()
    r.from_outcomes(outs, b.up)
    http = {"sent": r.sent, "ok": r.ok, "p99": r.p99, "tally": loadclient.tally(outs)}
    bodies = sorted({o.body.decode("utf-8", "replace") for o in outs
                     if o.answered() and o.status != 200})
    if bodies:
        r.notes.append("HTTP answers other than 200: %s" % ", ".join(bodies))
    q = judge(todo, col, b.up)
    if files_in_row:
        r.sent += n
        r.ok += q["ok"]
        r.non200 += q["wrong"]
        r.lost += q["unanswered"]
        r.dup += q["sent_twice"]
    last = max(col.times.values()) - t0 if col.times else 0
    r.notes.append("%d files renamed in %.1f s, all answered after %.1f s (%.0f/s); "
                   "HTTP clients meanwhile: %d of %d answered 200 (%s), p99 %s ms"
                   % (n, t_put, last, n / last if last else 0, http["ok"], http["sent"],
                      http["tally"], "-" if http["p99"] is None else "%.0f" % http["p99"]))
    return {"items": todo, "q": q, "have": have, "took": took, "limit": limit,
            "t_put": t_put, "outs": outs, "http": http}


def check_http_beside(r, res):
    h = res["http"]
    r.check("HTTP clients served while the files are: >= 99 %% answered 200 (%d of %d; %s)"
            % (h["ok"], h["sent"], h["tally"]), h["sent"] > 0 and h["ok"] * 100 >= 99 * h["sent"])
