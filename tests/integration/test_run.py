#!/usr/bin/env python3
"""keyhole run [serve options] -- CMD: the bridge around one command.

CMD gets PAPERCLIP_API_URL and PAPERCLIP_API_KEY (the bridge token, never
the credential), none of keyhole's fds, its signals forwarded; keyhole
exits with CMD's status and leaves no bridge behind."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import khtest

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


class RunTest(khtest.KeyholeTestCase):
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
        p = self.run_keyhole([sys.executable, "-c", PROBE, str(code)], **kw)
        lines = [ln for ln in p.stdout.decode().splitlines() if ln.startswith("{")]
        self.assertTrue(lines, "CMD printed nothing; stderr:\n" + p.stderr.decode())
        return p, json.loads(lines[-1])

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
        marker = os.path.join(self.dir, "cmd-started")
        script = ("import os, signal, sys, time\n"
                  "signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\n"
                  "open(%r, 'w').write(str(os.getppid()))\n"
                  "time.sleep(30)\n" % marker)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERCLIP_")}
        argv = [khtest.binary("keyhole"), "run", "--policy", self.policy, "--upstream",
                self.up.url, "--credential-file", self.cred_file, "--log-format", "text",
                "--", sys.executable, "-c", script]
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
        marker = os.path.join(self.dir, "ran")
        p = self.run_keyhole(["touch", marker], args=["--no-such-option"])
        self.assertNotEqual(p.returncode, 0)
        self.assertFalse(os.path.exists(marker), "CMD ran despite a bad option")

    def test_run_without_command_is_a_usage_error(self):
        p = subprocess.run([khtest.binary("keyhole"), "run", "--policy", self.policy],
                           capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"usage: keyhole run", p.stderr)


if __name__ == "__main__":
    khtest.main()
