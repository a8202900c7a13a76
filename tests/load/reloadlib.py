"""reloadlib: reloads under steady traffic (issue 16 item 3), shared by
tests/integration/test_reload_load.py (the ctest) and
scenarios/reload_load.py (the campaign and its figures).

Two policies both allow the traffic; POLICY_EXTRA has one more route,
GET /api/extra/*, which a worker asks for all along.  Reloads alternate
them (`keyhole reload`, which returns once the outcome is in), under the
steady mix of loadclient.mixed() (GETs and POSTs, new and kept-alive
connections, fast and slow routes) plus the extra route's two workers.
judge() reads every request's one access line (its path is unique; the
line names the generation that decided it, gen=N) and checks:

  - every request answered, none reset, refused or cut (nothing counted
    as a keep-alive race either: a retired child answers the one request
    a kept-alive connection sends and closes after it);
  - no mutation reached the upstream twice, and every POST answered 200
    reached it once;
  - each request has exactly one access line, from exactly one
    generation, and the generation's policy is POLICY_BASE or
    POLICY_EXTRA by the reloads that succeeded;
  - the extra route was answered 200 exactly when its generation had it
    (403 otherwise), every other route 200;
  - each request was decided by a generation that was live for it: not
    before the reload that made it began, and (new connections) not
    after the reload that replaced it returned (kept-alive: plus the
    retire wait, KH_RETIRE_IDLE_MS).
"""

import os
import subprocess
import time

import loadclient

HERE = os.path.dirname(os.path.abspath(__file__))
import sys  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import khtest  # noqa: E402

POLICY_BASE = """\
# reload under load: the traffic's routes
allow GET /api/issues/*/comments
allow POST /api/issues/*/comments
allow GET /slow/*
allow POST /slow/*
allow GET /api/agents/me
"""
POLICY_EXTRA = POLICY_BASE + "allow GET /api/extra/*\n"
POLICY_BAD = POLICY_BASE + "allow GET /api/extra/* frobnicate\n"

RETIRE_IDLE_S = 1.0      # KH_RETIRE_IDLE_MS
SLACK_S = 0.5            # scheduling on a loaded 2-core machine


def write_policy(path, text):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def traffic(port, token, tag):
    """loadclient.mixed() plus the extra route, new and kept-alive."""
    t = loadclient.mixed(port, token, tag)
    p = loadclient.unique_plan
    extra = ("GET", "/api/extra/%s")
    t.workers += [
        loadclient.Worker(port, token, p(tag + "-xn", [extra]), "extra-new", interval=0.02),
        loadclient.Worker(port, token, p(tag + "-xa", [extra]), "extra-ka",
                          keepalive=True, interval=0.02),
    ]
    return t


class Reload:
    """One `keyhole reload`: when it ran, how it ended."""

    def __init__(self, policy, t0, t1, rc, out, err):
        self.policy = policy
        self.t0, self.t1 = t0, t1
        self.rc, self.out, self.err = rc, out, err

    def took(self):
        return self.t1 - self.t0


def reload_once(kh, policy_text, timeout=30):
    write_policy(kh.policy_file, policy_text)
    t0 = time.monotonic()
    p = subprocess.run([khtest.binary("keyhole"), "reload", "--ready-file", kh.ready_path,
                        "--pid", str(kh.pid)], capture_output=True, timeout=timeout)
    t1 = time.monotonic()
    return Reload(policy_text, t0, t1, p.returncode, p.stdout.decode(), p.stderr.decode())


def run(kh, reloads=20, gap=0.6, bad_at_end=True, tag="rl"):
    """Traffic, `reloads` reloads alternating POLICY_EXTRA/POLICY_BASE
    (keyhole started with POLICY_BASE), then a bad policy; returns
    (outcomes, [Reload], bad Reload or None, traffic)."""
    t = traffic(kh.port, kh.token, tag).start(reloads * (gap + 1.5) + 20)
    time.sleep(1.0)
    done = []
    for i in range(reloads):
        done.append(reload_once(kh, POLICY_EXTRA if i % 2 == 0 else POLICY_BASE))
        time.sleep(gap)
    bad = None
    if bad_at_end:
        bad = reload_once(kh, POLICY_BAD)
        time.sleep(1.5)
    t.stop()
    return t.outcomes(), done, bad, t


