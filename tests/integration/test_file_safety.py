#!/usr/bin/env python3
"""Files and directories someone else can write: keyhole (root) must never
act by name on an entry another user could have swapped.

- --listen unix:PATH: the socket is bound in a private directory and
  renamed into place; a directory others can write is refused (before,
  PATH.<pid>.tmp was chmod/chown'ed by name: a symlink swapped in after
  bind gave a root-owned file to --unix-owner).
- --ready-file (HTTP and queue): the temporary file is created
  O_CREAT|O_EXCL|O_NOFOLLOW under an unpredictable name beside it (before,
  fopen(PATH.tmp, "w") followed a planted symlink and overwrote its
  target).
- --queue-dir: a directory keyhole creates is given to the child's user
  through its fd, never by name.
"""

import json
import os
import socket
import stat
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
import khuser  # noqa: E402
from khqueue import QueueDir, keyhole_queue, new_id  # noqa: E402

PRECIOUS = b"precious root-owned content\n"


def make_precious(tc):
    """A root-owned 0600 file outside everything keyhole is given."""
    d = khtest.make_tempdir(tc)
    p = os.path.join(d, "precious")
    with open(p, "wb") as f:
        f.write(PRECIOUS)
    os.chmod(p, 0o600)
    return p


class UnixSocketDirectoryTest(khtest.KeyholeTestCase):

    def setUp(self):
        khtest.require_root("a root keyhole and another user's directory")
        self.up = self.upstream()
        self.target = make_precious(self)

    def test_unix_socket_swap_race_cannot_touch_a_root_file(self):
        # The directory belongs to another user (the sandbox's).  strace
        # holds keyhole for a moment right after bind(), the window in
        # which that user swaps the fresh socket for a symlink to a
        # root-owned file; keyhole's chmod/chown by name then followed it.
        strace = khuser.strace_binary()
        d = khuser.user_dir(self, mode=0o755)
        sock = os.path.join(d, "kh.sock")
        kh = khtest.Keyhole(self, self.up.url, listen="unix:" + sock, start=False,
                            args=["--unix-owner", "nobody"])
        kh.argv = [strace, "-qq", "-o", "/dev/null", "-e", "trace=bind",
                   "-e", "inject=bind:delay_exit=1500000"] + kh.argv
        swapped = []
        stop = threading.Event()

        def attacker():
            while not stop.is_set():
                for n in os.listdir(d):
                    p = os.path.join(d, n)
                    try:
                        if n != "kh.sock" and stat.S_ISSOCK(os.lstat(p).st_mode):
                            os.unlink(p)
                            os.symlink(self.target, p)
                            swapped.append(n)
                            return
                    except OSError:
                        pass
                time.sleep(0.002)
        t = threading.Thread(target=attacker, daemon=True)
        t.start()
        self.addCleanup(stop.set)
        kh.start()
        try:
            kh.wait_ready(timeout=10)
        except AssertionError:
            pass        # refusing the directory is the fix's answer
        stop.set()
        t.join(2)
        kh.stop()
        st = os.stat(self.target)
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, 0, 0o600),
                         "a root-owned file was chown/chmod'ed through a swapped name "
                         "(swapped: %r)\n%s" % (swapped, kh.output_text()))
        with open(self.target, "rb") as f:
            self.assertEqual(f.read(), PRECIOUS)

    def test_unix_socket_refuses_a_directory_others_can_write(self):
        for mode, owner in ((0o777, 0), (0o1777, 0), (0o755, khuser.NOBODY), (0o775, 0)):
            with self.subTest(mode=oct(mode), owner=owner):
                d = khtest.make_tempdir(self)
                os.chown(d, owner, owner)
                os.chmod(d, mode)
                sock = os.path.join(d, "kh.sock")
                kh = khtest.Keyhole(self, self.up.url, listen="unix:" + sock, start=False)
                kh.start()
                self.assertNotEqual(kh.wait_exit(10), 0, kh.output_text())
                self.assertIn("unix:" + sock, kh.output_text())
                self.assertIn("writ", kh.output_text())
                self.assertEqual(os.listdir(d), [], "keyhole left entries behind")

    def test_unix_socket_never_touched_by_name_after_bind(self):
        # Mode and owner are set while the socket sits in a private 0700
        # directory, then it is renamed into place: no chmod/chown of a
        # path in the public directory, no temporary name left there.
        strace = khuser.strace_binary()
        d = khtest.make_tempdir(self)
        os.chmod(d, 0o755)
        sock = os.path.join(d, "kh.sock")
        trace = os.path.join(khtest.make_tempdir(self), "strace.txt")
        kh = khtest.Keyhole(self, self.up.url, listen="unix:" + sock, start=False,
                            args=["--unix-owner", "nobody", "--unix-mode", "0620"])
        kh.argv = [strace, "-qq", "-o", trace, "-e",
                   "trace=chmod,fchmodat,chown,lchown,fchownat,bind,rename,renameat,renameat2"
                   ] + kh.argv
        kh.start()
        kh.wait_ready(timeout=10)
        st = os.lstat(sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (khuser.NOBODY, 0o620))
        self.assertEqual(os.listdir(d), ["kh.sock"])
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(5)
        c.connect(sock)
        c.sendall(("GET /api/agents/me HTTP/1.1\r\nHost: localhost\r\nAuthorization: "
                   "Bearer %s\r\nConnection: close\r\n\r\n" % kh.token).encode())
        got = c.recv(64)
        c.close()
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got)
        for ln in khuser.strace_lines(trace):
            if ln.startswith(("chmod(", "chown(", "lchown(")):
                self.fail("socket touched by path: %s" % ln)
            if ln.startswith(("fchmodat(AT_FDCWD", "fchownat(AT_FDCWD")):
                self.fail("socket touched by path: %s" % ln)
            if ln.startswith("bind(") and d + "/" in ln:
                self.fail("socket bound in the public directory: %s" % ln)


