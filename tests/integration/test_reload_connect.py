#!/usr/bin/env python3
"""Reload under http2_v1 (`keyhole serve --connect CMD`; SECURITY.md I18
and "Reload"; src/priv/reload_connect.c).

A session (one run of CMD) lives in one keyhole-net and the gateway in the
sandbox binds one fixed port, so a reload never runs two sessions:

- the candidate gets no session: it only compiles the new policy; a
  policy that does not compile leaves the session untouched (same
  command, still serving, `keyhole reload` exits 1 with FILE:LINE:COL);
- accepted: the old child sends GOAWAY and finishes the streams the
  gateway opened, under the old policy (access line gen=0); its command
  is stopped, and only after it has exited does the new generation's
  child start a new session (a new run of CMD, a new nonce, the rotated
  token in the gateway's settings); `keyhole reload` returns once that
  child serves;
- never two commands at once (the launcher's log order), never a request
  decided under the new policy by the old child or the other way round;
- between the sessions the agent's connections are refused (the gap is
  measured and bounded).

The gateway is keyhole-gateway (http2_v1 mode, from the environment CMD
gets), the sandbox side this repository ships."""

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
from khtest import KeyholeTestCase, request  # noqa: E402
from khconnect import keyhole_connect, wait_gateway  # noqa: E402
from test_reload import access, hup, ready, write  # noqa: E402

POLICY_A = """\
allow GET /api/agents/me
allow GET /slow/*
"""
POLICY_B = POLICY_A + "allow GET /api/extra\n"
# Line 2, column 16: an unknown constraint.
POLICY_BAD = """\
allow GET /api/agents/me
allow GET /x   frobnicate
"""


def gateway_cmd():
    return "exec " + shlex.quote(khtest.binary("keyhole-gateway"))


def commands(kh):
    """The launcher's sessions in log order: [("start"|"stop", pid)]."""
    out = []
    for ln in kh.stderr_lines():
        m = re.search(r"connect: (started|stopping) command pid=(\d+)", ln)
        if m:
            out.append(("start" if m.group(1) == "started" else "stop", int(m.group(2))))
    return out


class Prober(threading.Thread):
    """GET /api/agents/me on the gateway's port every 20 ms: what the
    agent sees, in time order: [(t, status or an error name)].  It holds
    the old token until a gateway refuses it (401: the new session's),
    then the new one, as an agent told of the rotation would."""

    def __init__(self, port, tokens):
        super().__init__(daemon=True)
        self.port, self.tokens, self.which = port, tokens, 0
        self.seen = []
        self.stop_ev = threading.Event()

    def get(self):
        return request(self.port, "GET", "/api/agents/me",
                       token=self.tokens[self.which], timeout=3)

    def run(self):
        while not self.stop_ev.is_set():
            t = time.monotonic()
            try:
                r = self.get()
                if r.status == 401 and self.which == 0:
                    self.which = 1
                    r = self.get()
                self.seen.append((t, r.status))
            except OSError as e:
                self.seen.append((t, type(e).__name__))
            time.sleep(0.02)

    def finish(self):
        self.stop_ev.set()
        self.join(10)
        return self.seen


