#!/usr/bin/env python3
"""Child liveness (src/priv/liveness.c) and what a child's end means for
the requests it held.

- A stopped (SIGSTOP) child answers no MSG_PING: the parent kills it
  within --child-timeout-ms (plus a tick) and restarts it; requests that
  waited meanwhile are served by the new child.
- systemd's watchdog: WATCHDOG=1 reaches $NOTIFY_SOCKET while the child
  answers pings, and never while it is stopped.
- A child busy with the largest bodies is not taken for a stuck one.
- Whatever ends a child (killed, stuck), an HTTP client whose request was
  in flight sees its connection close, whether or not the request reached
  the upstream (README, "Errors the sandbox sees"); a queue request in
  flight is answered by the next child exactly as SECURITY.md says: 503
  for GET/HEAD/OPTIONS, 409 indeterminate otherwise, never forwarded
  twice.
"""

import json
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from khqueue import QueueDir, keyhole_queue, new_id, response_body  # noqa: E402

TIMEOUT_MS = 2000
TICK = TIMEOUT_MS / 4 / 1000.0


def sanitizer_build():
    """An ASan/UBSan build: cJSON's allocations cost ~7x there (the JSON
    check of an 8 MiB array of one-digit numbers: 0.25 s -> 1-1.6 s)."""
    try:
        with open(os.path.join(khtest.BUILD, "CMakeCache.txt")) as f:
            return "KH_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


# A short deadline (the minimum is 1 s) that a child working on one big
# request file still meets on a loaded machine, times the build's slowdown.
SHORT_MS = 2000 * (5 if sanitizer_build() else 1)

BODY_503_RESTART = {"error": "Bridge restarted before the request was answered."}
BODY_409_RESTART = {"error": "Bridge restarted after the request was claimed; it may "
                             "have taken effect.",
                    "outcome": "indeterminate", "retryable": False}


def in_thread(fn):
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:   # noqa: B902 - handed to the test thread
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join(timeout=20.0):
        t.join(timeout)
        if t.is_alive():
            raise AssertionError("background request still running after %.0f s" % timeout)
        if "error" in box:
            raise box["error"]
        return box["value"]
    return join


def stuck_line(ln):
    return ln.startswith("keyhole[") and "answered no liveness ping" in ln


def in_flight_request(kh, method, path, body=None):
    """A request on its own connection, answered or not, in a thread:
    returns a join() giving the Response, or the ConnectionClosed error."""
    def go():
        c = khtest.Conn(kh.port, timeout=20)
        try:
            c.send(khtest.build_request(method, path, token=kh.token, body=body))
            try:
                return c.read_response(method=method, timeout=20)
            except khtest.ConnectionClosed as e:
                return e
        finally:
            c.close()
    return in_thread(go)