class ReadyFileTest(khtest.KeyholeTestCase):

    def setUp(self):
        self.up = self.upstream()
        self.target = make_precious(self)

    def _check(self, kh, extra_keys):
        with open(self.target, "rb") as f:
            self.assertEqual(f.read(), PRECIOUS, "the planted symlink's target was written")
        st = os.lstat(kh.ready_path)
        self.assertTrue(stat.S_ISREG(st.st_mode), "ready file is not a regular file")
        with open(kh.ready_path) as f:
            ready = json.load(f)
        for k in extra_keys:
            self.assertIn(k, ready)
        # the planted name is left alone (not followed, not needed)
        self.assertTrue(os.path.islink(kh.ready_path + ".tmp"))
        leftovers = [n for n in os.listdir(os.path.dirname(kh.ready_path))
                     if n.endswith(".tmp") and n != os.path.basename(kh.ready_path) + ".tmp"]
        self.assertEqual(leftovers, [])

    def test_ready_file_never_follows_a_planted_tmp_symlink(self):
        kh = khtest.Keyhole(self, self.up.url, start=False)
        os.symlink(self.target, kh.ready_path + ".tmp")
        kh.start()
        kh.wait_ready()
        self._check(kh, ("port", "baseUrl"))

    def test_queue_ready_file_never_follows_a_planted_tmp_symlink(self):
        q = QueueDir(self)
        kh = keyhole_queue(self, self.up.url, q, start=False)
        os.symlink(self.target, kh.ready_path + ".tmp")
        kh.start()
        kh.wait_ready()
        self._check(kh, ("queueDir",))


class QueueDirsByDescriptorTest(khtest.KeyholeTestCase):

    def test_queue_dirs_given_to_the_child_user_by_fd(self):
        khtest.require_root("directories given to the child's user")
        strace = khuser.strace_binary()
        up = self.upstream()
        q = QueueDir(self)
        trace = os.path.join(khtest.make_tempdir(self), "strace.txt")
        kh = keyhole_queue(self, up.url, q, start=False)
        kh.argv = [strace, "-qq", "-o", trace, "-e",
                   "trace=chown,lchown,fchownat,fchown,mkdir,mkdirat"] + kh.argv
        kh.start()
        kh.wait_ready(timeout=10)
        for sub in ("requests", "processing", "responses"):
            self.assertEqual(os.stat(q.sub(sub)).st_uid, khuser.NOBODY, sub)
        lines = khuser.strace_lines(trace)
        self.assertTrue(any(ln.startswith("mkdirat(") for ln in lines), lines)
        for ln in lines:
            self.assertFalse(ln.startswith(("chown(", "lchown(", "fchownat(")),
                             "a queue directory was chown'ed by name: %s" % ln)
        self.assertTrue(any(ln.startswith("fchown(") for ln in lines), lines)
        rid = new_id()
        q.put(q.envelope(rid))
        self.assertEqual(q.wait_response(rid)["status"], 200)


if __name__ == "__main__":
    khtest.main()
