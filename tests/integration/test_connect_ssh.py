#!/usr/bin/env python3
"""http2_v1 over a real remote channel: `ssh` to an OpenSSH server on
127.0.0.1 (throwaway host and user keys, its own config, khssh.py), into
a "sandbox": a network namespace this test creates with only loopback,
where the gateway runs.  An agent inside the namespace calls
http://127.0.0.1:PORT/api/agents/me and reaches the test upstream
through ssh and keyhole, and cannot reach the upstream directly.

The command is script mode: `ssh -T ... ip netns exec NS sh` reads the
settings (token included: never in an argv, ssh would drop the
environment anyway) and the gateway's command from its stdin.

Which gateway: both.  ConnectSshTest runs Paperclip's own (under node;
KEYHOLE_H2_GATEWAY_CMD, a shell command run in the namespace, replaces
it); ConnectSshKeyholeGatewayTest runs every case again with the static
keyhole-gateway (build/keyhole-gateway-static) in the namespace.

Faults: the command (ssh) killed mid-request; sshd killed (every sshd
process), then started again: keyhole logs each, reconnects with
back-off, never exits."""

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase, make_tempdir  # noqa: E402
from khconnect import keyhole_connect, paperclip_h2_gateway  # noqa: E402
from khssh import Sshd  # noqa: E402

AGENT = r"""
import json, sys, urllib.request
port, token, path = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path),
                             headers={"Authorization": "Bearer " + token})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(json.dumps({"status": r.status, "body": r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode()}))
"""

DIRECT = r"""
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
    print("connected")
except OSError as e:
    print("refused: %s" % e)
"""


def descendants(pid):
    out, todo = set(), [pid]
    while todo:
        for k in khtest.proc_children(todo.pop()):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


class ConnectSshTest(KeyholeTestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.fail("the ssh test needs root (ip netns add, sshd): run the suite as "
                      "root, as CI does")
        self.d = make_tempdir(self)
        self.ns = "kh-ssh-%d" % os.getpid()
        subprocess.run(["ip", "netns", "add", self.ns], check=True, timeout=10)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", self.ns], timeout=10)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True, timeout=10)
        self.sshd = Sshd(self, self.d)
        self.pidfile = os.path.join(self.d, "gateway.pid")
        self.addCleanup(self.kill_gateway)
        gw = self.gateway()
        # The gateway's pid, so the test can play the sandbox's cleanup
        # after a lost channel (Paperclip's gateway outlives it: W8).
        self.gateway_cmd = "sh -c %s" % shlex.quote(
            "echo $$ > %s; %s" % (self.pidfile, gw))

    def gateway(self):
        return os.environ.get("KEYHOLE_H2_GATEWAY_CMD") or paperclip_h2_gateway()

    def kill_gateway(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def in_ns(self, args, timeout=20):
        return subprocess.run(["ip", "netns", "exec", self.ns] + args, capture_output=True,
                              timeout=timeout)

    def agent(self, kh, path="/api/agents/me"):
        p = self.in_ns([sys.executable, "-c", AGENT, str(kh.gw_port), kh.token, path])
        self.assertEqual(p.returncode, 0, p.stderr)
        import json
        return json.loads(p.stdout)

    def start(self):
        up = self.upstream()
        cmd = self.sshd.ssh_cmd("ip netns exec %s sh" % self.ns)
        kh = keyhole_connect(self, up, cmd, args=["--gateway-cmd", self.gateway_cmd])
        kh.wait_log("connect: gateway ready", timeout=20)
        return up, kh

    def wait_agent_ok(self, kh, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            r = self.agent(kh)
            if r["status"] == 200:
                return r
            if time.monotonic() > deadline:
                self.fail("agent never got 200: %r\n%s" % (r, kh.output_text()[-3000:]))
            time.sleep(0.3)

    def test_agent_in_namespace_reaches_upstream_only_through_ssh_and_keyhole(self):
        up, kh = self.start()
        r = self.wait_agent_ok(kh)
        self.assertEqual(r["body"], '{"ok":true}')
        rec = up.wait_requests(1)[-1]
        self.assertEqual(rec.path, "/api/agents/me")
        self.assertEqual(rec.header("authorization"), "Bearer " + kh.credential)
        # Denied routes are denied the same way.
        r = self.agent(kh, "/api/companies/c1/secrets")
        self.assertEqual(r["status"], 403, r)
        # The upstream itself is out of the namespace's reach.
        p = self.in_ns([sys.executable, "-c", DIRECT, str(up.port)])
        self.assertIn("refused", p.stdout.decode(), p.stdout)
        # ... though it listens (from outside the namespace it connects).
        khtest.Conn(up.port, timeout=2).close()
        # The token crossed ssh on stdin, never in an argv.
        for pid in descendants(kh.pid) | descendants(self.sshd.proc.pid):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    self.assertNotIn(kh.token.encode(), f.read())
            except FileNotFoundError:
                pass

    def command_pid(self, kh):
        for ln in reversed(kh.stderr_lines()):
            m = re.search(r"connect: started command pid=(\d+)", ln)
            if m:
                return int(m.group(1))
        self.fail("no command started")

    def test_ssh_killed_mid_request_then_sshd_killed(self):
        up, kh = self.start()
        self.wait_agent_ok(kh)
        n0 = up.count()
        up.slow_seconds = 2.0
        got = {}
        t = threading.Thread(target=lambda: got.update(r=self.agent(kh, "/slow/a")))
        t.start()
        up.wait_requests(n0 + 1)
        pid = self.command_pid(kh)
        os.kill(pid, signal.SIGKILL)
        kh.wait_log("connect: command pid=%d killed by signal 9" % pid)
        t.join(20)
        # Paperclip's gateway answers a stream its lost session cut 502.
        self.assertIn(got.get("r", {}).get("status"), (502, 503), got)
        self.kill_gateway()             # the sandbox cleans up its gateway
        kh.wait_log("connect: gateway ready", count=2, timeout=30)
        self.wait_agent_ok(kh)
        # sshd killed: every connection and the listener.
        self.sshd.kill_all()
        kh.wait_log(lambda ln: "connect: command pid=" in ln and "exited (status 255)" in ln,
                    timeout=30)
        self.kill_gateway()
        self.assertTrue(kh.alive())
        time.sleep(1)                   # reconnects fail meanwhile, backing off
        self.assertTrue(kh.alive())
        self.sshd.start()
        kh.wait_log("connect: gateway ready", count=3, timeout=60)
        self.wait_agent_ok(kh)
        self.assertTrue(kh.alive())


class ConnectSshKeyholeGatewayTest(ConnectSshTest):
    """The same cases with keyhole-gateway's static build as the gateway
    (a sanitizer build has none: its keyhole-gateway then)."""

    def gateway(self):
        gw = os.path.join(khtest.BUILD, "keyhole-gateway-static")
        if not os.path.isfile(gw) and khtest.sanitizer_build():
            gw = khtest.binary("keyhole-gateway")
        self.assertTrue(os.access(gw, os.X_OK), "%s is not built" % gw)
        return shlex.quote(gw)


if __name__ == "__main__":
    import unittest
    unittest.main()
