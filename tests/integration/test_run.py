#!/usr/bin/env python3
"""keyhole run [serve options] -- CMD: the bridge around one command.

CMD gets PAPERCLIP_API_URL and PAPERCLIP_API_KEY (the bridge token, never
the credential), none of keyhole's fds, its signals forwarded; keyhole
exits with CMD's status and leaves no bridge behind.

CMD is the sandbox's side: started as root, keyhole runs it as --cmd-user
(nobody) with no capability and no way back; not root, it says that CMD
can read what the bridge's user can.  Either way CMD cannot learn the
credential file's path from /proc (cmdline, environ) of keyhole run or the
bridge.

CMD runs as nobody here, so it is Debian's world-executable python3
(khuser.SYS_PYTHON), not the test's own interpreter."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import khtest
import khuser

# CMD used by most tests: report its environment and fds, call the bridge.
PROBE = r'''
import json, os, sys, urllib.request
url = os.environ.get("PAPERCLIP_API_URL", "")
key = os.environ.get("PAPERCLIP_API_KEY", "")
status = None
try:
    req = urllib.request.Request(url + "/api/agents/me", headers={"Authorization": "Bearer " + key})
    status = urllib.request.urlopen(req, timeout=5).status
except Exception as e:
    status = repr(e)
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
print(json.dumps({"url": url, "key": key, "status": status, "env": dict(os.environ), "fds": fds}))
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
'''


class RunBase(khtest.KeyholeTestCase):
    def setUp(self):
        self.up = self.upstream()
        self.dir = khtest.make_tempdir(self)
        self.cred = khtest.new_credential()
        self.cred_file = os.path.join(self.dir, "credential")
        fd = os.open(self.cred_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, self.cred.encode())
        os.close(fd)
        self.policy = os.path.join(self.dir, "run.policy")
        with open(self.policy, "w") as f:
            f.write(khtest.TEST_POLICY)

    def run_keyhole(self, cmd, env_extra=None, cred_via_env=False, timeout=30, args=()):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PAPERCLIP_") and k != "KEYHOLE_CREDENTIAL"}
        argv = [khtest.binary("keyhole"), "run", "--policy", self.policy,
                "--upstream", self.up.url, "--log-format", "text"] + list(args)
        if cred_via_env:
            env["KEYHOLE_CREDENTIAL"] = self.cred
        else:
            argv += ["--credential-file", self.cred_file]
        env.update(env_extra or {})
        argv += ["--"] + cmd
        p = subprocess.run(argv, env=env, capture_output=True, timeout=timeout)
        return p

    def probe(self, code=0, **kw):
        p = self.run_keyhole([khuser.SYS_PYTHON, "-c", PROBE, str(code)], **kw)
        lines = [ln for ln in p.stdout.decode().splitlines() if ln.startswith("{")]
        self.assertTrue(lines, "CMD printed nothing; stderr:\n" + p.stderr.decode())
        return p, json.loads(lines[-1])



class RunTest(RunBase):

    def test_run_gives_cmd_bridge_url_and_token_and_its_exit_status(self):
        p, out = self.probe(code=3)
        self.assertEqual(p.returncode, 3, p.stderr.decode())
        self.assertEqual(out["status"], 200, out)
        self.assertTrue(out["url"].startswith("http://127.0.0.1:"), out)
        self.assertGreaterEqual(len(out["key"]), 32)
        self.assertNotEqual(out["key"], self.cred)
        # The upstream got the real credential, CMD never saw it.
        self.assertEqual(self.up.count(), 1)
        self.assertEqual(self.up.snapshot()[0].header("authorization"), "Bearer " + self.cred)

    def test_run_never_puts_credential_in_cmd_environment(self):
        for via_env in (False, True):
            p, out = self.probe(cred_via_env=via_env)
            self.assertEqual(out["status"], 200, p.stderr.decode())
            dump = json.dumps(out["env"])
            self.assertNotIn(self.cred, dump)
            for k in ("KEYHOLE_CREDENTIAL", "CREDENTIALS_DIRECTORY", "PAPERCLIP_BRIDGE_TOKEN"):
                self.assertNotIn(k, out["env"])
            self.assertNotIn(self.cred.encode(), p.stdout + p.stderr)

    def test_run_cmd_gets_no_systemd_notify_or_watchdog(self):
        # The service's notification socket and watchdog are keyhole's:
        # CMD must not feed (or starve) systemd's watchdog.
        p, out = self.probe(env_extra={"NOTIFY_SOCKET": "/nonexistent/notify",
                                       "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"})
        self.assertEqual(out["status"], 200, p.stderr.decode())
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            self.assertNotIn(k, out["env"])

    def test_run_uses_the_configured_token(self):
        tok = khtest.new_token()
        p, out = self.probe(env_extra={"PAPERCLIP_BRIDGE_TOKEN": tok})
        self.assertEqual(out["key"], tok)
        self.assertEqual(out["status"], 200, p.stderr.decode())

    def test_run_cmd_inherits_no_keyhole_fds(self):
        p, out = self.probe()
        # 0-2, plus the one listdir itself holds open.
        self.assertLessEqual(max(out["fds"]), 3, out["fds"])
        self.assertEqual(out["fds"][:3], [0, 1, 2])

    def test_run_exit_status_of_killed_cmd_is_128_plus_signal(self):
        p = self.run_keyhole(["sh", "-c", "kill -TERM $$"])
        self.assertEqual(p.returncode, 128 + signal.SIGTERM, p.stderr.decode())

    def test_run_forwards_sigterm_and_tears_the_bridge_down(self):
        marker = os.path.join(khuser.user_dir(self, mode=0o777), "cmd-started")
        script = ("import os, signal, sys, time\n"
                  "signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\n"
                  "open(%r, 'w').write(str(os.getppid()))\n"
                  "time.sleep(30)\n" % marker)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERCLIP_")}
        argv = [khtest.binary("keyhole"), "run", "--policy", self.policy, "--upstream",
                self.up.url, "--credential-file", self.cred_file, "--log-format", "text",
                "--", khuser.SYS_PYTHON, "-c", script]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        khtest.wait_until(lambda: os.path.exists(marker) and os.path.getsize(marker) > 0,
                          15, "CMD to start")
        bridge = [k for k in khtest.proc_children(proc.pid) if khtest.proc_comm(k) == "keyhole"]
        self.assertEqual(len(bridge), 1, "expected one bridge process under keyhole run")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, 7, err.decode())
        khtest.wait_until(lambda: not khtest.pid_alive(bridge[0]), 5, "the bridge to exit")

    def test_run_bridge_gone_after_cmd_exits(self):
        p, out = self.probe()
        port = int(out["url"].rsplit(":", 1)[1])
        import socket
        s = socket.socket()
        s.settimeout(2)
        with self.assertRaises(OSError):
            s.connect(("127.0.0.1", port))
        s.close()

    def test_run_bad_option_fails_before_cmd_runs(self):
        marker = os.path.join(khuser.user_dir(self, mode=0o777), "ran")
        p = self.run_keyhole(["touch", marker], args=["--no-such-option"])
        self.assertNotEqual(p.returncode, 0)
        self.assertFalse(os.path.exists(marker), "CMD ran despite a bad option")

    def test_run_without_command_is_a_usage_error(self):
        p = subprocess.run([khtest.binary("keyhole"), "run", "--policy", self.policy],
                           capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"usage: keyhole run", p.stderr)


# CMD's view of itself and of the two keyhole processes above it: its ids,
# capabilities, whether it can read the credential file, and every byte of
# /proc/PID/{cmdline,environ} of `keyhole run` (its parent) and the bridge
# (the parent's other keyhole child) that it is allowed to read.
SPY = r'''
import json, os, sys
cred_file = open(sys.argv[1]).read()
def status():
    out = {}
    for ln in open("/proc/self/status"):
        k, _, v = ln.partition(":")
        out[k] = v.strip()
    return out
def children(pid):
    kids = set()
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            kids.update(int(x) for x in open("/proc/%d/task/%s/children" % (pid, tid)).read().split())
        except OSError:
            pass
    return kids
run = os.getppid()
procs = [run] + [k for k in children(run) if k != os.getpid()]
seen = {}
for pid in procs:
    for name in ("cmdline", "environ"):
        try:
            seen["%d/%s" % (pid, name)] = open("/proc/%d/%s" % (pid, name), "rb").read().decode("latin-1")
        except OSError as e:
            seen["%d/%s" % (pid, name)] = "unreadable: %s" % e.strerror
try:
    open(cred_file).read()
    cred = "readable"
except OSError as e:
    cred = e.strerror
print(json.dumps({"resuid": os.getresuid(), "resgid": os.getresgid(), "groups": os.getgroups(),
                  "status": status(), "cred": cred, "procs": procs, "seen": seen}))
'''

ZERO_CAPS = "0000000000000000"


class RunCmdIsolationTest(RunBase):

    def spy(self, args=(), as_nobody=False, cred_via="file"):
        """Run keyhole run -- SPY; returns (process, SPY's report)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PAPERCLIP_") and k not in
               ("KEYHOLE_CREDENTIAL", "CREDENTIALS_DIRECTORY")}
        argv = [khtest.binary("keyhole"), "run", "--policy", self.policy,
                "--upstream", self.up.url, "--log-format", "text"] + list(args)
        if cred_via == "file":
            argv += ["--credential-file", self.cred_file]
        else:
            env["CREDENTIALS_DIRECTORY"] = self.dir
            os.rename(self.cred_file, os.path.join(self.dir, "keyhole-credential"))
            self.cred_file = os.path.join(self.dir, "keyhole-credential")
        # The credential's path reaches SPY through a file, not through
        # keyhole run's own argv or environment.
        spyin = os.path.join(khuser.user_dir(self, mode=0o755), "spy-input")
        with open(spyin, "w") as f:
            f.write(self.cred_file)
        os.chmod(spyin, 0o644)
        argv += ["--", khuser.SYS_PYTHON, "-c", SPY, spyin]
        if as_nobody:
            khuser.chown_tree(self.dir)
            argv = khuser.as_user(argv)
        p = subprocess.run(argv, env=env, capture_output=True, timeout=30)
        lines = [ln for ln in p.stdout.decode().splitlines() if ln.startswith("{")]
        self.assertTrue(lines, "CMD printed nothing (exit %d); stderr:\n%s"
                        % (p.returncode, p.stderr.decode()))
        return p, json.loads(lines[-1])

    def assertCannotLearnCredential(self, out):
        self.assertGreaterEqual(len(out["procs"]), 2, "the bridge was not found: %r" % out)
        for where, data in out["seen"].items():
            self.assertNotIn(self.cred_file, data, "credential path in /proc/%s" % where)
            self.assertNotIn(self.dir, data, "credential directory in /proc/%s" % where)
            self.assertNotIn(self.cred, data, "credential in /proc/%s" % where)

    def test_run_as_root_cmd_runs_as_cmd_user_without_privileges(self):
        khtest.require_root("keyhole run as root")
        p, out = self.spy()
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(out["resuid"], [khuser.NOBODY] * 3)
        self.assertEqual(out["resgid"], [khuser.NOGROUP] * 3)
        self.assertEqual(out["groups"], [])
        for field in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
            self.assertEqual(out["status"][field], ZERO_CAPS, field)
        self.assertEqual(out["status"]["NoNewPrivs"], "1")
        self.assertEqual(out["cred"], "Permission denied")

    def test_run_cmd_user_option(self):
        khtest.require_root("keyhole run as root")
        p, out = self.spy(args=["--cmd-user", "daemon"])
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(out["resuid"][0], 1)
        # root only when asked for, and said out loud
        p, out = self.spy(args=["--cmd-user", "root"])
        self.assertEqual(out["resuid"], [0, 0, 0])
        self.assertIn(b"CMD runs as root", p.stderr)
        # an unknown user is an error before anything runs
        marker = os.path.join(khuser.user_dir(self, mode=0o777), "ran")
        q = self.run_keyhole(["touch", marker], args=["--cmd-user", "no-such-user-kh"])
        self.assertEqual(q.returncode, 2, q.stderr.decode())
        self.assertIn(b"no-such-user-kh", q.stderr)
        self.assertFalse(os.path.exists(marker))

    def test_run_cmd_cannot_learn_the_credential_path_as_root(self):
        khtest.require_root("keyhole run as root")
        p, out = self.spy()
        self.assertCannotLearnCredential(out)

    def test_run_cmd_cannot_learn_the_credential_path_not_root(self):
        # Same uid as the bridge: CMD could read the file if it knew where
        # it is (that much is the documented limit), but /proc must not
        # tell it: both keyhole processes are not dumpable, and their
        # cmdlines no longer carry the serve options.
        for via in ("file", "credentials-dir"):
            with self.subTest(via=via):
                p, out = self.spy(as_nobody=True, cred_via=via)
                self.assertEqual(out["resuid"], [khuser.NOBODY] * 3)
                self.assertCannotLearnCredential(out)
                self.setUp()

    def test_run_not_root_says_cmd_shares_the_bridge_user(self):
        p, out = self.spy(as_nobody=True)
        err = p.stderr.decode()
        self.assertIn("not running as root", err)
        self.assertIn("can read every file", err)
        self.assertIn("bubblewrap", err)
        rc, help_out, _ = khtest.run_keyhole(["--help"])
        self.assertIn("--cmd-user", help_out)
        self.assertIn("bubblewrap", help_out)


if __name__ == "__main__":
    khtest.main()
