#!/usr/bin/env python3
"""Every answer tells the truth about a request the upstream did not answer
normally (SECURITY.md I6).

A misbehaving raw-socket upstream (rawup.py) resets, closes, hangs, sends
too much or sends no valid HTTP; for a GET and for a POST each, the test
asserts the exact status, JSON body and indeterminate header keyhole
answers.  A mutation that may have reached the upstream is never answered
with a status a client would retry blindly (502/503/504): it gets 409 +
`x-paperclip-bridge-outcome: indeterminate`.  Only what certainly never
left keyhole (refused connection, a connect that hung) is a plain 502/504.

Also: an upstream status keyhole does not pass on (1xx as a final answer,
anything outside 200-599) becomes 502 / 409 and the child stays alive with
its other requests answered; the drain deadline and a child that dies
answer or log each in-flight request for what it is.
"""

import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
import rawup  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

POLICY = """\
allow GET /f/*
allow POST /f/*
"""


def indeterminate(msg):
    return {"error": msg, "outcome": "indeterminate", "retryable": False}


RESET_GET = {"error": "Bridge upstream reset the connection before answering."}
RESET_POST = indeterminate("Bridge upstream reset the connection after the request was "
                           "sent; it may have taken effect.")
CLOSED_GET = {"error": "Bridge upstream closed the connection before answering."}
CLOSED_POST = indeterminate("Bridge upstream closed the connection after the request was "
                            "sent; it may have taken effect.")
CUT_GET = {"error": "Bridge upstream response was cut short."}
CUT_POST = indeterminate("Bridge upstream response was cut short; the request may have "
                         "taken effect.")
TOO_LARGE_GET = {"error": "Bridge upstream response too large."}
TOO_LARGE_POST = indeterminate("Bridge upstream response was too large to return; the "
                               "request may have taken effect.")
TIMEOUT_GET = {"error": "Bridge upstream request timed out."}
TIMEOUT_POST = indeterminate("Bridge upstream request timed out after it was sent; it may "
                             "have taken effect.")
INVALID_GET = {"error": "Bridge upstream sent an invalid response."}
INVALID_POST = indeterminate("Bridge upstream sent an invalid response; the request may "
                             "have taken effect.")
STATUS_GET = {"error": "Bridge upstream sent a status keyhole does not pass on."}
STATUS_POST = indeterminate("Bridge upstream sent a status keyhole does not pass on; the "
                            "request may have taken effect.")
UNSENT_TIMEOUT = {"error": "Bridge upstream request timed out before it was sent."}
UNREACHABLE = {"error": "Bridge could not reach the upstream."}
SHUTDOWN = {"error": "Bridge is shutting down."}
SHUTDOWN_POST = indeterminate("Bridge shut down before the upstream answered; the request "
                              "may have taken effect.")

HEAD_200 = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
MAX_RESPONSE = 1024

# name: (plan action, GET answer, POST answer); each status/body exact.
FAULTS = {
    "reset-after-read": (("reset",), (502, RESET_GET), (409, RESET_POST)),
    "close-without-answer": (("close",), (502, CLOSED_GET), (409, CLOSED_POST)),
    "close-mid-headers": (("raw", HEAD_200, "close"), (502, CUT_GET), (409, CUT_POST)),
    "close-mid-body": (("raw", HEAD_200 + b"Content-Length: 100\r\n\r\n{\"partial\":",
                        "close"), (502, CUT_GET), (409, CUT_POST)),
    "reset-mid-body": (("raw", HEAD_200 + b"Content-Length: 100\r\n\r\n{\"partial\":",
                        "reset"), (502, CUT_GET), (409, CUT_POST)),
    "close-mid-chunk": (("raw", HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n"
                         b"10\r\n{\"partial\":", "close"), (502, CUT_GET), (409, CUT_POST)),
    "too-large": (("respond", 200, b'{"x":"' + b"y" * 5000 + b'"}'),
                  (502, TOO_LARGE_GET), (409, TOO_LARGE_POST)),
    "too-large-chunked": (("raw", HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n" +
                           (b"400\r\n" + b"z" * 1024 + b"\r\n") * 3 + b"0\r\n\r\n", "keep"),
                          (502, TOO_LARGE_GET), (409, TOO_LARGE_POST)),
    "too-large-declared": (("raw", HEAD_200 + b"Content-Length: 1000000\r\n\r\n{", "hang"),
                           (502, TOO_LARGE_GET), (409, TOO_LARGE_POST)),
    "hang": (("hang",), (504, TIMEOUT_GET), (409, TIMEOUT_POST)),
    "hang-mid-body": (("raw", HEAD_200 + b"Content-Length: 100\r\n\r\n{", "hang"),
                      (504, TIMEOUT_GET), (409, TIMEOUT_POST)),
    "continue-only": (("raw", b"HTTP/1.1 100 Continue\r\n\r\n", "close"),
                      (502, CUT_GET), (409, CUT_POST)),
    "garbage-status-line": (("raw", b"NOT HTTP AT ALL\r\n\r\n", "close"),
                            (502, INVALID_GET), (409, INVALID_POST)),
    "bad-header-line": (("raw", b"HTTP/1.1 200 OK\r\nno colon here\x01\r\n\r\n", "close"),
                        (502, INVALID_GET), (409, INVALID_POST)),
    # Item C: statuses the child may not write.
    "status-101": (("raw", b"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 2\r\n\r\n{}",
                    "keep"), (502, STATUS_GET), (409, STATUS_POST)),
    "status-999": (("respond", 999), (502, STATUS_GET), (409, STATUS_POST)),
    "status-600": (("respond", 600), (502, STATUS_GET), (409, STATUS_POST)),
    # Not a status line libcurl reads at all.
    "status-099": (("raw", b"HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\n{}", "keep"),
                   (502, INVALID_GET), (409, INVALID_POST)),
    "status-1000": (("raw", b"HTTP/1.1 1000 Big\r\nContent-Length: 2\r\n\r\n{}", "keep"),
                    (502, INVALID_GET), (409, INVALID_POST)),
}