class ReloadConnectTest(KeyholeTestCase):

    def start(self, **kw):
        self.up = self.upstream()
        kh = keyhole_connect(self, self.up, gateway_cmd(), policy=POLICY_A,
                             token_via="file", **kw)
        wait_gateway(kh)
        return kh

    def reload_cmd(self, kh):
        return subprocess.run([khtest.binary("keyhole"), "reload", "--ready-file",
                               kh.ready_path, "--pid", str(kh.pid)],
                              capture_output=True, timeout=60)

    def test_one_session_at_a_time_new_policy_and_token_in_the_next(self):
        kh = self.start(args=["--drain-ms", "5000"])
        old_token = kh.token
        self.assertEqual(request(kh.gw_port, "GET", "/api/agents/me", token=old_token).status,
                         200)
        self.assertEqual(request(kh.gw_port, "GET", "/api/extra", token=old_token).status,
                         403)
        (first,) = [p for what, p in commands(kh) if what == "start"]
        old_child = kh.child_pid()
        # A stream in flight across the reload: the old session finishes it.
        self.up.slow_seconds = 1.5
        got = {}

        def slow():
            got["r"] = request(kh.gw_port, "GET", "/slow/1", token=old_token, timeout=15)
        t = threading.Thread(target=slow)
        t.start()
        self.up.wait_requests(2)
        # Policy B, and a rotated token.
        write(kh.policy_file, POLICY_B)
        new_token = khtest.new_token()
        write(os.path.join(kh.dir, "token"), new_token)
        probe = Prober(kh.gw_port, [old_token, new_token])
        probe.start()
        t0 = time.monotonic()
        p = self.reload_cmd(kh)
        took = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + kh.stderr())
        t.join(15)
        # The stream in flight: answered by the old child, under gen 0.
        self.assertEqual(got["r"].status, 200, got)
        self.assertEqual(access(kh, "/slow/1"), [(200, 0)])
        # The new session: a new command, started only after the old one
        # was stopped and the old child had exited; the candidate had none.
        wait_gateway(kh)
        khtest.wait_until(lambda: any(s == 200 and tt > t0 + took for tt, s in probe.seen),
                          10, "a 200 from the new session")
        seen = probe.finish()
        cmds = commands(kh)
        starts = [p for what, p in cmds if what == "start"]
        self.assertEqual(len(starts), 2, cmds)
        self.assertEqual(starts[0], first)
        self.assertLess(cmds.index(("stop", first)), cmds.index(("start", starts[1])), cmds)
        self.assertFalse(khtest.pid_alive(first))
        self.assertFalse(khtest.pid_alive(old_child))
        lines = kh.stderr_lines()
        gone = next(i for i, ln in enumerate(lines)
                    if "child pid=%d exited" % old_child in ln)
        started = next(i for i, ln in enumerate(lines)
                       if "connect: started command pid=%d" % starts[1] in ln)
        self.assertLess(gone, started, "\n".join(lines))
        # The candidate never ran a command: only two sessions ever, and
        # the reload's child (generation 1, no session) left.
        self.assertEqual(kh.count_lines(lambda ln: "a reload's" in ln), 1)
        # The new policy and the new token, in the new session only.
        r = request(kh.gw_port, "GET", "/api/extra", token=new_token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(access(kh, "/api/extra"), [(403, 0), (200, 1)])
        self.assertEqual(request(kh.gw_port, "GET", "/api/agents/me",
                                 token=old_token).status, 401)
        self.assertEqual(ready(kh)["generation"], 1)
        # What the agent saw: 200s, then at most refusals or the gateway's
        # own 503 (bridge_unavailable) between the sessions, then 200s with
        # the new token; never a 4xx, never a request answered by the
        # wrong generation.
        statuses = [s for _, s in seen]
        self.assertNotIn(403, statuses)
        self.assertNotIn(401, statuses)
        bad = [s for s in statuses if s not in (200, 503, "ConnectionRefusedError",
                                                "ConnectionResetError")]
        self.assertEqual(bad, [], seen)
        ok_before = max(tt for tt, s in seen if s == 200 and tt < t0 + took)
        ok_after = min(tt for tt, s in seen if s == 200 and tt > ok_before)
        gap = ok_after - ok_before
        sys.stderr.write("reload under --connect: keyhole reload took %.2f s (the "
                         "stream in flight 1.5 s), no 200 for %.2f s; the agent saw %s\n"
                         % (took, gap, sorted(set(map(str, statuses)))))
        # The old streams (1.5 s), the old command's exit, the new one's
        # start: well under --drain-ms + 2 s + the start deadline.
        self.assertLess(gap, 5.0 + 2.0 + 10.0)

    def test_a_bad_policy_leaves_the_session_untouched(self):
        kh = self.start()
        (first,) = [p for what, p in commands(kh) if what == "start"]
        child = kh.child_pid()
        write(kh.policy_file, POLICY_BAD)
        p = self.reload_cmd(kh)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(b":2:16: ", p.stderr)
        self.assertEqual(commands(kh), [("start", first)])
        self.assertEqual(kh.child_pid(), child)
        self.assertTrue(khtest.pid_alive(first))
        self.assertEqual(request(kh.gw_port, "GET", "/api/agents/me", token=kh.token).status,
                         200)
        self.assertEqual(ready(kh)["generation"], 0)
        self.assertFalse(ready(kh)["reloadOk"])

    def test_sigterm_between_the_sessions_stops_cleanly(self):
        kh = self.start(args=["--drain-ms", "3000"])
        self.up.slow_seconds = 1.0
        t = threading.Thread(target=lambda: request(kh.gw_port, "GET", "/slow/2",
                                                    token=kh.token, timeout=10))
        t.start()
        self.up.wait_requests(1)
        write(kh.policy_file, POLICY_B)
        kh.signal(signal.SIGHUP)
        kh.wait_log("the new child starts with a new session")
        kh.signal(signal.SIGTERM)
        t.join(10)
        self.assertEqual(kh.wait_exit(15), 0)
        starts = [p for what, p in commands(kh) if what == "start"]
        self.assertEqual(len(starts), 1, kh.output_text())


if __name__ == "__main__":
    khtest.main()
