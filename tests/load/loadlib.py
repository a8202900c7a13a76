"""loadlib: the load campaign's harness (tests/load/README.md).

A scenario drives the real keyhole (parent + child, khtest.Keyhole) and a
recording upstream (khtest.Upstream) on 127.0.0.1 with:

  GoodClient   a well-behaved client: one request per fresh connection,
               each with a unique id in its path, so the upstream's record
               shows what was lost or duplicated
  Flood        N hostile connections held open by one selector thread:
               "idle" (connect, send nothing), "slowloris" (a head that
               never ends, one byte per connection per interval); closed
               connections are reopened at once (an attacker keeps the
               pressure up)
  ProcSampler  RSS and open fds of a process, sampled in the background
  Result       one row of the campaign's table plus named checks

Everything is bounded: every thread stops by a deadline, every socket has
a timeout, every process is stopped by its pid at the end (Bench.close).
"""

import errno
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import khtest  # noqa: E402
from httpcheck import Reader, Reset  # noqa: E402


# The recording upstream's listen backlog: socketserver's default is 5,
# and keyhole opens a fresh upstream connection per mutation (upstream.c),
# up to --max-inflight at once; past the backlog the kernel drops SYNs and
# the connect waits for a retransmission (1 s, 3 s, 7 s...), which would
# be measured as keyhole's latency.  A real API server's backlog is
# larger (nginx, node: 511).
khtest._UpstreamServer.request_queue_size = 1024


def sanitized():
    """keyhole-net was built with AddressSanitizer (its quarantine keeps
    freed memory resident: RSS bounds say nothing there)."""
    with open(khtest.binary("keyhole-net"), "rb") as f:
        return b"__asan_init" in f.read()


def supports(option):
    """The keyhole under test knows this option (so the same scenario can
    measure an older build for a before/after table)."""
    out = subprocess.run([khtest.binary("keyhole"), "--help"], capture_output=True,
                         timeout=10)
    return option.encode() in out.stdout + out.stderr


def raise_nofile(want):
    """Raise this process's RLIMIT_NOFILE soft limit (and, as root, the
    hard one) to at least `want` if possible; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want and os.geteuid() == 0:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        return new
    return soft


# --------------------------------------------------------------------------
# Processes

def rss_kib(pid):
    try:
        return int(khtest.proc_status(pid)["VmRSS"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def nfds(pid):
    """Open fds of pid, or None when /proc/PID/fd cannot be read (the
    child is not dumpable: only root sees it)."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


class ProcSampler:
    """Samples a process's VmRSS and fd count every `interval` s; keeps
    the peak RSS and the fd count seen with it."""

    def __init__(self, pid, interval=0.1):
        self.pid = pid
        self.peak_rss = rss_kib(pid) or 0
        self.peak_fds = nfds(pid)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._t.start()

    def _run(self, interval):
        while not self._stop.is_set():
            r = rss_kib(self.pid)
            f = nfds(self.pid)
            if r is None:
                return
            self.peak_rss = max(self.peak_rss, r)
            if f is not None:
                self.peak_fds = max(self.peak_fds or 0, f)
            self._stop.wait(interval)

    def stop(self):
        self._stop.set()
        self._t.join(2)
        return self.peak_rss, self.peak_fds


class _Cleanups:
    """What khtest.Keyhole/Upstream expect of a test case: addCleanup."""

    def __init__(self):
        self._fns = []

    def addCleanup(self, fn, *a, **kw):
        self._fns.append((fn, a, kw))

    def run(self):
        errors = []
        while self._fns:
            fn, a, kw = self._fns.pop()
            try:
                fn(*a, **kw)
            except Exception as e:   # noqa: BLE001 - report every cleanup
                errors.append(e)
        return errors


class LimitedKeyhole(khtest.Keyhole):
    """khtest.Keyhole started with a fixed RLIMIT_NOFILE (soft = hard =
    nofile), so "default settings" mean the same on every machine."""

    def __init__(self, tc, upstream_url, nofile=None, **kw):
        self.nofile = nofile
        super().__init__(tc, upstream_url, **kw)

    def start(self):
        lim = self.nofile

        def pre():
            if lim is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (lim, lim))
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=self.env, close_fds=True,
                                         preexec_fn=pre)
        finally:
            out.close()
            err.close()
        self.pid = self.proc.pid