class UpstreamFaultTest(KeyholeTestCase):

    def start(self, plan, **kw):
        self.up = rawup.RawUpstream(self, plan, **kw)
        self.kh = self.keyhole(self.up.url, policy=POLICY,
                               args=["--upstream-timeout-ms", "1000",
                                     "--max-response", str(MAX_RESPONSE)])
        self.child = self.kh.child_pid()

    def check(self, r, status, body):
        self.assertJsonError(r, status, body)
        want = "indeterminate" if status == 409 else None
        self.assertEqual(r.header("x-paperclip-bridge-outcome"), want, r)

    def assertChildAlive(self):
        self.assertTrue(khtest.pid_alive(self.child), "the child died:\n" +
                        self.kh.output_text()[-3000:])
        self.assertEqual(self.kh.children("keyhole-net"), [self.child],
                         "the child was replaced:\n" + self.kh.output_text()[-3000:])

    def test_each_fault_get_and_post(self):
        def plan(req):
            return FAULTS[req.path.split("/")[2]][0]
        self.start(plan)
        for name, (_, want_get, want_post) in FAULTS.items():
            for method, want in (("GET", want_get), ("POST", want_post)):
                with self.subTest(fault=name, method=method):
                    path = "/f/%s" % name
                    n0 = self.up.count(method)
                    body = b'{"n":1}' if method == "POST" else None
                    r = self.kh.request(method, path, body=body, timeout=10)
                    self.check(r, *want)
                    time.sleep(0.05)
                    self.assertEqual(self.up.count(method) - n0, 1,
                                     "sent %s %s more than once" % (method, path))
        # The child never saw a status it would refuse.
        self.assertChildAlive()

    def test_reset_before_the_request_is_read(self):
        self.start(lambda req: ("respond", 200), on_connect=lambda conn: "reset-unread")
        r = self.kh.request("GET", "/f/a", timeout=10)
        self.check(r, 502, RESET_GET)
        r = self.kh.request("POST", "/f/b", body=b'{"n":1}', timeout=10)
        self.check(r, 409, RESET_POST)
        self.assertEqual(self.up.resets_unread, 2)

    def test_bad_status_keeps_child_and_other_requests(self):
        # Item C: a 999 must not reach the child (which would refuse it and
        # exit, dropping every request in flight).
        release = threading.Event()

        def plan(req):
            if req.path == "/f/slow":
                release.wait(10)
                return ("respond", 200, b'{"slow":true}')
            return FAULTS[req.path.split("/")[2]][0]
        self.start(plan)
        box = {}
        t = threading.Thread(target=lambda: box.setdefault(
            "r", self.kh.request("GET", "/f/slow", timeout=15)))
        t.start()
        self.up.wait_requests(1)
        for name in ("status-999", "status-101", "status-600"):
            r = self.kh.request("GET", "/f/%s" % name, timeout=10)
            self.check(r, 502, STATUS_GET)
            r = self.kh.request("POST", "/f/%s" % name, body=b'{"n":1}', timeout=10)
            self.check(r, 409, STATUS_POST)
        release.set()
        t.join(15)
        self.assertEqual(box["r"].status, 200, box)
        self.assertEqual(box["r"].json(), {"slow": True})
        self.assertChildAlive()
        self.assertEqual(self.kh.request("GET", "/f/slow", timeout=10).status, 200)


class UnsentTest(KeyholeTestCase):
    """What certainly never left keyhole is retryable, also for a POST."""

    def test_refused_connection_502_for_both(self):
        kh = self.keyhole(khtest.closed_port_url(), policy=POLICY)
        for method in ("GET", "POST"):
            body = b'{"n":1}' if method == "POST" else None
            r = kh.request(method, "/f/x", body=body, timeout=10)
            self.assertJsonError(r, 502, UNREACHABLE)
            self.assertIsNone(r.header("x-paperclip-bridge-outcome"), r)

    def test_connect_that_hangs_504_for_both(self):
        # keyhole's connect never completes, so nothing is sent.
        port, _ = full_listener(self)
        kh = self.keyhole("http://127.0.0.1:%d" % port, policy=POLICY,
                          args=["--upstream-timeout-ms", "800"])
        for method in ("GET", "POST"):
            body = b'{"n":1}' if method == "POST" else None
            r = kh.request(method, "/f/x", body=body, timeout=10)
            self.assertJsonError(r, 504, UNSENT_TIMEOUT)
            self.assertIsNone(r.header("x-paperclip-bridge-outcome"), r)


