#!/usr/bin/env python3
"""`keyhole serve --connect CMD`: what the command gets, and the script
mode that carries the gateway's settings (and the gateway itself) over a
channel that drops the environment.

  - CMD's environment is built from nothing: PATH, the gateway's
    PAPERCLIP_* settings (token, host, port, a fresh 32-hex nonce per
    session, max body), and only the names --connect-keep-env lists; never
    the credential nor any of keyhole's own environment;
  - CMD has fds 0-2 only (pipes), and runs in its own process group;
  - the launcher that runs CMD never held the credential (keyhole got it
    in its environment here, the hardest case): its memory does not
    contain it;
  - script mode (--gateway-cmd, --gateway-upload): the settings arrive on
    CMD's stdin, never in an argv (Paperclip's W1); the uploaded gateway
    is written only when its hash differs, under a temporary name,
    verified, then renamed;
  - a command's exit is logged with its pid and status even when the
    launcher's report reaches the parent while the next session starts."""

import hashlib
import os
import re
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase, make_tempdir, request, scan_process_memory  # noqa: E402
from khconnect import keyhole_connect, paperclip_h2_gateway, wait_gateway  # noqa: E402


class ConnectCommandTest(KeyholeTestCase):

    def test_command_gets_settings_only_never_the_credential(self):
        d = make_tempdir(self)
        cmd = ("env > %s/env; cat /proc/$$/cmdline > %s/cmdline; "
               "ps -o pgid= -p $$ > %s/pgid; echo $$ > %s/pid; exec sleep 30") % ((d,) * 4)
        up = self.upstream()
        kh = keyhole_connect(self, up, cmd, credential_via="env",
                             env={"KH_SECRET_LOOKALIKE": "x", "HOME": "/root",
                                  "KEEPME": "kept"},
                             args=["--connect-keep-env", "KEEPME"])
        khtest.wait_until(lambda: os.path.exists(d + "/pid") and
                          os.path.getsize(d + "/pid") > 0, 10, "the command's files")
        with open(d + "/env") as f:
            env = dict(ln.rstrip("\n").split("=", 1) for ln in f if "=" in ln)
        allowed = {"PATH", "KEEPME", "PAPERCLIP_API_BRIDGE_MODE", "PAPERCLIP_BRIDGE_TOKEN",
                   "PAPERCLIP_BRIDGE_HOST", "PAPERCLIP_BRIDGE_PORT",
                   "PAPERCLIP_BRIDGE_NONCE", "PAPERCLIP_BRIDGE_MAX_BODY_BYTES",
                   "PWD", "SHLVL", "_", "OLDPWD"}     # the last four: sh's own
        self.assertLessEqual(set(env), allowed, env)
        self.assertEqual(env["PAPERCLIP_API_BRIDGE_MODE"], "http2_v1")
        self.assertEqual(env["PAPERCLIP_BRIDGE_TOKEN"], kh.token)
        self.assertEqual(env["PAPERCLIP_BRIDGE_PORT"], str(kh.gw_port))
        self.assertEqual(env["PAPERCLIP_BRIDGE_HOST"], "127.0.0.1")
        self.assertRegex(env["PAPERCLIP_BRIDGE_NONCE"], r"^[0-9a-f]{32}$")
        self.assertEqual(env["KEEPME"], "kept")
        for v in env.values():
            self.assertNotIn(kh.credential, v)
        with open(d + "/cmdline", "rb") as f:
            self.assertNotIn(kh.credential.encode(), f.read())
        with open(d + "/pid") as f:
            pid = int(f.read())
        # The command itself (sh exec'd sleep): fds 0-2, the three pipes.
        khtest.wait_until(lambda: khtest.proc_comm(pid) == "sleep", 5, "exec sleep")
        fds = sorted(os.listdir("/proc/%d/fd" % pid), key=int)
        self.assertEqual(fds, ["0", "1", "2"])
        for fd in fds:
            self.assertTrue(os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("pipe:"))
        with open(d + "/pgid") as f:
            self.assertEqual(int(f.read()), pid)   # its own process group
        # The launcher (keyhole's other child, `keyhole connect-launcher`)
        # never held the credential.
        launcher = kh.children("keyhole-connect")
        self.assertEqual(len(launcher), 1, launcher)
        with open("/proc/%d/cmdline" % launcher[0], "rb") as f:
            self.assertEqual(f.read(), b"keyhole\0connect-launcher\0")
        found, stats = scan_process_memory(launcher[0], [kh.credential.encode()])
        self.assertGreater(stats["bytes"], 0)
        self.assertEqual(found, {}, "the credential is in the launcher's memory")
        # The command: no credential; the token is there (its environment:
        # the scan sees what is present).
        found, stats = scan_process_memory(pid, [kh.credential.encode(), kh.token.encode()])
        self.assertNotIn(kh.credential.encode(), found)
        self.assertIn(kh.token.encode(), found)

    def test_nonce_is_fresh_per_session(self):
        d = make_tempdir(self)
        cmd = "echo $PAPERCLIP_BRIDGE_NONCE >> %s/nonces; exit 3" % d
        up = self.upstream()
        kh = keyhole_connect(self, up, cmd)
        kh.wait_log("connect: command pid=", count=2, timeout=10)
        kh.wait_log("exited (status 3)")
        with open(d + "/nonces") as f:
            nonces = f.read().split()
        self.assertGreaterEqual(len(nonces), 2)
        self.assertEqual(len(set(nonces)), len(nonces), nonces)

    def test_exit_reported_while_next_session_starts(self):
        # The launcher's exit report of the old command can arrive while
        # the parent waits for the next session's answer (the launcher
        # polls every 100 ms, the restart comes 100 ms after the child's
        # end).  Forced here: the launcher is stopped while the command
        # dies and the next session is asked for; the report must still
        # be logged with the command's pid and signal.
        d = make_tempdir(self)
        cmd = "echo $$ > %s/pid; exec sleep 30" % d
        up = self.upstream()
        kh = keyhole_connect(self, up, cmd)
        khtest.wait_until(lambda: os.path.exists(d + "/pid") and
                          os.path.getsize(d + "/pid") > 0, 10, "the command's pid")
        with open(d + "/pid") as f:
            pid = int(f.read())
        launcher = kh.children("keyhole-connect")
        self.assertEqual(len(launcher), 1, launcher)
        os.kill(launcher[0], signal.SIGSTOP)
        try:
            os.kill(pid, signal.SIGKILL)
            kh.wait_log("restarting child in")
            time.sleep(0.5)     # the parent now waits for the launcher
        finally:
            os.kill(launcher[0], signal.SIGCONT)
        kh.wait_log("connect: command pid=%d killed by signal 9" % pid)
        kh.wait_log("connect: started command pid=", count=2)
        self.assertTrue(kh.alive())

    def test_script_mode_with_upload(self):
        d = make_tempdir(self)
        gw = os.path.join(d, "gateway.sh")
        with open(gw, "w") as f:
            f.write("#!/bin/sh\n%s\n" % paperclip_h2_gateway())
        remote = os.path.join(d, "sandbox", "bin", "gw")
        up = self.upstream()
        # CMD is a plain shell reading its stdin, as `ssh -T host sh` is.
        kh = keyhole_connect(self, up, "exec sh",
                             args=["--gateway-upload", gw, "--gateway-path", remote])
        wait_gateway(kh)
        kh.wait_log("connect: stderr: keyhole: gateway uploaded")
        with open(gw, "rb") as a, open(remote, "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(stat.S_IMODE(os.stat(remote).st_mode), 0o700)
        self.assertEqual([n for n in os.listdir(os.path.dirname(remote))], ["gw"])
        r = request(kh.gw_port, "GET", "/api/agents/me", token=kh.token)
        self.assertEqual(r.status, 200, r)
        # The token never in an argv: every process of the session.
        for pid in self.session_pids(kh):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    self.assertNotIn(kh.token.encode(), f.read())
            except FileNotFoundError:
                pass
        # Next session: same hash, nothing written.
        self.restart_session(kh)
        kh.wait_log("connect: stderr: keyhole: gateway up to date", timeout=15)
        wait_gateway(kh)
        # A changed file in the sandbox is replaced.
        with open(remote, "w") as f:
            f.write("#!/bin/sh\necho tampered >&2\nexit 1\n")
        self.restart_session(kh)
        kh.wait_log("connect: stderr: keyhole: gateway uploaded", count=2, timeout=15)
        wait_gateway(kh)
        with open(gw, "rb") as a, open(remote, "rb") as b:
            self.assertEqual(a.read(), b.read())

    def session_pids(self, kh):
        out = []
        for ln in kh.stderr_lines():
            m = re.search(r"connect: started command pid=(\d+)", ln)
            if m:
                out.append(int(m.group(1)))
        pids = []
        for p in out:
            pids.append(p)
            pids += list(khtest.proc_children(p))
        return pids

    def restart_session(self, kh):
        n = sum(1 for ln in kh.stderr_lines() if "connect: gateway ready" in ln)
        pid = self.session_pids(kh)[-1] if False else None
        for ln in reversed(kh.stderr_lines()):
            m = re.search(r"connect: started command pid=(\d+)", ln)
            if m:
                pid = int(m.group(1))
                break
        os.kill(pid, signal.SIGKILL)
        kh.wait_log("connect: gateway ready", count=n + 1, timeout=20)


if __name__ == "__main__":
    import unittest
    unittest.main()