class Bench:
    """One keyhole and one upstream for one scenario.

    upstream: a function (cleanups) -> an upstream with .url and
    .snapshot() (default: khtest.Upstream, the recording one); queue: also
    serve a queue_v1 directory (self.queue, a khqueue.QueueDir)."""

    def __init__(self, args=(), nofile=None, policy=khtest.TEST_POLICY, upstream=None,
                 queue=False):
        import khqueue
        self._c = _Cleanups()
        self.up = (upstream or khtest.Upstream)(self._c)
        self.queue = None
        args = list(args)
        if queue:
            self.queue = khqueue.QueueDir(self._c)
            args = ["--queue-dir", self.queue.path] + args
        self.kh = LimitedKeyhole(self._c, self.up.url, nofile=nofile, policy=policy,
                                 args=args)
        self.port = self.kh.port
        self.child = self.kh.child_pid()
        self.auth = "Bearer " + self.kh.token

    def new_child(self, old, timeout=10.0):
        """The child that replaced `old` (after a kill)."""
        self.child = self.kh.child_pid(exclude={old}, timeout=timeout)
        return self.child

    def log_lines(self, own=()):
        """keyhole's log lines so far, less the access-log lines of the
        well-behaved clients' own requests (one per request is expected):
        GoodClient's, and those whose path holds one of `own` (the
        scenario's client tags)."""
        def mine(ln):
            if "/api/issues/good-" in ln:
                return True
            return " status=" in ln and any(t in ln for t in own)
        return sum(1 for ln in self.kh.stderr_lines() if not mine(ln))

    def close(self):
        return self._c.run()


# --------------------------------------------------------------------------
# Clients

class GoodClient:
    """Sends one GET per fresh connection every `interval` s until stopped;
    each request's path carries a unique id (/api/issues/<tag>-<n>/comments).

    sent      requests tried (connects included)
    ok        answered 200
    statuses  {status: count} of every answer
    refused   connect refused (nothing listening)
    lost      no answer: connect timed out, reset, timeout or EOF first
    errors    {what: count} for the lost ones
    """

    def __init__(self, port, token, tag="good", interval=0.05, timeout=5.0):
        self.port = port
        self.token = token
        self.tag = tag
        self.interval = interval
        self.timeout = timeout
        self.sent = 0
        self.ok = 0
        self.lost = 0
        self.refused = 0
        self.statuses = {}
        self.errors = {}
        self.latencies = []
        self.ids = []
        self._stop = threading.Event()
        self._t = None

    def path(self, n):
        if self.tag == "slow":
            return "/slow/%d" % n     # the upstream sleeps 3 s first
        return "/api/issues/%s-%d/comments" % (self.tag, n)

    def one(self, n):
        """One request; returns its status or None.  A connect refused
        (nothing listens any more) counts in .refused, not in .lost."""
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
               "Connection: close\r\n\r\n" % (self.path(n), self.token)).encode()
        t0 = time.monotonic()
        self.sent += 1
        self.ids.append(n)
        s = socket.socket()
        s.settimeout(self.timeout)
        try:
            s.connect(("127.0.0.1", self.port))
            s.sendall(req)
            st, _, _ = Reader(s, t0 + self.timeout).response()
        except ConnectionRefusedError:
            self.refused += 1
            return None
        except (OSError, Reset, AssertionError, TypeError) as e:
            what = type(e).__name__
            if isinstance(e, OSError) and e.errno is not None:
                what = errno.errorcode.get(e.errno, what)
            self.lost += 1
            self.errors[what] = self.errors.get(what, 0) + 1
            return None
        finally:
            s.close()
        self.latencies.append(time.monotonic() - t0)
        self.statuses[st] = self.statuses.get(st, 0) + 1
        if st == 200:
            self.ok += 1
        return st

    def _run(self, deadline):
        n = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            n += 1
            self.one(n)
            self._stop.wait(self.interval)

    def start(self, max_seconds):
        self._t = threading.Thread(target=self._run, args=(time.monotonic() + max_seconds,),
                                   daemon=True)
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        if self._t is not None:
            self._t.join(self.timeout + 2)

    def success(self):
        return 100.0 * self.ok / self.sent if self.sent else 0.0

    def p99_ms(self):
        if not self.latencies:
            return None
        v = sorted(self.latencies)
        return 1000 * v[min(len(v) - 1, int(len(v) * 0.99))]