def access_lines(kh):
    """{path: [(status, gen)]} of every access line."""
    import re
    out = {}
    rx = re.compile(r" path=(\S+) rule=.* status=(\d+) bytes_in=.* gen=(\d+)$")
    for ln in kh.stderr_lines():
        m = rx.search(ln)
        if m:
            out.setdefault(m.group(1), []).append((int(m.group(2)), int(m.group(3))))
    return out


def judge(kh, up, outcomes, reloads, bad):
    """[(what, ok)] for the properties in this module's docstring."""
    checks = []
    ok_reloads = [r for r in reloads if r.rc == 0]
    checks.append(("every reload succeeded (%d of %d; failures: %r)"
                   % (len(ok_reloads), len(reloads),
                      [r.err.strip() for r in reloads if r.rc != 0][:3]),
                   len(ok_reloads) == len(reloads)))
    if bad is not None:
        checks.append(("the bad policy was refused (exit %d: %s)" % (bad.rc, bad.err.strip()[:200]),
                       bad.rc == 1 and ":7:" in bad.err))
    # Generation g's policy and its live window: generation 0 is the
    # start; reload i (successful) made generation i + 1.
    has_extra = {0: False}
    begin = {0: float("-inf")}
    end = {}
    for i, r in enumerate(reloads):
        has_extra[i + 1] = r.policy == POLICY_EXTRA
        begin[i + 1] = r.t0
        end[i] = r.t1
    failed = [o for o in outcomes if not o.answered()]
    races = [o for o in outcomes if o.ka_race]
    checks.append(("every request answered: %d of %d (failed: %r)"
                   % (len(outcomes) - len(failed), len(outcomes), failed[:5]), not failed))
    checks.append(("no keep-alive race (%d)" % len(races), not races))
    counts = loadclient.upstream_counts(up)
    dup = loadclient.duplicated(outcomes, counts, mutations=True)
    checks.append(("no mutation reached the upstream twice (%d)" % dup, dup == 0))
    lost_posts = [o for o in outcomes if o.method == "POST" and o.status == 200
                  and counts.get(o.path, 0) != 1]
    checks.append(("every POST answered 200 reached the upstream once (%d did not)"
                   % len(lost_posts), not lost_posts))
    lines = access_lines(kh)
    not_one, wrong, early, late, extra_ok, extra_no = [], [], [], [], 0, 0
    for o in outcomes:
        got = lines.get(o.path, [])
        if len(got) != 1:
            not_one.append((o, got))
            continue
        status, gen = got[0]
        if gen not in has_extra:
            wrong.append((o, gen, "unknown generation"))
            continue
        want = 200
        if o.path.startswith("/api/extra/"):
            want = 200 if has_extra[gen] else 403
            if status == 200:
                extra_ok += 1
            else:
                extra_no += 1
        if o.status != want or status != want:
            wrong.append((o, gen, "status %s, log %s, want %s" % (o.status, status, want)))
        if o.end < begin[gen] - SLACK_S:
            early.append((o, gen))
        if gen in end:
            limit = end[gen] + SLACK_S + (RETIRE_IDLE_S if o.reused else 0)
            if o.start > limit:
                late.append((o, gen, o.start - end[gen]))
    checks.append(("each request has exactly one access line (%d do not: %r)"
                   % (len(not_one), not_one[:3]), not not_one))
    checks.append(("each answer is its generation's policy's (extra route: %d allowed, "
                   "%d denied; wrong: %r)" % (extra_ok, extra_no, wrong[:3]),
                   not wrong and extra_ok > 0 and extra_no > 0))
    checks.append(("no request decided by a generation before its reload began (%r)"
                   % early[:3], not early))
    checks.append(("no request decided by a generation after the next reload returned "
                   "(kept-alive: + the retire wait) (%r)" % late[:3], not late))
    return checks


def children_after(kh, timeout=5.0):
    """The one keyhole-net left once the last retired child is gone."""
    try:
        khtest.wait_until(lambda: len(kh.children("keyhole-net")) == 1, timeout,
                          "one child")
    except AssertionError:
        pass
    return kh.children("keyhole-net")
