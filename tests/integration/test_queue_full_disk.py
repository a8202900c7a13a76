#!/usr/bin/env python3
"""queue_v1 with a full disk: no request is stranded, none runs twice.

keyhole runs in a private mount namespace (unshare) whose queue directory
is a small tmpfs; the test reaches it through /proc/PID/root and fills it
up while requests are in flight upstream.  An answer that cannot be
written is kept and written again when space returns (queue_answer.c),
with one log line for the episode and one when it is over, never one per
retry; its claim stays in processing/ meanwhile, and no new request is
claimed.  Needs root (mount)."""

import errno
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from khqueue import QueueDir, new_id, response_body  # noqa: E402

TMPFS_SIZE = "512k"
HELD_LINE = "cannot write the answer"
WRITTEN_LINE = "held answer(s) written"

BODY_503_RESTART = {"error": "Bridge restarted before the request was answered."}
BODY_409_RESTART = {"error": "Bridge restarted after the request was claimed; it may "
                             "have taken effect.",
                    "outcome": "indeterminate", "retryable": False}


class FullDiskTest(KeyholeTestCase):

    def setUp(self):
        khtest.require_root("a tmpfs queue directory (mount)")
        self.up = self.upstream()
        self.mnt = os.path.join(khtest.make_tempdir(self), "q")
        os.mkdir(self.mnt, 0o755)

    def start(self, args=()):
        """keyhole serve --queue-dir on a fresh tmpfs of its own; returns
        (keyhole, QueueDir seen from here)."""
        kh = khtest.Keyhole(self, self.up.url, listen=None, start=False,
                            args=["--queue-dir", self.mnt] + list(args))
        kh.argv = ["unshare", "--mount", "--propagation", "private", "--",
                   "sh", "-c", 'mount -t tmpfs -o size=%s,mode=0755 khtest-queue "$0" '
                   '&& exec "$@"' % TMPFS_SIZE, self.mnt] + kh.argv
        kh.start()
        kh.wait_ready()
        # unshare and sh exec'd: kh.pid is keyhole's parent, in the namespace.
        self.assertEqual(khtest.proc_comm(kh.pid), "keyhole")
        self.root = "/proc/%d/root" % kh.pid
        q = QueueDir(self, path=self.root + self.mnt)
        with open("/proc/%d/mountinfo" % kh.pid) as f:
            self.assertIn(" %s " % self.mnt, f.read(), "no tmpfs at the queue directory")
        return kh, q

    def fill(self, q):
        """Write a file until the tmpfs refuses another byte; returns its path."""
        path = q.sub("filler")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        try:
            for size in (1 << 16, 1 << 12, 1):
                while True:
                    try:
                        os.write(fd, b"\0" * size)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        st = os.statvfs(q.path)
        self.assertEqual(st.f_bavail, 0, "the tmpfs is not full")
        return path

    def responses(self, q):
        return [n for n in q.listing("responses") if n.endswith(".json")]

    def test_answers_held_while_full_and_written_when_space_returns(self):
        self.up.slow_seconds = 1.5
        kh, q = self.start()
        ids = []
        for i in range(8):
            rid = "req-%d" % i
            if i % 2:
                q.put(q.envelope(rid, method="POST", path="/slow/p%d" % i,
                                 headers={"content-type": "application/json"},
                                 body='{"n":%d}' % i))
            else:
                q.put(q.envelope(rid, method="GET", path="/slow/g%d" % i))
            ids.append(rid)
        self.up.wait_requests(8, timeout=5)
        filler = self.fill(q)
        # The upstream answers at 1.5 s; answers are retried every 0.5 s.
        time.sleep(3.5)
        self.assertEqual(self.responses(q), [])
        self.assertEqual(q.listing("processing"), sorted(r + ".json" for r in ids))
        held = [ln for ln in kh.stderr_lines() if HELD_LINE in ln]
        self.assertEqual(len(held), 1, kh.output_text())
        self.assertIn("No space left on device", held[0])
        self.assertEqual(kh.count_lines(lambda ln: WRITTEN_LINE in ln), 0)
        # Space returns: every executed request gets its real answer.
        os.unlink(filler)
        for i, rid in enumerate(ids):
            resp = q.wait_response(rid, timeout=5)
            self.assertEqual(resp["status"], 200, resp)
            self.assertEqual(response_body(resp), b'{"ok":true}')
        self.assertEqual(q.listing("processing"), [])
        kh.wait_log(lambda ln: WRITTEN_LINE in ln and " 8 " in ln, what="8 held answers written")
        self.assertEqual(kh.count_lines(lambda ln: HELD_LINE in ln), 1, kh.output_text())
        # Nothing ran twice, and claiming resumed.
        rid = new_id()
        q.put(q.envelope(rid))
        self.assertEqual(q.wait_response(rid)["status"], 200)
        time.sleep(0.5)
        paths = sorted(r.path for r in self.up.snapshot())
        self.assertEqual(paths, sorted(["/api/agents/me"] + ["/slow/%s%d" % ("p" if i % 2 else "g", i)
                                                             for i in range(8)]))
        self.assertTrue(kh.alive())

    def test_restart_while_full_keeps_claims_until_answered(self):
        # A child that dies while the disk is full: the next one must answer
        # the claims it finds (503 / 409 indeterminate) and may not release a
        # claim whose answer it could not write (the request would be lost
        # without any answer).
        self.up.slow_seconds = 5.0
        kh, q = self.start()
        q.put(q.envelope("post1", method="POST", path="/slow/p",
                         headers={"content-type": "application/json"}, body="{}"))
        q.put(q.envelope("get1", method="GET", path="/slow/g"))
        self.up.wait_requests(2, timeout=5)
        filler = self.fill(q)
        old = kh.child_pid()
        os.kill(old, signal.SIGKILL)
        kh.child_pid(exclude={old}, timeout=5)
        kh.wait_log("claimed before a restart and maybe sent")
        time.sleep(1.5)
        self.assertEqual(self.responses(q), [], kh.output_text())
        self.assertEqual(q.listing("processing"), ["get1.json", "post1.json"])
        self.assertEqual(kh.count_lines(lambda ln: HELD_LINE in ln), 1, kh.output_text())
        os.unlink(filler)
        post = q.wait_response("post1", timeout=5)
        self.assertEqual(post["status"], 409, post)
        self.assertEqual(post["headers"].get("x-paperclip-bridge-outcome"), "indeterminate")
        self.assertEqual(json.loads(response_body(post)), BODY_409_RESTART)
        get = q.wait_response("get1", timeout=5)
        self.assertEqual(get["status"], 503, get)
        self.assertEqual(json.loads(response_body(get)), BODY_503_RESTART)
        self.assertEqual(q.listing("processing"), [])
        time.sleep(0.5)
        self.assertEqual(sorted(r.path for r in self.up.snapshot()), ["/slow/g", "/slow/p"])


if __name__ == "__main__":
    khtest.main()