SLOW_HEAD = b"GET /api/agents/me HTTP/1.1\r\nHost: 127.0.0.1\r\n"
SLOW_LINE = b"X-Slow: a\r\n"


class Flood:
    """`n` hostile connections held by one selector thread.

    mode "idle": connect and send nothing.  mode "slowloris": send a
    request line and Host, then one byte of an endless header section per
    connection every `trickle` s.  With reopen, a connection keyhole
    closes is opened again at once.  Counts: opened, closed (by keyhole:
    EOF or reset), answered (bytes came back before the close)."""

    def __init__(self, port, n, mode="idle", reopen=True, trickle=1.0):
        self.port = port
        self.n = n
        self.mode = mode
        self.reopen = reopen
        self.trickle = trickle
        self.opened = 0
        self.closed = 0
        self.answered = 0
        self.connect_errors = 0
        self.open_now = 0
        self._sel = selectors.DefaultSelector()
        self._socks = {}          # sock -> bytes of the head sent so far
        self._stop = threading.Event()
        self._t = None
        self._want = 0

    def _open_one(self):
        s = socket.socket()
        s.setblocking(False)
        # Close with RST at the end: no TIME_WAIT eating the port range.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            rc = s.connect_ex(("127.0.0.1", self.port))
        except OSError:
            rc = -1
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            self.connect_errors += 1
            return False
        self._socks[s] = 0
        self._sel.register(s, selectors.EVENT_READ, None)
        self.opened += 1
        return True

    def _drop(self, s, by_peer):
        try:
            self._sel.unregister(s)
        except (KeyError, ValueError):
            pass
        self._socks.pop(s, None)
        s.close()
        if by_peer:
            self.closed += 1

    def _trickle_all(self):
        for s, sent in list(self._socks.items()):
            data = SLOW_HEAD if sent == 0 else SLOW_LINE[sent % len(SLOW_LINE):][:1]
            try:
                k = s.send(data)
            except BlockingIOError:
                continue
            except OSError:
                self._drop(s, True)
                continue
            self._socks[s] = sent + k if sent else len(SLOW_LINE)

    def _run(self, deadline):
        next_trickle = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < deadline:
            # Open up to n, a bounded batch per round so reads are served.
            batch = 0
            while len(self._socks) < self._want and batch < 500:
                if not self._open_one():
                    break
                batch += 1
            self.open_now = len(self._socks)
            for key, _ in self._sel.select(timeout=0.02):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    self.answered += 1
                    continue        # read on until the close
                self._drop(s, True)
                if not self.reopen:
                    self._want -= 1
            if self.mode == "slowloris" and time.monotonic() >= next_trickle:
                self._trickle_all()
                next_trickle = time.monotonic() + self.trickle
        for s in list(self._socks):
            self._drop(s, False)
        self.open_now = 0

    def start(self, max_seconds):
        self._want = self.n
        self._t = threading.Thread(target=self._run, args=(time.monotonic() + max_seconds,),
                                   daemon=True)
        self._t.start()
        return self

    def wait_open(self, count, timeout):
        deadline = time.monotonic() + timeout
        while self.open_now < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.open_now

    def stop(self):
        self._stop.set()
        if self._t is not None:
            self._t.join(10)


# --------------------------------------------------------------------------
# Results