def syn_sent_to(port):
    """Sockets of this host still connecting (SYN_SENT) to 127.0.0.1:port."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] == "0100007F:%04X" % port and fields[3] == "02":
                n += 1
    return n


def full_listener(tc):
    """A listener whose accept queue is full: the kernel drops further
    SYNs, so a connect to it never completes.  Returns (port, number of
    the test's own connects left hanging)."""
    lsock = socket.socket()
    tc.addCleanup(lsock.close)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        tc.addCleanup(s.close)
    time.sleep(0.2)
    return port, syn_sent_to(port)


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
        if "error" in box:
            raise box["error"]
        return box.get("value")
    return join


class InFlightEndTest(KeyholeTestCase):

    def access_lines(self, kh, path):
        return [ln for ln in kh.stderr_lines() if "path=%s " % path in ln and " status=" in ln]

    def test_drain_deadline_answers_each_for_what_it_is(self):
        up = rawup.RawUpstream(self, lambda req: ("hang",))
        kh = self.keyhole(up.url, policy=POLICY, args=["--drain-ms", "500"])
        get = in_thread(lambda: kh.request("GET", "/f/get", timeout=10))
        post = in_thread(lambda: kh.request("POST", "/f/post", body=b'{"n":1}', timeout=10))
        up.wait_requests(2)
        kh.signal(signal.SIGTERM)
        r = get()
        self.assertJsonError(r, 503, SHUTDOWN)
        self.assertIsNone(r.header("x-paperclip-bridge-outcome"), r)
        r = post()
        self.assertJsonError(r, 409, SHUTDOWN_POST)
        self.assertEqual(r.header("x-paperclip-bridge-outcome"), "indeterminate", r)
        self.assertEqual(kh.wait_exit(5), 0, kh.output_text())
        self.assertEqual(len(self.access_lines(kh, "/f/get")), 1, kh.output_text())
        self.assertIn("status=503", self.access_lines(kh, "/f/get")[0])
        self.assertIn("status=409", self.access_lines(kh, "/f/post")[0])
        self.assertEqual(up.count(), 2)

    def test_drain_deadline_unsent_post_is_503(self):
        # A POST still connecting at the deadline never left keyhole.
        port, hanging = full_listener(self)
        kh = self.keyhole("http://127.0.0.1:%d" % port, policy=POLICY,
                          args=["--drain-ms", "500"])
        post = in_thread(lambda: kh.request("POST", "/f/post", body=b'{"n":1}', timeout=10))
        # The parent has it: its connect is the one more SYN_SENT.
        khtest.wait_until(lambda: syn_sent_to(port) > hanging, 5, "keyhole's connect")
        kh.signal(signal.SIGTERM)
        r = post()
        self.assertJsonError(r, 503, SHUTDOWN)
        self.assertIsNone(r.header("x-paperclip-bridge-outcome"), r)
        self.assertEqual(kh.wait_exit(5), 0, kh.output_text())

    def test_child_gone_logs_each_request_unanswered(self):
        up = rawup.RawUpstream(self, lambda req: ("hang",))
        kh = self.keyhole(up.url, policy=POLICY)
        child = kh.child_pid()
        post = in_thread(lambda: kh.request("POST", "/f/post", body=b'{"n":1}', timeout=10))
        get = in_thread(lambda: kh.request("GET", "/f/get", timeout=10))
        up.wait_requests(2)
        os.kill(child, signal.SIGKILL)
        # The client's connection died with the child: no answer at all.
        for join in (post, get):
            with self.assertRaises(khtest.ConnectionClosed):
                join()
        lines = kh.wait_log(lambda ln: "not answered" in ln, count=2, what="2 lines")
        post_line = [ln for ln in lines if "POST /f/post" in ln]
        get_line = [ln for ln in lines if "GET /f/get" in ln]
        self.assertEqual(len(post_line), 1, lines)
        self.assertIn("the child is gone", post_line[0])
        self.assertIn("may have taken effect", post_line[0])
        self.assertEqual(len(get_line), 1, lines)
        self.assertNotIn("may have taken effect", get_line[0])
        acc = self.access_lines(kh, "/f/post")
        self.assertEqual(len(acc), 1, kh.output_text())
        self.assertIn("status=0 ", acc[0])
        # The bridge comes back; the upstream got each request once.
        kh.child_pid(exclude={child}, timeout=5)
        self.assertEqual(up.count("POST"), 1)


if __name__ == "__main__":
    khtest.main()
