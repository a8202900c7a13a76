#!/usr/bin/env python3
"""Logs: one JSON object per line (the default when stderr is not a
terminal) with the access-log fields for every request, whoever answered
it; and no log line ever holds the credential or the bridge token, whatever
the request contains."""
import json
import os
import re
import time
import unittest

import khtest

FIELDS = {"time", "level", "proc", "pid", "msg"}
ACCESS = {"id", "peer", "method", "path", "rule", "status", "bytesIn", "bytesOut"}


class LogTest(khtest.KeyholeTestCase):
    def setUp(self):
        self.up = self.upstream()

    def json_lines(self, kh):
        out = []
        for ln in kh.stderr_lines():
            try:
                obj = json.loads(ln)
            except ValueError:
                self.fail("log line is not JSON: %r" % ln)
            self.assertTrue(FIELDS <= set(obj), obj)
            self.assertTrue(khtest.is_iso8601(obj["time"]), obj)
            self.assertIn(obj["proc"], ("keyhole", "keyhole-net"))
            out.append(obj)
        return out

    def requests(self, kh, n):
        khtest.wait_until(lambda: sum(1 for o in self.json_lines(kh)
                                      if o.get("event") == "request") >= n,
                          5, "%d access lines" % n)
        return [o for o in self.json_lines(kh) if o.get("event") == "request"]

    def test_json_is_the_default_when_stderr_is_not_a_tty(self):
        kh = self.keyhole(self.up.url, text_logs=False)
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        kh.stop()
        self.assertGreater(len(self.json_lines(kh)), 2)

    def test_access_lines_for_forwarded_and_denied_requests(self):
        kh = self.keyhole(self.up.url, args=["--log-format", "json"])
        self.assertEqual(kh.request("POST", "/api/issues/7/comments", body=b'{"a":1}').status, 200)
        self.assertEqual(kh.request("GET", "/api/admin").status, 403)
        self.assertEqual(kh.request("GET", "/api/agents/me", token="wrong-token-0000000").status, 401)
        self.assertEqual(kh.send_raw(b"GET /api/agents/me HTTP/1.1\nHost: x\n\n").status, 400)
        reqs = self.requests(kh, 4)
        for o in reqs:
            self.assertTrue(ACCESS <= set(o), o)
        by_status = {o["status"]: o for o in reqs}
        ok = by_status[200]
        self.assertEqual((ok["method"], ok["path"], ok["proc"]),
                         ("POST", "/api/issues/7/comments", "keyhole"))
        self.assertRegex(ok["rule"], r"^policy:\d+$")
        # The rule named is the policy line that allowed it.
        line = int(ok["rule"].split(":")[1])
        self.assertEqual(khtest.TEST_POLICY.splitlines()[line - 1],
                         "allow POST /api/issues/*/comments")
        self.assertEqual(ok["bytesIn"], 7)
        self.assertGreater(ok["bytesOut"], 0)
        self.assertIn("upstreamMs", ok)
        self.assertGreater(ok["id"], 0)
        denied = by_status[403]
        self.assertEqual((denied["path"], denied["proc"]), ("/api/admin", "keyhole-net"))
        self.assertIn("Route not allowed", denied["rule"])
        self.assertIn("token", by_status[401]["rule"].lower())
        self.assertEqual(by_status[400]["method"], "")
        self.assertRegex(ok["peer"], r"^127\.0\.0\.1:\d+$")

    def test_no_answer_leaves_before_its_access_line(self):
        # The parent writes its access lines once per loop turn, before
        # that turn's answers (log.h, log_batch_begin).  Killed at any
        # moment under load, it has written the line of every answer a
        # client got: count the 200s the clients read, kill -9, and every
        # one of them has its line.  (A batch written on a timer, when
        # full, or after the answers loses the last lines here.)
        import threading
        for delay in (0.3, 0.8):
            kh = self.keyhole(self.up.url)
            got, stop, lock = [0], threading.Event(), threading.Lock()

            def client():
                try:
                    with kh.conn(timeout=5.0) as c:
                        while not stop.is_set():
                            c.send(khtest.build_request("GET", "/api/agents/me",
                                                        token=kh.token))
                            if c.read_response().status == 200:
                                with lock:
                                    got[0] += 1
                except (OSError, AssertionError):
                    pass        # the kill ends the connection
            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            time.sleep(delay)
            kh.kill()
            stop.set()
            for t in threads:
                t.join(10)
            lines = kh.count_lines(lambda ln: "request id=" in ln and " status=200 " in ln)
            self.assertGreater(got[0], 10, "no load reached keyhole")
            self.assertGreaterEqual(lines, got[0],
                                    "%d answers but %d access lines" % (got[0], lines))

    def test_a_stalled_log_holds_the_answers_back(self):
        # The same order, made deterministic: keyhole's stderr is a pipe
        # nobody reads.  When it is full the parent blocks writing a
        # batch, and the answers of that turn must not have left: every
        # answer the clients got has its line among the bytes in the pipe.
        import fcntl
        import subprocess
        import termios
        import threading
        kh = self.keyhole(self.up.url, start=False)
        out = open(kh.stdout_path, "wb")
        kh.proc = subprocess.Popen(kh.argv, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.PIPE, env=kh.env, close_fds=True)
        out.close()
        kh.pid = kh.proc.pid
        self.addCleanup(kh.proc.stderr.close)
        data = b""
        kh.wait_ready()
        got, stop, lock = [0], threading.Event(), threading.Lock()

        def client():
            try:
                with kh.conn(timeout=30.0) as c:
                    while not stop.is_set():
                        c.send(khtest.build_request("GET", "/api/agents/me", token=kh.token))
                        if c.read_response().status == 200:
                            with lock:
                                got[0] += 1
            except (OSError, AssertionError):
                pass
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        try:
            # Answers stop when the pipe (64 KiB) is full.
            last, since = -1, time.monotonic()
            deadline = since + 30
            while time.monotonic() - since < 1.0:
                self.assertLess(time.monotonic(), deadline, "answers never stopped")
                time.sleep(0.1)
                with lock:
                    if got[0] != last:
                        last, since = got[0], time.monotonic()
            answers = last
            fd = kh.proc.stderr.fileno()
            n = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
            n = int.from_bytes(n, "little")
            while len(data) < n:      # exactly what was written before the block
                data += os.read(fd, n - len(data))
        finally:
            stop.set()
            kh.kill()
            for t in threads:
                t.join(10)
            # The rest, into the file the harness checks at cleanup.
            with open(kh.stderr_path, "wb") as f:
                f.write(data + kh.proc.stderr.read())
        lines = sum(1 for ln in data.decode("utf-8", "replace").splitlines()
                    if "request id=" in ln and " status=200 " in ln)
        self.assertGreater(answers, 50, "no load reached keyhole")
        self.assertGreater(n, 30000, "the pipe was not full")
        self.assertGreaterEqual(lines, answers,
                                "%d answers left, %d of their lines" % (answers, lines))

    def test_start_stop_and_restart_events_are_logged(self):
        import os, signal
        kh = self.keyhole(self.up.url, args=["--log-format", "json"])
        child = kh.child_pid()
        os.kill(child, signal.SIGKILL)
        kh.wait_log("restarting child")
        kh.stop()
        msgs = [o["msg"] for o in self.json_lines(kh)]
        for want in ("started child", "serving on", "exited", "restarting child", "stopped"):
            self.assertTrue(any(want in m for m in msgs), (want, msgs))

    def test_no_secret_in_any_log_line_whatever_the_request(self):
        kh = self.keyhole(self.up.url, args=["--log-format", "json", "-v"])
        t, c = kh.token, kh.credential
        # The sandbox puts the secrets everywhere it can.
        kh.request("GET", "/api/" + t)
        kh.request("GET", "/api/" + c)
        kh.request("GET", "/api/agents/me?x=" + t)
        kh.request("GET", "/api/issues/%s/comments" % t)
        kh.request("GET", "/api/agents/me", token=c)
        kh.request("GET", "/api/agents/me", headers=[("X-Evil", t), ("Accept", c)])
        kh.send_raw(("GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (t, c)).encode())
        kh.request("PATCH", "/api/issues/" + t, body=('{"k":"%s"}' % c).encode())
        self.requests(kh, 7)
        kh.stop()
        for text_mode in (False,):
            out = kh.output()
            self.assertNotIn(t.encode(), out)
            self.assertNotIn(c.encode(), out)
        # Positive control: the path was logged, with the secret masked.
        self.assertTrue(any("*" * len(t) in ln for ln in kh.stderr_lines()))

    def test_startup_error_is_a_line_of_the_configured_log(self):
        # An error that stops keyhole after its log is set up goes through
        # that log (here JSON lines; with --log syslog, journald), not
        # around it.  Before, it was a bare "keyhole: ..." line on stderr.
        import os
        d = khtest.make_tempdir(self)
        cred = os.path.join(d, "credential")
        with open(cred, "w") as f:
            f.write(khtest.new_credential())
        os.chmod(cred, 0o600)
        missing = os.path.join(d, "no-such.policy")
        rc, _, err = khtest.run_keyhole(
            ["serve", "--policy", missing, "--upstream", "http://127.0.0.1:9",
             "--credential-file", cred, "--listen", "tcp:127.0.0.1:0",
             "--log-format", "json"],
            env={"PAPERCLIP_BRIDGE_TOKEN": khtest.new_token()})
        self.assertEqual(rc, 1, err)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        self.assertTrue(lines, "nothing on stderr")
        objs = []
        for ln in lines:
            try:
                objs.append(json.loads(ln))
            except ValueError:
                self.fail("start-up error is not a JSON log line: %r" % ln)
        self.assertTrue(any(o.get("level") == "error" and o.get("proc") == "keyhole"
                            and "cannot open policy %s" % missing in o.get("msg", "")
                            for o in objs), objs)


class SyslogTest(khtest.KeyholeTestCase):
    """--log syslog: lines go to /dev/log (journald/rsyslog), not stderr.
    The test gives keyhole a private /dev (a mount namespace it creates)
    whose log socket is one the test reads."""

    def test_log_syslog_sends_lines_to_dev_log(self):
        import os, shutil, socket, subprocess
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.fail("this test needs root and unshare(1) for a private /dev")
        up = self.upstream()
        d = khtest.make_tempdir(self)
        path = os.path.join(d, "log.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(10)
        self.addCleanup(s.close)
        kh = self.keyhole(up.url, args=["--log", "syslog"], start=False)
        script = ("mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 && "
                  "mknod -m 444 /dev/urandom c 1 9 && ln -s %s /dev/log && exec \"$@\"" % path)
        kh.argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                   "sh"] + kh.argv
        kh.start()
        kh.wait_ready()
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        got = []
        while not any("request" in g and "/api/agents/me" in g for g in got):
            got.append(s.recv(4096).decode("utf-8", "replace"))
        self.assertTrue(any(g.startswith("<") and "keyhole" in g and "serving on" in g
                            for g in got), got)
        self.assertFalse(any(kh.credential in g or kh.token in g for g in got))
        kh.stop()
        self.assertNotIn(b"serving on", kh.stderr())


if __name__ == "__main__":
    khtest.main()