class Result:
    """One row of the table and the checks that decide pass/fail."""

    COLUMNS = [("scenario", 18), ("sent", 6), ("ok", 6), ("non200", 7), ("lost", 5),
               ("died", 4), ("dup", 4), ("ok%", 7), ("p99ms", 6), ("rss KiB b/d/a", 22),
               ("fds b/d/a", 12), ("parent rss KiB b/d/a", 22), ("pfds b/d/a", 10),
               ("logs", 6)]

    def __init__(self, name):
        self.name = name
        self.sent = self.ok = self.non200 = self.lost = self.dup = 0
        self.died = None          # lost to a child's death (the documented case)
        self.p99 = None
        self.rss = [None, None, None]
        self.fds = [None, None, None]
        self.prss = [None, None, None]   # the parent's
        self.pfds = [None, None, None]
        self.logs = None
        self.notes = []
        self.checks = []          # (description, passed)
        self.skipped = None       # why the scenario could not run here

    def from_client(self, gc, up):
        self.sent = gc.sent
        self.ok = gc.ok
        self.non200 = sum(v for k, v in gc.statuses.items() if k != 200)
        self.lost = gc.lost
        self.p99 = gc.p99_ms()
        self.dup = duplicates(up, [gc.path(n) for n in gc.ids])
        if gc.refused:
            self.notes.append("refused: %d" % gc.refused)
        if gc.errors:
            self.notes.append("lost: %s" % ", ".join("%s %d" % kv for kv in sorted(gc.errors.items())))
        if self.non200:
            self.notes.append("answers: %s" % ", ".join(
                "%s %d" % kv for kv in sorted(gc.statuses.items())))

    def check(self, what, ok):
        self.checks.append((what, bool(ok)))

    def passed(self):
        return all(ok for _, ok in self.checks)

    def parent_snapshot(self, i, bench):
        self.prss[i], self.pfds[i] = snapshot(bench.kh.pid)

    def cells(self):
        def triple(v):
            return "/".join("-" if x is None else str(x) for x in v)
        if self.skipped:
            return [self.name] + ["-"] * (len(self.COLUMNS) - 1)
        pct = "%.1f" % (100.0 * self.ok / self.sent) if self.sent else "-"
        return [self.name, str(self.sent), str(self.ok), str(self.non200), str(self.lost),
                "-" if self.died is None else str(self.died),
                str(self.dup), pct, "-" if self.p99 is None else "%.0f" % self.p99,
                triple(self.rss), triple(self.fds), triple(self.prss), triple(self.pfds),
                "-" if self.logs is None else str(self.logs)]

    def skip(self, why):
        """The scenario cannot run on this machine (e.g. needs root)."""
        self.skipped = why
        self.notes.append("SKIPPED: " + why)
        return self

    def from_outcomes(self, outcomes, up, lost=None, died=None):
        """The traffic cells from loadclient outcomes and the upstream's
        record: ok = answered 200, non200 = answered otherwise, lost = the
        given list (default: every unanswered one but refused connects
        and the keep-alive race), dup = mutations the upstream received
        more than once."""
        import loadclient
        counts = loadclient.upstream_counts(up)
        self.sent = len(outcomes)
        self.ok = sum(1 for o in outcomes if o.status == 200)
        self.non200 = sum(1 for o in outcomes if o.answered() and o.status != 200)
        if lost is None:
            lost = [o for o in outcomes if not o.answered() and o.error != "refused"
                    and not o.ka_race]
        self.lost = len(lost)
        if died is not None:
            self.died = len(died)
        self.dup = loadclient.duplicated(outcomes, counts, mutations=True)
        self.p99 = loadclient.p99_ms(outcomes)
        t = loadclient.tally(outcomes)
        self.notes.append("outcomes: %s" % ", ".join(
            "%s %d" % (k, t[k]) for k in sorted(t, key=str)))
        races = sum(1 for o in outcomes if o.ka_race)
        if races:
            self.notes.append("keep-alive race: %d" % races)
        get_dup = loadclient.duplicated(outcomes, counts, mutations=False)
        if get_dup:
            self.notes.append("safe requests re-sent: %d" % get_dup)
        return counts


def duplicates(up, paths):
    """Requests of ours the upstream received more than once."""
    want = set(paths)
    seen = {}
    for r in up.snapshot():
        p = r.path.split("?", 1)[0]
        if p in want:
            seen[p] = seen.get(p, 0) + 1
    return sum(c - 1 for c in seen.values() if c > 1)


def format_table(results):
    widths = [max(w, len(h)) for h, w in Result.COLUMNS]
    rows = [r.cells() for r in results]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    line = "  ".join(h.ljust(w) for (h, _), w in zip(Result.COLUMNS, widths))
    out = [line, "-" * len(line)]
    for row in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    return "\n".join(out)


def stop_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def snapshot(pid):
    return rss_kib(pid), nfds(pid)


