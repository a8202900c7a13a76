#!/usr/bin/env python3
"""Confinement that holds in every mode, or keyhole does not run.

The queue transport's child is confined to the queue, or does not run:

- Not root, there is no chroot: only Landlock keeps a compromised child's
  openat(13, "../../credential") inside the queue (unit.test_queue_confine
  shows the read on a kernel without it).  keyhole must then refuse to
  serve the queue, saying what to do, instead of warning.
- As root, the child chroots into the queue directory, which the sandbox
  can write.  Nothing may be opened by name after that chroot: not by
  keyhole, not by glibc (time zone, syslog), not by libcap-ng
  (/proc/PID/status).  FIFOs planted at those names hung the child for
  ever as uid 0, at every restart.

HTTP without root: the child has keyhole's own uid and no chroot; what
SECURITY.md promises must still hold (seccomp, no capability, not
dumpable, no file, and no log line but through the parent: libcap-ng's
failure path used to syslog from the child).
"""

import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
import khuser  # noqa: E402
from khqueue import QueueDir, keyhole_queue, new_id  # noqa: E402


# A path-taking call after the child's chroot is allowed only relative to
# the queue directory fds the parent gave it (13 requests/, 14
# processing/, 15 responses/).
QUEUE_FD_CALL = re.compile(r"^(openat|unlinkat|renameat2?)\((1[345]),")
# Lines that are not a syscall of the traced process itself.
NOT_A_CALL = re.compile(r"^(\+\+\+|---|<\.\.\.)")


def child_calls_after_chroot(lines):
    """{pid: [calls after its chroot]} for every process that chrooted."""
    after = {}
    for ln in lines:
        m = re.match(r"^(\d+)\s+(.*)$", ln)
        if not m:
            continue
        pid, call = int(m.group(1)), m.group(2)
        if pid in after:
            after[pid].append(call)
        elif call.startswith("chroot("):
            after[pid] = []
    return after


class QueueNotRootTest(khtest.KeyholeTestCase):
    """keyhole started by an unprivileged user (uid 65534 here)."""

    def setUp(self):
        self.up = self.upstream()
        self.q = QueueDir(self, path=os.path.join(khuser.user_dir(self), "q"))
        khuser.chown_tree(self.q.path)

    def test_queue_refused_without_landlock_when_not_root(self):
        kh = khuser.keyhole_as_user(
            self, self.up.url, wrapper=[khtest.binary("no_landlock")], listen=None,
            args=["--queue-dir", self.q.path], start=False)
        kh.start()
        self.assertNotEqual(kh.wait_exit(15), 0, kh.output_text())
        out = kh.output_text()
        self.assertIn("Landlock", out)
        self.assertIn("as root", out)          # what to do instead
        self.assertNotIn("serving queue_v1", out)
        self.assertFalse(os.path.exists(kh.ready_path))

    def test_queue_served_with_landlock_when_not_root(self):
        kh = khuser.keyhole_as_user(self, self.up.url, listen=None,
                                    args=["--queue-dir", self.q.path])
        child = kh.child_pid()
        self.assertEqual(khtest.proc_status(child)["Uid"].split()[0], str(khuser.NOBODY))
        rid = new_id()
        self.q.put(self.q.envelope(rid))
        resp = self.q.wait_response(rid, timeout=10)
        self.assertEqual(resp["status"], 200, resp)
        self.assertEqual(self.up.count(), 1)


