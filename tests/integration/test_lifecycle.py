#!/usr/bin/env python3
"""Lifecycle: start-up, configuration errors, ready file, child restart,
graceful shutdown, and the check-policy / --help / --version commands."""

import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402


def in_thread(fn):
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join(timeout=15.0):
        t.join(timeout)
        if t.is_alive():
            raise AssertionError("background request still running after %.0f s" % timeout)
        if "error" in box:
            raise box["error"]
        return box["value"]
    return join


class ReadyFileTest(KeyholeTestCase):

    def test_ready_file_describes_the_listener(self):
        up = self.upstream()
        kh = self.keyhole(up.url)
        ready = kh.ready
        self.assertEqual(ready["pid"], kh.pid)
        self.assertEqual(ready["host"], "127.0.0.1")
        self.assertIsInstance(ready["port"], int)
        self.assertGreater(ready["port"], 0)
        self.assertEqual(ready["baseUrl"], "http://127.0.0.1:%d" % ready["port"])
        self.assertTrue(khtest.is_iso8601(ready["startedAt"]), ready)
        socket.create_connection(("127.0.0.1", ready["port"]), timeout=2).close()
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        # Written atomically: no temporary file left beside it.
        leftovers = [n for n in os.listdir(kh.dir) if n.startswith("ready.json") and n != "ready.json"]
        self.assertEqual(leftovers, [])

    def test_env_host_and_port_used_without_listen(self):
        up = self.upstream()
        port = khtest.free_port()
        kh = self.keyhole(up.url, listen=None, env={"PAPERCLIP_BRIDGE_HOST": "127.0.0.1",
                                                    "PAPERCLIP_BRIDGE_PORT": str(port)})
        self.assertEqual(kh.ready["port"], port)
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)

    def test_default_listen_is_loopback_ephemeral(self):
        up = self.upstream()
        kh = self.keyhole(up.url, listen=None)
        self.assertEqual(kh.ready["host"], "127.0.0.1")
        self.assertGreater(kh.ready["port"], 0)
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)


class CredentialSourcesTest(KeyholeTestCase):

    def _works(self, kh, up):
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        self.assertEqual(up.wait_requests(1)[0].all("authorization"),
                         ["Bearer " + kh.credential])

    def test_credential_from_env(self):
        up = self.upstream()
        self._works(self.keyhole(up.url, credential_via="env"), up)

    def test_credential_from_credentials_directory(self):
        up = self.upstream()
        self._works(self.keyhole(up.url, credential_via="credentials-dir"), up)

    def test_token_from_file(self):
        up = self.upstream()
        self._works(self.keyhole(up.url, token_via="file"), up)

    def _config_error(self, kh, *must_mention):
        code = kh.wait_exit(10)
        err = kh.stderr().decode("utf-8", "replace")
        self.assertEqual(code, 1, err)
        self.assertTrue(err.strip(), "a configuration error must say what is wrong")
        for m in must_mention:
            self.assertIn(m, err)
        self.assertNotIn(kh.credential, kh.output_text())

    def test_credential_file_readable_by_others_refused(self):
        up = self.upstream()
        for mode in (0o644, 0o640, 0o604):
            with self.subTest(mode=oct(mode)):
                kh = self.keyhole(up.url, cred_mode=mode, wait_ready=False)
                self._config_error(kh, kh.credential_file)
        self.assertEqual(up.count(), 0)

    def test_missing_credential_refused(self):
        up = self.upstream()
        kh = self.keyhole(up.url, credential_via=None, wait_ready=False)
        self._config_error(kh)

    def test_missing_credential_file_refused(self):
        up = self.upstream()
        kh = self.keyhole(up.url, credential_via=None, wait_ready=False,
                          args=["--credential-file", "/nonexistent/keyhole-credential"])
        self._config_error(kh, "/nonexistent/keyhole-credential")

    def test_short_token_refused(self):
        up = self.upstream()
        kh = self.keyhole(up.url, token="short-token", wait_ready=False)
        self._config_error(kh)

    def test_missing_token_refused(self):
        up = self.upstream()
        kh = self.keyhole(up.url, token_via=None, wait_ready=False)
        self._config_error(kh)

    def test_bad_policy_refused_with_file_and_line(self):
        up = self.upstream()
        kh = self.keyhole(up.url, policy="allow GET /api/agents/me\nallow FETCH /x\n",
                          wait_ready=False)
        self._config_error(kh, "%s:2:" % kh.policy_file)

    def test_unknown_option_refused(self):
        code, out, err = khtest.run_keyhole(["serve", "--no-such-option"])
        self.assertNotEqual(code, 0)
        self.assertTrue(err.strip())


