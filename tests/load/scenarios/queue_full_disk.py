"""A full disk in queue mode, three times, under a steady stream of
request files.

keyhole runs in a private mount namespace (unshare, as
tests/integration/test_queue_full_disk.py) whose queue directory is a
2 MiB tmpfs, reached from here through /proc/PID/root.  A feeder writes a
GET or a POST request file every 20 ms (half of them to a route the
upstream answers after 0.3 s, so answers are due while the disk is full);
a collector takes the answers as a gateway does.  Three times: 1.5 s of
normal traffic, then a filler file takes every free block for 2 s, then
it is removed.  A request file the feeder cannot write while the disk is
full is the gateway's failure, not keyhole's: counted apart.

Pass: every request file that was written answered exactly once, 200,
and received by the upstream exactly once; processing/ and requests/
empty at the end; the held answers logged once per episode each way
(not once per retry); the child never replaced.  Needs root (mount)."""

import errno
import os
import time

import khtest
import loadlib
import loadqueue

NAME = "queue_full_disk"
FAST = True
ABOUT = "queue_v1 on a 2 MiB tmpfs filled 3 times under a stream of request files (root)"

TMPFS_SIZE = "2m"
EPISODES = 3
HELD_LINE = "cannot write the answer"
WRITTEN_LINE = "held answer(s) written"


def start(c, up, mnt):
    kh = loadlib.LimitedKeyhole(c, up.url, nofile=1024, listen=None, start=False,
                                args=["--queue-dir", mnt])
    kh.argv = ["unshare", "--mount", "--propagation", "private", "--",
               "sh", "-c", 'mount -t tmpfs -o size=%s,mode=0755 khload-queue "$0" '
               '&& exec "$@"' % TMPFS_SIZE, mnt] + kh.argv
    kh.start()
    kh.wait_ready()
    if khtest.proc_comm(kh.pid) != "keyhole":
        raise AssertionError("not keyhole's pid: %r" % khtest.proc_comm(kh.pid))
    with open("/proc/%d/mountinfo" % kh.pid) as f:
        if " %s " % mnt not in f.read():
            raise AssertionError("no tmpfs at the queue directory")
    return kh


def fill(qdir):
    """A file taking every free block; returns its path."""
    path = os.path.join(qdir, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1):
            for _ in range(1 << 16):
                try:
                    os.write(fd, b"\0" * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return path


def plan(n):
    kind = n % 4
    if kind == 0:
        return ("fd-g-%d" % n, "GET", "/api/issues/fd-g-%d/comments" % n, "")
    if kind == 1:
        return ("fd-p-%d" % n, "POST", "/api/issues/fd-p-%d/comments" % n, '{"body":"x"}')
    if kind == 2:
        return ("fd-sg-%d" % n, "GET", "/slow/fd-sg-%d" % n, "")
    return ("fd-sp-%d" % n, "POST", "/slow/fd-sp-%d" % n, "{}")


def run(opts):
    r = loadlib.Result(NAME)
    if not khtest.IS_ROOT:
        return r.skip("needs root (a tmpfs in a private mount namespace)")
    c = loadlib._Cleanups()
    feeder = col = None
    try:
        up = khtest.Upstream(c)
        up.slow_seconds = 0.3
        mnt = os.path.join(khtest.make_tempdir(c), "q")
        os.mkdir(mnt, 0o755)
        kh = start(c, up, mnt)
        qdir = "/proc/%d/root%s" % (kh.pid, mnt)
        child0 = kh.child_pid()
        r.rss[0], r.fds[0] = loadlib.snapshot(child0)
        r.prss[0], r.pfds[0] = loadlib.snapshot(kh.pid)
        seconds = EPISODES * 3.5 + 1.0
        col = loadqueue.Collector(qdir).start(seconds + 30)
        feeder = loadqueue.Feeder(qdir, plan, interval=0.02).start(seconds)
        full_for = []
        for _ in range(EPISODES):
            time.sleep(1.5)
            filler = fill(qdir)
            t_full = time.monotonic()
            st = os.statvfs(qdir)
            full_for.append(st.f_bavail)
            time.sleep(2.0)
            os.unlink(filler)
            full_for[-1] = (full_for[-1], time.monotonic() - t_full)
        time.sleep(1.0)
        feeder.stop()
        ids = [it[0] for it in feeder.items]
        have = col.wait_for(ids, 20)
        time.sleep(1.0)           # an answer written twice would show by now
        col.stop()
        r.rss[2], r.fds[2] = loadlib.snapshot(kh.child_pid())
        r.prss[2], r.pfds[2] = loadlib.snapshot(kh.pid)
        q = loadqueue.judge(feeder.items, col, up)
        r.sent, r.ok, r.lost, r.dup = len(ids), q["ok"], q["unanswered"], q["sent_twice"]
        r.non200 = q["wrong"]
        held = kh.count_lines(lambda ln: HELD_LINE in ln)
        written = kh.count_lines(lambda ln: WRITTEN_LINE in ln)
        r.logs = held + written
        r.notes.append("%d request files written, %d not (disk full: %r); free blocks "
                       "while full: %r; %d 'cannot write' lines, %d 'written' lines"
                       % (len(ids), sum(feeder.errors.values()), feeder.errors,
                          [f for f, _ in full_for], held, written))
        r.check("the disk was full each time (free blocks %r)" % [f for f, _ in full_for],
                all(f == 0 for f, _ in full_for))
        r.check("answers were held: the disk was full with answers due (%d episodes logged)"
                % held, held >= 1)
        r.check("every request file written was answered (%d of %d)" % (have, len(ids)),
                q["unanswered"] == 0)
        r.check("none answered twice (%d)" % q["twice"], q["twice"] == 0)
        r.check("each answered 200, received by the upstream exactly once (%d not: %r)"
                % (q["wrong"], q["examples"]), q["wrong"] == 0)
        r.check("none received twice (%d)" % q["sent_twice"], q["sent_twice"] == 0)
        left = loadqueue.listing(qdir, "processing") + \
            [x for x in loadqueue.listing(qdir, "requests") if x.endswith(".json")]
        r.check("processing/ and requests/ empty (%r)" % left[:5], not left)
        r.check("logged once per episode each way, not per retry (%d held, %d written, "
                "%d episodes)" % (held, written, EPISODES),
                held <= EPISODES and written == held)
        r.check("the child was never replaced", kh.children("keyhole-net") == [child0])
        r.check("keyhole still running", kh.alive())
    finally:
        for x in (feeder, col):
            if x is not None:
                x.stop()
        errs = c.run()
        if errs:
            r.check("cleanup: %r" % errs, False)
    return r
