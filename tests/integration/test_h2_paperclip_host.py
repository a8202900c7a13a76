#!/usr/bin/env python3
"""Interop: keyhole-gateway as the sandbox side of Paperclip's OWN http2_v1
host (@paperclipai/adapter-utils from npm, installed into the build tree
by khpaperclip.py), driven through Paperclip's production entry point
(paperclip_h2_host.mjs): Paperclip uploads its gateway, launches
`sh -c "exec env PAPERCLIP_...=... <gateway>"` where <gateway> is
keyhole-gateway-static run in an empty root (a chroot holding only the
binary; keyhole-gateway itself in sanitizer builds, or without root),
checks its READY line and preface, serves its streams with its own token,
route, header and body checks, and forwards to a local upstream with the
real credential.

  allowed       GET and POST reach the upstream with the real credential
                and run id, never the bridge token; the agent gets the
                upstream's allowlisted headers and body
  denied        Paperclip's route allowlist: 403 with its body
  bad token     keyhole-gateway's 401, nothing sent to the host
  large body    within the limit: forwarded byte for byte; over it: 413
                from the gateway; an answer over it: 502 for a GET, and
                for a POST Paperclip's 504 + indeterminate, which the
                gateway answers 409 (indeterminate mutation)
  shutdown      Paperclip's bridge.stop(): GOAWAY; the request in flight
                answered, the gateway exits 0 saying why
  host lost     Paperclip's host killed with a POST in flight: the agent
                gets 409 indeterminate, the gateway exits and frees its port
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
import h2host  # noqa: E402
from khpaperclip import paperclip_prefix  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IND = {"outcome": "indeterminate", "retryable": False}
MAX_BODY = 65536


def shq(s):
    return "'" + s.replace("'", "'\"'\"'") + "'"


def gateway_command(tc):
    """The gateway command spliced into Paperclip's launch script, and the
    root it runs in (None: the real root)."""
    static = h2host.static_gateway()
    if static is None or not khtest.IS_ROOT:
        return shq(khtest.binary("keyhole-gateway")), None
    root = khtest.make_tempdir(tc)
    os.chmod(root, 0o755)
    shutil.copy2(static, os.path.join(root, "keyhole-gateway"))
    chroot = shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin")
    return "%s %s %s" % (shq(chroot), shq(root), shq("/keyhole-gateway")), root


class PaperclipHost:
    """paperclip_h2_host.mjs: Paperclip's host with keyhole-gateway."""

    def __init__(self, tc, upstream_url, credential, gateway_cmd, max_body=None):
        self.tc = tc
        self.events = []
        self.cond = threading.Condition()
        d = khtest.make_tempdir(tc)
        self.err_path = os.path.join(d, "host.err")
        env = dict(os.environ, PC_UPSTREAM=upstream_url, PC_CREDENTIAL=credential,
                   PC_GATEWAY_CMD=gateway_cmd, PC_SANDBOX_DIR=os.path.join(d, "sandbox"),
                   PC_RUN_ID="run-kh-1")
        if max_body:
            env["PC_MAX_BODY_BYTES"] = str(max_body)
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                ["node", os.path.join(HERE, "paperclip_h2_host.mjs"), paperclip_prefix()],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env)
        tc.addCleanup(self.kill)
        threading.Thread(target=self._read, daemon=True).start()
        ready = self.wait_event("ready", timeout=60)
        self.env = ready["env"]
        self.gateway_pid = ready["pid"]
        if self.env.get("PAPERCLIP_API_BRIDGE_MODE") != "http2_v1":
            raise AssertionError("Paperclip's host fell back to %r:\n%s"
                                 % (self.env.get("PAPERCLIP_API_BRIDGE_MODE"), self.log()))
        self.port = int(self.env["PAPERCLIP_API_URL"].rsplit(":", 1)[1])
        self.token = self.env["PAPERCLIP_API_KEY"]

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "noise", "text": line.decode("utf-8", "replace")}
            with self.cond:
                self.events.append(ev)
                self.cond.notify_all()

    def wait_event(self, kind, timeout=15.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ev in self.events:
                    if ev["event"] == kind:
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and kind not in ("stopped",)):
                    if left > 0:
                        self.cond.wait(0.2)
                        if any(ev["event"] == kind for ev in self.events):
                            continue
                    raise AssertionError("no %r from Paperclip's host:\n%s" % (kind, self.log()))
                self.cond.wait(left)

    def gateway_stderr(self):
        with self.cond:
            return "".join(ev["text"] for ev in self.events if ev["event"] == "gateway-stderr")

    def log(self):
        with self.cond:
            lines = [json.dumps(ev) for ev in self.events]
        try:
            with open(self.err_path, "rb") as f:
                lines.append(f.read().decode("utf-8", "replace"))
        except OSError:
            pass
        return "\n".join(lines)

    def request(self, method, target, token=khtest._AUTO, **kw):
        if token is khtest._AUTO:
            token = self.token
        kw.setdefault("timeout", 15.0)
        return khtest.request(self.port, method, target, token=token, **kw)

    def request_async(self, method, target, **kw):
        box = {}

        def run():
            try:
                box["r"] = self.request(method, target, **kw)
            except Exception as e:  # noqa: BLE001 - handed to the test
                box["r"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, box

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.gateway_pid and khtest.pid_alive(self.gateway_pid):
            try:
                os.kill(self.gateway_pid, signal.SIGKILL)
            except OSError:
                pass


class PaperclipHostInteropTest(KeyholeTestCase):

    @classmethod
    def setUpClass(cls):
        paperclip_prefix()

    def setUp(self):
        self.up = self.upstream()
        self.credential = khtest.new_credential()
        cmd, self.root = gateway_command(self)
        self.host = PaperclipHost(self, self.up.url, self.credential, cmd, max_body=MAX_BODY)

    def test_allowed_requests_reach_the_upstream_with_the_credential(self):
        r = self.host.request("GET", "/api/agents/me", headers=[("Accept", "application/json")])
        self.assertEqual((r.status, r.body), (200, b'{"ok":true}'), self.host.log())
        self.assertEqual(r.header("etag"), '"v1"')
        self.assertIsNone(r.header("set-cookie"))
        self.assertIsNone(r.header("x-upstream-secret"))
        rec = self.up.wait_requests(1)[0]
        self.assertEqual(rec.all("authorization"), ["Bearer " + self.credential])
        self.assertEqual(rec.header("x-paperclip-run-id"), "run-kh-1")
        self.assertEqual(rec.header("accept"), "application/json")
        body = json.dumps({"body": "h\u00e9llo from keyhole-gateway"}).encode()
        r = self.host.request("POST", "/api/issues/ISS-1/comments?x=1", body=body,
                              headers=[("If-Match", '"v1"')])
        self.assertEqual(r.status, 200)
        rec = self.up.wait_requests(2)[1]
        self.assertEqual((rec.method, rec.path, rec.body),
                         ("POST", "/api/issues/ISS-1/comments?x=1", body))
        self.assertEqual(rec.header("if-match"), '"v1"')
        for rec in self.up.snapshot():
            self.assertNotIn(self.host.token, json.dumps(rec.headers))
        # Paperclip's host accepted the READY line and preface first time
        self.assertNotIn("readiness failed", self.host.log())
        if self.root is not None:
            # it runs in the empty root, confined
            self.assertEqual(os.readlink("/proc/%d/root" % self.host.gateway_pid), self.root)
            self.assertEqual(khtest.proc_status(self.host.gateway_pid)["Seccomp"], "2")
            self.assertEqual(os.listdir(self.root), ["keyhole-gateway"])

    def test_denied_route_is_paperclips_403(self):
        r = self.host.request("DELETE", "/api/issues/ISS-1")
        self.assertJsonError(r, 403, {"error": "Route not allowed: DELETE /api/issues/ISS-1"})
        self.up.assert_nothing(self)

    def test_bad_token_401_at_the_gateway(self):
        r = self.host.request("GET", "/api/agents/me", token="not-the-token")
        self.assertJsonError(r, 401, {"error": "Invalid bridge token."})
        r = self.host.request("GET", "/api/agents/me", token=None)
        self.assertJsonError(r, 401, {"error": "Invalid bridge token."})
        self.up.assert_nothing(self)

    def test_large_bodies_and_the_indeterminate_mutation(self):
        ok = json.dumps({"body": "x" * (MAX_BODY - 100)}).encode()
        r = self.host.request("POST", "/api/issues/ISS-1/comments", body=ok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.wait_requests(1)[0].body, ok)
        # over PAPERCLIP_BRIDGE_MAX_BODY_BYTES (Paperclip's host gave it):
        # the gateway's 413, nothing reaches the host
        big = b"{" + b" " * MAX_BODY + b"}"
        r = self.host.request("POST", "/api/issues/ISS-1/comments", body=big)
        self.assertJsonError(r, 413, {"error": "Bridge request body exceeded the configured "
                                               "size limit."})
        self.assertEqual(self.up.count(), 1)
        # answers over the limit: Paperclip's host refuses them
        self.up.set_route("/api/issues/BIG", body=b'"' + b"y" * (MAX_BODY + 10) + b'"')
        self.up.set_route("/api/issues/BIG/comments", body=b'"' + b"y" * (MAX_BODY + 10) + b'"')
        r = self.host.request("GET", "/api/issues/BIG")
        self.assertEqual(r.status, 502, r)
        self.assertIn("exceeded the configured size limit", r.json()["error"])
        r = self.host.request("POST", "/api/issues/BIG/comments", body=b"{}")
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.header("x-paperclip-bridge-outcome"), "indeterminate")
        self.assertEqual({k: r.json()[k] for k in IND}, IND)
        self.assertEqual(self.up.count(), 3)