class QueueChrootTest(khtest.KeyholeTestCase):
    """keyhole started as root: the child chroots into the queue."""

    def setUp(self):
        khtest.require_root("the child's chroot into the queue directory")
        self.up = self.upstream()
        self.q = QueueDir(self)

    def test_child_opens_nothing_by_name_after_chroot(self):
        strace = khuser.strace_binary()
        trace = os.path.join(khtest.make_tempdir(self), "strace.txt")
        for mode in ("queue", "http"):
            with self.subTest(mode=mode):
                args = ["--queue-dir", self.q.path] if mode == "queue" else []
                kh = khtest.Keyhole(self, self.up.url, start=False, args=args,
                                    listen=None if mode == "queue" else "tcp:127.0.0.1:0")
                kh.argv = [strace, "-f", "--seccomp-bpf", "-qq", "-o", trace,
                           "-e", "trace=%file,connect,chroot"] + kh.argv
                kh.start()
                kh.wait_ready(timeout=20)
                if mode == "queue":
                    rid = new_id()
                    self.q.put(self.q.envelope(rid))
                    self.assertEqual(self.q.wait_response(rid, timeout=10)["status"], 200)
                else:
                    self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
                # Stop keyhole itself (strace's child), then strace ends.
                for k in khtest.proc_children(kh.pid):
                    if khtest.proc_comm(k) == "keyhole":
                        os.kill(k, signal.SIGTERM)
                kh.wait_exit(15)
                after = child_calls_after_chroot(khuser.strace_lines(trace))
                self.assertTrue(after, "no chroot seen in the trace")
                for pid, calls in after.items():
                    bad = [c for c in calls if not NOT_A_CALL.match(c)
                           and not (mode == "queue" and QUEUE_FD_CALL.match(c))]
                    self.assertEqual(bad, [], "child %d touched the file system by name "
                                     "after its chroot (%s mode)" % (pid, mode))

    def test_fifos_planted_in_the_queue_do_not_hang_the_child(self):
        # The sandbox writes the queue directory, the child's root.  Every
        # name glibc or libcap-ng would open there becomes a FIFO nobody
        # ever writes.  In a fresh pid namespace the child's pid is small
        # and known: sh is 1, keyhole 2, the child 3 (a few spare).
        names = ["etc/localtime", "dev/log", "proc/self/status",
                 "proc/thread-self/status", "usr/share/zoneinfo/UTC",
                 "etc/nsswitch.conf", "etc/passwd", "etc/group"]
        names += ["proc/%d/status" % n for n in range(1, 257)]
        for n in names:
            p = self.q.sub(n)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            os.mkfifo(p)
            os.chmod(p, 0o666)
        kh = keyhole_queue(self, self.up.url, self.q, start=False)
        kh.argv = ["unshare", "--pid", "--fork", "--kill-child", "--",
                   "sh", "-c", '"$@"; exit $?', "sh"] + kh.argv
        kh.start()
        kh.wait_ready(timeout=15)
        rid = new_id()
        self.q.put(self.q.envelope(rid))
        resp = self.q.wait_response(rid, timeout=10)
        self.assertEqual(resp["status"], 200, resp)
        self.assertEqual(self.up.count(), 1)


class HttpNotRootTest(khtest.KeyholeTestCase):

    def setUp(self):
        self.up = self.upstream()

    def test_child_confined_when_not_root(self):
        kh = khuser.keyhole_as_user(self, self.up.url)
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        child = kh.child_pid()
        st = khtest.proc_status(child)
        self.assertEqual(st["Uid"].split(), [str(khuser.NOBODY)] * 4)
        self.assertEqual(st["Seccomp"], "2")
        self.assertEqual(st["NoNewPrivs"], "1")
        for field in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
            self.assertEqual(st[field], "0000000000000000", field)
        # not dumpable: its /proc files belong to root, not to its uid
        self.assertEqual(os.stat("/proc/%d/environ" % child).st_uid, 0)
        # no file of the file system open: sockets, /dev/null (and, in
        # sanitizer builds, the parent's stderr as fd 2)
        for fd in os.listdir("/proc/%d/fd" % child):
            target = os.readlink("/proc/%d/fd/%s" % (child, fd))
            if target.startswith("/") and target != "/dev/null":
                self.assertEqual((fd, target), ("2", kh.stderr_path))

    def test_child_never_logs_by_itself_when_not_root(self):
        # Only the parent writes logs.  Not root, libcap-ng could not
        # touch the bounding set, and Debian's libcap-ng then called
        # syslog() from the child: /dev/log, /etc/localtime.
        strace = khuser.strace_binary()
        trace = os.path.join(khuser.user_dir(self, mode=0o777), "strace.txt")
        kh = khuser.keyhole_as_user(self, self.up.url, start=False)
        kh.argv = [strace, "-f", "--seccomp-bpf", "-qq", "-o", trace,
                   "-e", "trace=connect,openat,open,execveat"] + kh.argv
        kh.start()
        kh.wait_ready(timeout=20)
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        for k in khtest.proc_children(kh.pid):
            os.kill(k, signal.SIGTERM)
        kh.wait_exit(15)
        lines = khuser.strace_lines(trace)
        children = {ln.split()[0] for ln in lines if "execveat(" in ln and "keyhole-net" in ln}
        self.assertTrue(children, "no keyhole-net start in the trace")
        bad = [ln for ln in lines if "/dev/log" in ln or
               (ln.split()[0] in children and "localtime" in ln)]
        self.assertEqual(bad, [], "keyhole-net logged (or formatted a local time) "
                         "behind the parent's back")


if __name__ == "__main__":
    khtest.main()