class NotifySocket:
    """The $NOTIFY_SOCKET end systemd would hold: every datagram with the
    time it arrived."""

    def __init__(self, tc):
        d = khtest.make_tempdir(tc)
        self.path = os.path.join(d, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.msgs = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        tc.addCleanup(self.close)

    def _run(self):
        while not self.stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.msgs.append((time.monotonic(), data.decode("utf-8", "replace")))

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()

    def snapshot(self):
        with self.lock:
            return list(self.msgs)

    def watchdogs(self):
        return [t for t, m in self.snapshot() if "WATCHDOG=1" in m.split("\n")]


class StuckChildTest(KeyholeTestCase):

    def test_stopped_child_is_killed_and_restarted_within_the_deadline(self):
        up = self.upstream()
        up.slow_seconds = 8.0    # still upstream when the child is killed
        kh = self.keyhole(up.url, args=["--child-timeout-ms", str(TIMEOUT_MS)])
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        old = kh.child_pid()
        # A GET and a mutation upstream when the child stops.
        get = in_flight_request(kh, "GET", "/slow/g")
        post = in_flight_request(kh, "POST", "/slow/p", body=b"{}")
        up.wait_requests(3)
        os.kill(old, signal.SIGSTOP)
        t0 = time.monotonic()
        # A request made while the child is stopped waits in the listen
        # queue (the listener is the parent's) for the next child.
        waiting = in_thread(lambda: kh.request("GET", "/api/agents/me", timeout=20))
        kh.wait_log(stuck_line, timeout=TIMEOUT_MS / 1000.0 + 4 * TICK + 3.0,
                    what="the 'answered no liveness ping' line")
        killed_after = time.monotonic() - t0
        # Not before its deadline (the last pong came at most a tick before
        # the stop), and not much after: the deadline plus a tick or two.
        self.assertGreaterEqual(killed_after, TIMEOUT_MS / 1000.0 - TICK - 0.1)
        self.assertLess(killed_after, TIMEOUT_MS / 1000.0 + 2 * TICK + 1.5, kh.output_text())
        khtest.wait_until(lambda: not khtest.pid_alive(old), 3, "the stopped child to die")
        new = kh.child_pid(exclude={old}, timeout=5)
        self.assertNotEqual(new, old)
        # Its clients saw their connections close, answered or not upstream.
        for join in (get, post):
            r = join()
            self.assertIsInstance(r, khtest.ConnectionClosed, r)
        r = waiting()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        self.assertTrue(kh.alive())
        kh.wait_log("2 request(s) of the stuck child were in flight")
        # Never retried: the mutation reached the upstream exactly once.
        time.sleep(1.2)
        posts = [x for x in up.snapshot() if x.method == "POST"]
        self.assertEqual(len(posts), 1, up.snapshot())
        self.assertEqual(kh.count_lines(stuck_line), 1, kh.output_text())

    def test_busy_child_is_not_taken_for_stuck(self):
        # The largest bodies the operator may allow, in the shape that is
        # slowest to check (an array of one-digit numbers: 0.25 s each in a
        # normal build, 1-1.6 s under ASan), three at once, with the default
        # deadline: the child is not killed.
        policy = khtest.TEST_POLICY + "allow POST /api/big max-body 8m body json\n"
        up = self.upstream()
        kh = self.keyhole(up.url, policy=policy, args=["--max-body", str(8 << 20)])
        child = kh.child_pid()
        body = b"[" + b"1," * ((8 << 20) // 2 - 2) + b"1]"
        self.assertLessEqual(len(body), 8 << 20)
        joins = [in_thread(lambda: kh.request("POST", "/api/big", body=body, timeout=60))
                 for _ in range(3)]
        for join in joins:
            try:
                r = join(90)
            except AssertionError as e:
                self.fail("%s\n%s" % (e, kh.output_text()[-3000:]))
            self.assertEqual(r.status, 200, r)
        self.assertEqual(kh.count_lines(stuck_line), 0, kh.output_text())
        self.assertEqual(kh.children("keyhole-net"), [child])

    def test_queue_backlog_of_big_requests_is_not_taken_for_stuck(self):
        # 48 request files waiting when the child starts, each a 2 MiB body
        # of the slowest shape to check (~65 ms a file): one scan would take
        # over 3 s.  The scan yields to the loop every KH_QUEUE_SLICE_MS, so
        # the child keeps talking to the parent under a 2 s deadline (a few
        # files at a time fit in it, even on a loaded machine; 48 do not).
        policy = khtest.TEST_POLICY + "allow POST /api/big max-body 8m body json\n"
        up = self.upstream()
        q = QueueDir(self)
        os.mkdir(q.sub("requests"), 0o755)
        body = "[" + "1," * ((2 << 20) // 2 - 2) + "1]"
        ids = ["big-%d" % i for i in range(48)]
        for rid in ids:
            q.put(q.envelope(rid, method="POST", path="/api/big", body=body,
                             headers={"content-type": "application/json"}))
        kh = keyhole_queue(self, up.url, q, policy=policy,
                           args=["--max-body", str(8 << 20), "--child-timeout-ms",
                                 str(SHORT_MS)])
        child = kh.child_pid()
        for rid in ids:
            resp = q.wait_response(rid, timeout=60)
            self.assertEqual(resp["status"], 200, (resp, kh.output_text()[-3000:]))
        self.assertEqual(kh.count_lines(stuck_line), 0, kh.output_text())
        self.assertEqual(kh.children("keyhole-net"), [child])
        self.assertEqual(up.count(), 48)

    def test_child_timeout_below_the_minimum_refused(self):
        # Below 1 s a loaded machine would look like a stuck child.
        code, _, err = khtest.run_keyhole(["serve", "--policy", khtest.PAPERCLIP_POLICY,
                                           "--upstream", "http://127.0.0.1:1",
                                           "--child-timeout-ms", "999"])
        self.assertEqual(code, 2, err)
        self.assertIn("--child-timeout-ms: '999' is not a number in [1000, ", err)


class WatchdogTest(KeyholeTestCase):

    def test_watchdog_fed_only_while_the_child_answers(self):
        ns = NotifySocket(self)
        wd_usec = 800000
        up = self.upstream()
        kh = self.keyhole(up.url, args=["--child-timeout-ms", str(TIMEOUT_MS)],
                          env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": str(wd_usec)})
        khtest.wait_until(lambda: len(ns.watchdogs()) >= 4, 5, "four WATCHDOG=1")
        msgs = ns.snapshot()
        self.assertTrue(any("READY=1" in m for _, m in msgs), msgs)
        wds = ns.watchdogs()
        gaps = [b - a for a, b in zip(wds, wds[1:])]
        self.assertLess(max(gaps), wd_usec / 1e6 * 0.75, gaps)
        old = kh.child_pid()
        os.kill(old, signal.SIGSTOP)
        t0 = time.monotonic()
        khtest.wait_until(lambda: any("STATUS=child exited; restarting" in m
                                      for t, m in ns.snapshot() if t > t0),
                          TIMEOUT_MS / 1000.0 + 4 * TICK + 3.0, "the stuck child's restart")
        t_restart = min(t for t, m in ns.snapshot()
                        if t > t0 and "STATUS=child exited; restarting" in m)
        # Stopped: at most a pong already on its way (within 0.3 s), then
        # nothing until the parent gave up on the child.
        late = [t - t0 for t in ns.watchdogs() if t0 + 0.3 < t < t_restart]
        self.assertEqual(late, [], "WATCHDOG=1 while the child was stopped")
        self.assertGreater(t_restart - t0, 1.0)
        # The new child answers: the watchdog is fed again.
        khtest.wait_until(lambda: any(t > t_restart for t in ns.watchdogs()), 5,
                          "WATCHDOG=1 from the restarted child")
        self.assertTrue(any("STATUS=serving (child restarted)" in m
                            for t, m in ns.snapshot() if t > t_restart))
        self.assertNotEqual(kh.child_pid(exclude={old}), old)

    def test_watchdog_for_another_pid_is_ignored(self):
        # sd_watchdog_enabled(3): WATCHDOG_PID names the process meant.
        ns = NotifySocket(self)
        up = self.upstream()
        self.keyhole(up.url, env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "400000",
                                  "WATCHDOG_PID": "1"})
        time.sleep(1.0)
        msgs = ns.snapshot()
        self.assertTrue(any("READY=1" in m for _, m in msgs), msgs)
        self.assertEqual(ns.watchdogs(), [], msgs)


class ChildDeathTest(KeyholeTestCase):
    """What an in-flight request gets when its child ends (README's error
    table; SECURITY.md's at-most-once table for the queue)."""

    def test_killed_child_closes_in_flight_connections(self):
        up = self.upstream()
        up.slow_seconds = 1.0
        kh = self.keyhole(up.url)
        old = kh.child_pid()
        post = in_flight_request(kh, "POST", "/slow/p", body=b"{}")
        up.wait_requests(1)
        os.kill(old, signal.SIGKILL)
        r = post()
        # The request did reach the upstream, and the client cannot tell:
        # a mutation's outcome is indeterminate.
        self.assertIsInstance(r, khtest.ConnectionClosed, r)
        self.assertEqual([x.method for x in up.snapshot()], ["POST"])
        kh.child_pid(exclude={old}, timeout=5)
        time.sleep(1.2)
        self.assertEqual(len(up.snapshot()), 1, up.snapshot())

    def _queue_child_ends(self, how, args=()):
        up = self.upstream()
        up.slow_seconds = 1.0
        q = QueueDir(self)
        kh = keyhole_queue(self, up.url, q, args=args)
        old = kh.child_pid()
        q.put(q.envelope("post1", method="POST", path="/slow/p",
                         headers={"content-type": "application/json"}, body="{}"))
        q.put(q.envelope("get1", method="GET", path="/slow/g"))
        up.wait_requests(2)
        os.kill(old, how)
        kh.child_pid(exclude={old}, timeout=TIMEOUT_MS / 1000.0 + 6)
        post = q.wait_response("post1", timeout=5)
        self.assertEqual(post["status"], 409, post)
        self.assertEqual(post["headers"], {"content-type": "application/json",
                                           "x-paperclip-bridge-outcome": "indeterminate"})
        self.assertEqual(json.loads(response_body(post)), BODY_409_RESTART)
        get = q.wait_response("get1", timeout=5)
        self.assertEqual(get["status"], 503, get)
        self.assertEqual(get["headers"], {"content-type": "application/json"})
        self.assertEqual(json.loads(response_body(get)), BODY_503_RESTART)
        rid = new_id()
        q.put(q.envelope(rid))
        self.assertEqual(q.wait_response(rid)["status"], 200)
        time.sleep(1.2)   # anything re-sent would have arrived by now
        paths = sorted(x.path for x in up.snapshot())
        self.assertEqual(paths, ["/api/agents/me", "/slow/g", "/slow/p"], paths)
        self.assertEqual(q.listing("processing"), [])
        return kh

    def test_killed_child_queue_requests_answered_as_documented(self):
        self._queue_child_ends(signal.SIGKILL)

    def test_stuck_child_queue_requests_answered_as_documented(self):
        kh = self._queue_child_ends(signal.SIGSTOP, ["--child-timeout-ms", str(TIMEOUT_MS)])
        self.assertEqual(kh.count_lines(stuck_line), 1, kh.output_text())


if __name__ == "__main__":
    khtest.main()
