#!/usr/bin/env python3
"""Sandbox: the running child (keyhole-net) is confined as docs/design.md says (SECURITY.md I10),
seen from outside through /proc, and the parent is confined too."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

ZERO_CAPS = "0000000000000000"


class SandboxTest(KeyholeTestCase):

    def setUp(self):
        self.up = self.upstream()
        self.kh = self.keyhole(self.up.url)
        # Serve one request first: the child is past its start-up steps.
        self.assertEqual(self.kh.request("GET", "/api/agents/me").status, 200)
        self.child = self.kh.child_pid()
        self.status = khtest.proc_status(self.child)

    def test_child_has_seccomp_filter(self):
        self.assertEqual(self.status["Seccomp"], "2", khtest.proc_status_raw(self.child))

    def test_child_has_no_new_privs(self):
        self.assertEqual(self.status["NoNewPrivs"], "1")

    def test_child_has_no_capabilities(self):
        for field in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
            with self.subTest(field=field):
                self.assertEqual(self.status[field], ZERO_CAPS)

    def test_child_bounding_set_is_empty(self):
        # Dropping the bounding set needs CAP_SETPCAP: only a root-started
        # keyhole can (and must) do it.
        khtest.require_root("checking that the child emptied its bounding set")
        self.assertEqual(self.status["CapBnd"], ZERO_CAPS)

    def test_child_runs_as_unprivileged_user(self):
        khtest.require_root("checking that the child dropped root")
        uids = self.status["Uid"].split()
        gids = self.status["Gid"].split()
        self.assertEqual(len(uids), 4)
        for v in uids + gids:
            self.assertNotEqual(v, "0", "Uid: %s Gid: %s" % (uids, gids))
        groups = self.status.get("Groups", "").split()
        self.assertNotIn("0", groups, "supplementary groups must be dropped")

    def test_child_is_chrooted(self):
        khtest.require_root("checking the child's chroot")
        root = os.readlink("/proc/%d/root" % self.child)
        self.assertNotEqual(root, "/")
        # An empty directory: nothing to read in there.
        self.assertEqual(os.listdir("/proc/%d/root/" % self.child), [])

    def test_child_environment_is_empty(self):
        env = self._environ()
        if env is None:
            khtest.require_root("reading another user's /proc/PID/environ")
            self.fail("root cannot read /proc/%d/environ" % self.child)
        self.assertEqual(env, b"")

    def _environ(self):
        try:
            with open("/proc/%d/environ" % self.child, "rb") as f:
                return f.read()
        except PermissionError:
            return None

    def test_child_is_not_the_parent_binary(self):
        # fork + exec: a fresh image, never a fork of the parent's memory.
        self.assertEqual(khtest.proc_comm(self.child), "keyhole-net")
        exe = os.readlink("/proc/%d/exe" % self.child) if khtest.IS_ROOT else None
        if exe is not None:
            self.assertTrue(exe.endswith("keyhole-net"), exe)

    def test_parent_has_seccomp_filter(self):
        st = khtest.proc_status(self.kh.pid)
        self.assertEqual(st["Seccomp"], "2", khtest.proc_status_raw(self.kh.pid))


if __name__ == "__main__":
    khtest.main()