class RestartAndShutdownTest(KeyholeTestCase):

    def test_killed_child_is_restarted_on_same_port(self):
        up = self.upstream()
        kh = self.keyhole(up.url)
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        old = kh.child_pid()
        os.kill(old, signal.SIGKILL)
        kh.wait_log(lambda ln: "child" in ln and "exited" in ln, what="'child ... exited'")
        new = kh.child_pid(exclude={old}, timeout=5)
        self.assertNotEqual(new, old)
        deadline = time.monotonic() + 5
        while True:
            try:
                r = kh.request("GET", "/api/agents/me", timeout=2)
                if r.status == 200:
                    break
            except (OSError, AssertionError):
                pass
            if time.monotonic() > deadline:
                self.fail("no successful request within 5 s of the restart:\n" + kh.output_text())
            time.sleep(0.1)
        self.assertTrue(kh.alive())

    def test_sigterm_drains_in_flight_request(self):
        up = self.upstream()
        up.slow_seconds = 1.0
        kh = self.keyhole(up.url, args=["--drain-ms", "5000"])
        join = in_thread(lambda: kh.request("GET", "/slow/drain", timeout=10))
        up.wait_requests(1)
        t0 = time.monotonic()
        kh.signal(signal.SIGTERM)
        r = join()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"ok":true}')
        self.assertEqual(kh.wait_exit(6), 0, kh.output_text())
        self.assertLess(time.monotonic() - t0, 5.5)

    def test_sigterm_answers_503_past_drain(self):
        up = self.upstream()
        up.slow_seconds = 5.0
        kh = self.keyhole(up.url, args=["--drain-ms", "500"])
        join = in_thread(lambda: kh.request("GET", "/slow/long", timeout=10))
        up.wait_requests(1)
        t0 = time.monotonic()
        kh.signal(signal.SIGTERM)
        r = join()
        self.assertJsonError(r, 503)
        self.assertEqual(kh.wait_exit(5), 0, kh.output_text())
        self.assertLess(time.monotonic() - t0, 3.0)

    def test_sigterm_idle_exits_zero(self):
        up = self.upstream()
        kh = self.keyhole(up.url)
        child = kh.child_pid()
        kh.signal(signal.SIGTERM)
        self.assertEqual(kh.wait_exit(5), 0, kh.output_text())
        khtest.wait_until(lambda: not khtest.pid_alive(child), 3, "the child to exit")

    def test_sigint_exits_zero(self):
        up = self.upstream()
        kh = self.keyhole(up.url)
        kh.signal(signal.SIGINT)
        self.assertEqual(kh.wait_exit(5), 0, kh.output_text())


class CommandLineTest(KeyholeTestCase):

    def test_help(self):
        code, out, _ = khtest.run_keyhole(["--help"])
        self.assertEqual(code, 0)
        self.assertIn("serve", out)
        self.assertIn("check-policy", out)

    def test_version(self):
        code, out, _ = khtest.run_keyhole(["--version"])
        self.assertEqual(code, 0)
        self.assertEqual(out.strip(), "keyhole 0.1.0")

    def test_check_policy_prints_paperclip_minimal_policy(self):
        code, out, err = khtest.run_keyhole(["check-policy", khtest.PAPERCLIP_MINIMAL_POLICY])
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        for want in ("allow GET /api/agents/me",
                     "allow GET /api/issues/*/heartbeat-context",
                     "allow GET /api/issues/*/comments",
                     "allow GET /api/issues/*/comments/*",
                     "allow GET /api/issues/*/documents",
                     "allow GET /api/issues/*/documents/*",
                     "allow POST /api/issues/*/checkout",
                     "allow POST /api/issues/*/comments",
                     "allow POST /api/issues/*/interactions",
                     "allow POST /api/issues/*/interactions/*",
                     "allow PATCH /api/issues/*"):
            self.assertIn(want, lines)
        allows = [ln for ln in lines if ln.startswith("allow ")]
        self.assertEqual(len(allows), 11, "paperclip-minimal.policy allows exactly the "
                         "reference bridge's surface:\n" + out)

    def test_check_policy_output_is_a_fixed_point(self):
        for policy in (khtest.PAPERCLIP_POLICY, khtest.PAPERCLIP_MINIMAL_POLICY):
            with self.subTest(policy=os.path.basename(policy)):
                code, out, err = khtest.run_keyhole(["check-policy", policy])
                self.assertEqual(code, 0, err)
                self.assertEqual(err, "", "shipped policies compile without warnings")
                d = khtest.make_tempdir(self)
                p = os.path.join(d, "canonical.policy")
                with open(p, "w") as f:
                    f.write(out)
                code2, out2, err2 = khtest.run_keyhole(["check-policy", p])
                self.assertEqual(code2, 0, err2)
                self.assertEqual(out2, out)

    def test_check_policy_reports_file_and_line(self):
        d = khtest.make_tempdir(self)
        p = os.path.join(d, "bad.policy")
        with open(p, "w") as f:
            f.write("allow GET /api/agents/me\n"
                    "allow FETCH /x\n"
                    "# fine\n"
                    "allow GET api/no-leading-slash\n"
                    "allow GET /api/../x\n")
        code, out, err = khtest.run_keyhole(["check-policy", p])
        self.assertEqual(code, 1, out + err)
        both = out + err
        for line in (2, 4, 5):
            self.assertIn("%s:%d:" % (p, line), both)
        self.assertNotIn("%s:1:" % p, both)
        self.assertNotIn("%s:3:" % p, both)

    def test_check_policy_missing_file(self):
        code, out, err = khtest.run_keyhole(["check-policy", "/nonexistent/x.policy"])
        self.assertEqual(code, 1)
        self.assertIn("/nonexistent/x.policy", out + err)


if __name__ == "__main__":
    khtest.main()
