#!/usr/bin/env python3
"""The shipped systemd units are valid (systemd-analyze verify) and keep
their hardening (systemd-analyze security --offline: exposure at most 3.0)."""
import os
import re
import shutil
import subprocess
import unittest

import khtest


class UnitTest(unittest.TestCase):
    def setUp(self):
        if shutil.which("systemd-analyze") is None:
            self.fail("systemd-analyze is needed: scripts/deps.sh installs the systemd package")
        self.dir = khtest.make_tempdir(self)
        src = os.path.join(os.environ["KEYHOLE_SRC"], "systemd")
        for name in ("keyhole@.service", "keyhole@.socket"):
            with open(os.path.join(src, name)) as f:
                text = f.read()
            # Point ExecStart at the binary under test; the unit ships with
            # the install path.
            text = text.replace("/usr/local/bin/keyhole", khtest.binary("keyhole"))
            with open(os.path.join(self.dir, name.replace("@", "@ci")), "w") as f:
                f.write(text)
        self.service = os.path.join(self.dir, "keyhole@ci.service")
        self.socket = os.path.join(self.dir, "keyhole@ci.socket")

    def test_units_verify(self):
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", self.service, self.socket],
                           capture_output=True, timeout=60, cwd=self.dir)
        out = (p.stdout + p.stderr).decode()
        self.assertEqual(p.returncode, 0, out)
        bad = [ln for ln in out.splitlines() if "keyhole@ci" in ln]
        self.assertEqual(bad, [], out)

    def test_service_hardening_exposure(self):
        p = subprocess.run(["systemd-analyze", "security", "--offline=true", self.service],
                           capture_output=True, timeout=60, cwd=self.dir)
        out = (p.stdout + p.stderr).decode()
        m = re.search(r"Overall exposure level for keyhole@ci\.service: ([0-9.]+)", out)
        self.assertIsNotNone(m, out[-2000:])
        self.assertLessEqual(float(m.group(1)), 3.0, out[-3000:])

    def test_service_is_notify_with_credential_and_socket(self):
        with open(self.service) as f:
            text = f.read()
        for want in ("Type=notify", "LoadCredential=keyhole-credential:",
                     "Requires=keyhole@%i.socket", "NoNewPrivileges=yes",
                     "SystemCallArchitectures=native"):
            self.assertIn(want, text)

    def test_service_watchdog_outlasts_a_child_restart(self):
        # keyhole feeds the watchdog only while its child answers pings
        # (it.test_liveness); the period must leave room for keyhole to kill
        # a stuck child (default --child-timeout-ms 10 s + a quarter) and
        # restart it (back-off), or systemd would restart the whole service
        # for a child keyhole recovers by itself.
        with open(self.service) as f:
            m = re.search(r"^WatchdogSec=(\d+)s$", f.read(), re.M)
        self.assertIsNotNone(m, "WatchdogSec= missing")
        self.assertGreaterEqual(int(m.group(1)), 10 * 1.25 + 5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
