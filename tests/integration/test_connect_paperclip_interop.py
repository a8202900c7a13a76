#!/usr/bin/env python3
"""Interop, http2_v1: Paperclip's OWN in-sandbox gateway (the npm
package's getSandboxCallbackBridgeServerSource(), under node, in
http2_v1 mode: PAPERCLIP_API_BRIDGE_MODE=http2_v1, its READY line, h2c
over its stdio) against keyhole's host side, `keyhole serve --connect
CMD`.  The agent speaks HTTP/1.1 to the gateway on 127.0.0.1:PORT; every
stream it opens goes through keyhole-net's decision (decide.c) and the
parent's re-check, exactly as an HTTP request would.

Allowed, denied, bad token, large body, indeterminate mutation, shutdown
(GOAWAY, in-flight answered), the command killed mid-request (logged,
reconnected), and what the command gets: never the credential."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import BODY_401, KeyholeTestCase, body_403, request  # noqa: E402
from khconnect import keyhole_connect, paperclip_h2_gateway, wait_gateway  # noqa: E402

POLICY = khtest.TEST_POLICY + "allow POST /api/issues/*/small max-body 1024\n"


class PaperclipH2GatewayInteropTest(KeyholeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.gw = paperclip_h2_gateway()

    def start(self, args=(), **kw):
        up = self.upstream()
        kh = keyhole_connect(self, up, self.gw, policy=POLICY, run_id="run-7",
                             args=args, **kw)
        wait_gateway(kh)
        return up, kh

    def test_allowed_get_reaches_upstream_with_the_credential_not_the_token(self):
        up, kh = self.start()
        r = request(kh.gw_port, "GET", "/api/agents/me", token=kh.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"ok": True})
        self.assertEqual(r.header("etag"), '"v1"')
        self.assertIsNone(r.header("set-cookie"))       # not on the allowlist
        (rec,) = up.wait_requests(1)
        self.assertEqual(rec.header("authorization"), "Bearer " + kh.credential)
        self.assertEqual(rec.header("x-paperclip-run-id"), "run-7")
        self.assertNotIn(kh.token, repr(rec.headers))
        self.assertIsNone(rec.header("accept-encoding"))
        kh.wait_log("peer=connect:1 method=GET path=/api/agents/me")

    def test_post_body_bytes_unchanged(self):
        up, kh = self.start()
        body = json.dumps({"body": "hello \u00e9 " + "x" * 200}).encode()
        r = request(kh.gw_port, "POST", "/api/issues/ISS-1/comments", token=kh.token,
                    body=body)
        self.assertEqual(r.status, 200, r)
        (rec,) = up.wait_requests(1)
        self.assertEqual(rec.body, body)
        self.assertEqual(rec.header("content-type"), "application/json")

    def test_denied_route_403_from_keyhole(self):
        up, kh = self.start()
        r = request(kh.gw_port, "DELETE", "/api/issues/ISS-1", token=kh.token)
        self.assertJsonError(r, 403, body_403("DELETE", "/api/issues/ISS-1"))
        r = request(kh.gw_port, "GET", "/api/companies/c1/secrets", token=kh.token)
        self.assertJsonError(r, 403, body_403("GET", "/api/companies/c1/secrets"))
        up.assert_nothing(self)
        kh.wait_log("peer=connect:")

    def test_bad_token_401(self):
        up, kh = self.start()
        r = request(kh.gw_port, "GET", "/api/agents/me", token="wrong-" + kh.token)
        self.assertJsonError(r, 401, BODY_401)
        r = request(kh.gw_port, "GET", "/api/agents/me", token=None)
        self.assertJsonError(r, 401, BODY_401)
        up.assert_nothing(self)

    def test_large_body_allowed_and_over_the_rule_limit(self):
        up, kh = self.start(args=["--max-body", "600000"])
        # 500 KB: many DATA frames, flow-control windows reopened.
        body = json.dumps({"body": "y" * 500000}).encode()
        r = request(kh.gw_port, "POST", "/api/issues/ISS-2/comments", token=kh.token,
                    body=body, timeout=15)
        self.assertEqual(r.status, 200, r)
        (rec,) = up.wait_requests(1)
        self.assertEqual(rec.body, body)
        # Over the rule's own limit (1024): 413 from keyhole, nothing sent.
        r = request(kh.gw_port, "POST", "/api/issues/ISS-2/small", token=kh.token,
                    body=json.dumps({"body": "z" * 5000}).encode())
        self.assertJsonError(r, 413)
        self.assertEqual(up.count(), 1)

    def test_indeterminate_mutation_is_409_at_the_agent(self):
        up, kh = self.start(args=["--upstream-timeout-ms", "700"])
        up.slow_seconds = 3.0
        r = request(kh.gw_port, "POST", "/slow/x", token=kh.token, body=b"{}", timeout=10)
        # The parent's truthful answer (answer.c): the mutation was sent,
        # its outcome is unknown; Paperclip's gateway keeps 409 and the
        # header.
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.header("x-paperclip-bridge-outcome"), "indeterminate")
        self.assertEqual(r.json().get("outcome"), "indeterminate")
        # A GET that times out is a plain 504, never indeterminate.
        r = request(kh.gw_port, "GET", "/slow/y", token=kh.token, timeout=10)
        self.assertNotEqual(r.status, 409, r)
        self.assertIsNone(r.header("x-paperclip-bridge-outcome"))

    def test_shutdown_answers_in_flight_then_goaway(self):
        up, kh = self.start()
        up.slow_seconds = 1.0
        import threading
        got = {}

        def slow():
            got["r"] = request(kh.gw_port, "GET", "/slow/z", token=kh.token, timeout=10)
        t = threading.Thread(target=slow)
        t.start()
        up.wait_requests(1)
        kh.signal(signal.SIGTERM)
        kh.wait_log("GOAWAY sent")
        t.join(10)
        self.assertEqual(got["r"].status, 200, got["r"])     # answered, not dropped
        self.assertEqual(kh.wait_exit(15), 0)
        # The gateway heard the GOAWAY (Paperclip's logs it on stderr,
        # relayed to keyhole's log) and the command was stopped.
        kh.wait_log("host sent GOAWAY", timeout=2)

    def test_drain_deadline_answers_a_sent_mutation_409(self):
        up, kh = self.start(args=["--drain-ms", "500"])
        up.slow_seconds = 4.0
        import threading
        got = {}

        def slow():
            got["r"] = request(kh.gw_port, "POST", "/slow/m", token=kh.token, body=b"{}",
                               timeout=10)
        t = threading.Thread(target=slow)
        t.start()
        up.wait_requests(1)
        kh.signal(signal.SIGTERM)
        t.join(10)
        r = got["r"]
        # Sent upstream, no answer by --drain-ms: the parent's 409, through
        # the stream, kept by Paperclip's gateway.
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.header("x-paperclip-bridge-outcome"), "indeterminate")
        self.assertEqual(kh.wait_exit(15), 0)

    def test_keyhole_run_connect(self):
        import subprocess
        d = khtest.make_tempdir(self)
        up = self.upstream()
        cred = os.path.join(d, "cred")
        with open(cred, "w") as f:
            f.write(khtest.new_credential())
        os.chmod(cred, 0o600)
        pol = os.path.join(d, "p.policy")
        with open(pol, "w") as f:
            f.write(POLICY)
        agent = ("import os, time, urllib.request\n"
                 "for i in range(100):\n"
                 "    try:\n"
                 "        r = urllib.request.urlopen(urllib.request.Request(\n"
                 "            os.environ['PAPERCLIP_API_URL'] + '/api/agents/me',\n"
                 "            headers={'Authorization': 'Bearer ' + os.environ['PAPERCLIP_API_KEY']}))\n"
                 "        print(r.status, r.read().decode()); break\n"
                 "    except OSError:\n"
                 "        time.sleep(0.1)\n")
        port = khtest.free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERCLIP_")}
        p = subprocess.run([khtest.binary("keyhole"), "run", "--policy", pol, "--upstream",
                            up.url, "--credential-file", cred, "--connect", self.gw,
                            "--gateway-port", str(port), "--", "/usr/bin/python3", "-c", agent],
                           capture_output=True, timeout=60, env=env)
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-3000:])
        self.assertIn(b'200 {"ok":true}', p.stdout)
        self.assertEqual(up.count(), 1)

    def test_command_killed_mid_request_is_logged_and_reconnected(self):
        up, kh = self.start()
        up.slow_seconds = 2.0
        import threading
        got = {}

        def slow():
            try:
                got["r"] = request(kh.gw_port, "POST", "/slow/k", token=kh.token,
                                   body=b"{}", timeout=10)
            except Exception as e:  # noqa: BLE001
                got["e"] = e
        t = threading.Thread(target=slow)
        t.start()
        up.wait_requests(1)
        cmd = [ln for ln in kh.stderr_lines() if "connect: started command pid=" in ln]
        pid = int(cmd[-1].rsplit("pid=", 1)[1].split()[0])
        os.kill(pid, signal.SIGKILL)
        kh.wait_log("connect: command pid=%d killed by signal 9" % pid)
        kh.wait_log("connect: session ended")
        t.join(10)
        # The agent was not left hanging (Paperclip's gateway died with its
        # command: the connection is closed, or answered 502).
        self.assertTrue("e" in got or got["r"].status in (502, 409), got)
        # Reconnected with back-off: a new command, a new gateway.
        kh.wait_log("connect: gateway ready", count=2, timeout=20)
        wait_gateway(kh)
        self.assertTrue(kh.alive())
        r = request(kh.gw_port, "GET", "/api/agents/me", token=kh.token)
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    import unittest
    unittest.main()