def upstream_conns(pid, port):
    """Sockets of pid connected to 127.0.0.1:port (the parent's pool of
    upstream connections: libcurl keeps up to --max-inflight of them)."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return None
    n = 0
    want = "0100007F:%04X" % port
    with open("/proc/%d/net/tcp" % pid) as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] == want and fields[9] in inodes:
                n += 1
    return n


def warm_up(bench):
    """One GET answered 200, or keyhole is not serving: AssertionError."""
    if GoodClient(bench.port, bench.kh.token, tag="warm").one(0) != 200:
        raise AssertionError("keyhole does not answer")


def before(r, bench, own=()):
    """Fill r's "before" cells (child and parent); returns the log line
    count to subtract at the end (Bench.log_lines(own))."""
    r.rss[0], r.fds[0] = snapshot(bench.child)
    r.parent_snapshot(0, bench)
    return bench.log_lines(own=own)


def check_child_fds(r):
    r.check("child's fds back (%s -> %s)" % (r.fds[0], r.fds[2]),
            r.fds[2] is not None and r.fds[2] <= r.fds[0] + 2)


def check_steady(r, bench, child0, rss_back_kib, port):
    """After a load the child must have survived: the same child, the
    parent's RSS back within rss_back_kib of idle (not judged in an ASan
    build), both processes' fds back (the parent's less its pool)."""
    r.check("the child was never replaced", bench.kh.children("keyhole-net") == [child0])
    if sanitized():
        r.notes.append("ASan build: RSS bound not checked")
    else:
        r.check("parent's RSS back near idle (%+d KiB, bound %d)"
                % (r.prss[2] - r.prss[0], rss_back_kib), r.prss[2] - r.prss[0] <= rss_back_kib)
    check_parent_fds(r, bench, port)
    check_child_fds(r)


def check_parent_fds(r, bench, port, pool_max=64):
    """The parent's fds back where they were, less its pooled upstream
    connections, of which there are at most pool_max."""
    pool = upstream_conns(bench.kh.pid, port)
    r.notes.append("parent's pooled upstream connections after: %s" % pool)
    r.check("parent's fds back, less its upstream pool (%s -> %s, %s pooled, at most %d)"
            % (r.pfds[0], r.pfds[2], pool, pool_max),
            r.pfds[2] is not None and pool is not None and pool <= pool_max and
            r.pfds[2] - pool <= r.pfds[0] + 2)


def flood_with_client(r, bench, flood, seconds, settle=3.0, ramp=1.0):
    """Run `flood` against bench's keyhole, a GoodClient beside it for
    `seconds`, then stop the flood and let keyhole settle; fills r's
    traffic, RSS/fds (before, peak during, after) and log-line cells."""
    gc = GoodClient(bench.port, bench.kh.token, tag="warm")
    if gc.one(0) != 200:
        raise AssertionError("keyhole does not answer before the flood")
    r.rss[0], r.fds[0] = snapshot(bench.child)
    log0 = bench.log_lines()
    sampler = ProcSampler(bench.child)
    flood.start(seconds + ramp + 30)
    time.sleep(ramp)
    gc = GoodClient(bench.port, bench.kh.token, interval=0.02).start(seconds)
    gc._t.join(seconds + gc.timeout + 5)
    gc.stop()
    r.rss[1], r.fds[1] = sampler.stop()
    flood.stop()
    time.sleep(settle)
    r.rss[2], r.fds[2] = snapshot(bench.child)
    r.logs = bench.log_lines() - log0
    r.from_client(gc, bench.up)
    r.notes.append("flood: %d opened, %d closed by keyhole, %d answered, %d connect errors"
                   % (flood.opened, flood.closed, flood.answered, flood.connect_errors))
    return gc


def check_flood(r, seconds):
    """What every flood scenario must show: the well-behaved client served,
    nothing sent upstream twice, a bounded number of log lines, the child's
    fds back where they were."""
    r.check("well-behaved client >= 99 %% answered 200 (%d of %d)" % (r.ok, r.sent),
            r.sent > 0 and r.ok * 100 >= 99 * r.sent)
    r.check("nothing duplicated at the upstream", r.dup == 0)
    r.check("log lines bounded (%d in %d s; not one per connection)" % (r.logs, seconds),
            r.logs <= 10 + seconds)
    if r.fds[0] is not None:
        r.check("fds back after the flood (%s -> %s)" % (r.fds[0], r.fds[2]),
                r.fds[2] <= r.fds[0] + 2)