class PaperclipHostLifecycleTest(KeyholeTestCase):

    def setUp(self):
        paperclip_prefix()
        self.up = self.upstream()
        cmd, self.root = gateway_command(self)
        self.host = PaperclipHost(self, self.up.url, khtest.new_credential(), cmd)

    def test_shutdown_goaway_in_flight_answered(self):
        self.up.set_route("/api/issues/SLOW", delay=1.0, body=b'{"slow":true}')
        t, box = self.host.request_async("GET", "/api/issues/SLOW")
        self.up.wait_requests(1)
        self.host.proc.send_signal(signal.SIGTERM)
        t.join(15)
        r = box["r"]
        self.assertFalse(isinstance(r, Exception), r)
        self.assertEqual((r.status, r.body), (200, b'{"slow":true}'))
        ev = self.host.wait_event("gateway-exit")
        self.assertEqual(ev["code"], 0, self.host.log())
        self.assertIn("http2_v1 session ended: host sent GOAWAY (errorCode=0",
                      self.host.gateway_stderr())
        self.host.wait_event("stopped")

    def test_host_lost_mutation_in_flight_is_indeterminate(self):
        self.up.set_route("/api/issues/ISS-1/comments", delay=2.0)
        t, box = self.host.request_async("POST", "/api/issues/ISS-1/comments", body=b"{}")
        self.up.wait_requests(1)
        pid = self.host.gateway_pid
        self.host.proc.kill()       # the host and its end of the pipe gone
        t.join(15)
        r = box["r"]
        self.assertFalse(isinstance(r, Exception), r)
        self.assertJsonError(r, 409, dict({"error": "Bridge HTTP/2 session ended before the "
                                                    "host answered."}, **IND))
        khtest.wait_until(lambda: not khtest.pid_alive(pid), 10, "the gateway to exit")
        # its port is free again for the next gateway (as the gateway
        # binds it: SO_REUSEADDR)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.host.port))
            s.listen(1)


if __name__ == "__main__":
    khtest.main()
