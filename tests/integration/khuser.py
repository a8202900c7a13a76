"""khuser: run keyhole's programs as an unprivileged user, and trace them.

The suite runs as root (CI does); these helpers let a test also check
what keyhole does when it is NOT root, and what a process of another
user can do to it:

  NOBODY, NOGROUP         uid/gid used for "another user" / "not root"
  user_dir(tc)            a temporary directory owned by that user
  as_user(argv)           argv prefixed with setpriv (uid, gid, no groups)
  keyhole_as_user(...)    a khtest.Keyhole run as that user
  SYS_PYTHON              a python3 every user may execute
  strace_binary()         strace, or a test failure naming deps.sh
"""

import os
import shutil

import khtest

NOBODY = 65534
NOGROUP = 65534
# sys.executable may live under /root (pyenv), which other users cannot
# enter; Debian's python3 (scripts/deps.sh) is world-executable.
SYS_PYTHON = "/usr/bin/python3"


def user_dir(tc, uid=NOBODY, gid=NOGROUP, mode=0o700):
    d = khtest.make_tempdir(tc)
    os.chown(d, uid, gid)
    os.chmod(d, mode)
    return d


def as_user(argv, uid=NOBODY, gid=NOGROUP):
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise AssertionError("setpriv (util-linux) is needed to run as another user")
    return [setpriv, "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups", "--"] + list(argv)


def chown_tree(path, uid=NOBODY, gid=NOGROUP):
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(root, n), uid, gid, follow_symlinks=False)


def keyhole_as_user(tc, upstream_url, wrapper=(), uid=NOBODY, gid=NOGROUP, **kw):
    """A khtest.Keyhole whose files (credential, policy, ready file,
    output) belong to uid and which runs as uid (through `wrapper` first,
    e.g. no_landlock).  Needs root; kw as for khtest.Keyhole."""
    khtest.require_root("running keyhole as another user")
    start = kw.pop("start", True)
    wait_ready = kw.pop("wait_ready", True)
    kh = khtest.Keyhole(tc, upstream_url, start=False, **kw)
    chown_tree(kh.dir, uid, gid)
    kh.argv = list(wrapper) + as_user(kh.argv, uid, gid)
    if start:
        kh.start()
        if wait_ready and kh.ready_path is not None:
            kh.wait_ready()
    return kh


def strace_binary():
    path = shutil.which("strace")
    if path is None:
        raise AssertionError("strace is needed for this test: scripts/deps.sh installs it")
    return path


def strace_lines(path):
    with open(path, "r", errors="replace") as f:
        return f.read().splitlines()
