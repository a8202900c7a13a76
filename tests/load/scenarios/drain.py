"""SIGTERM with connections the kernel completed but keyhole has not
accepted yet, and a client still sending.

A request to a slow upstream route is in flight (3 s), so the drain
lasts.  The child is stopped (SIGSTOP) while 30 clients connect and send
a GET: the kernel completes their handshakes into the listen backlog.
Then keyhole gets SIGTERM and the child is continued, so its drain begins
with 30 connections waiting in the backlog.  A well-behaved client keeps
sending throughout.  Pass: the request in flight gets its 200; every
backlog client gets an answer (200, or 503 {"error":"Bridge is shutting
down."}) followed by a clean EOF, none a reset; the client beside them
sees no reset either (503 while draining, a refused connect once the
listener is gone); keyhole exits within its drain deadline."""

import signal
import socket
import threading
import time

import loadlib
from httpcheck import Reader, Reset

NAME = "drain"
FAST = True
ABOUT = "SIGTERM with 30 connections in the listen backlog, a client beside them"

BACKLOG = 30
SHUTDOWN_BODY = b'{"error":"Bridge is shutting down."}'


def run(opts):
    r = loadlib.Result(NAME)
    b = loadlib.Bench(nofile=1024)
    socks = []
    try:
        warm = loadlib.GoodClient(b.port, b.kh.token, tag="warm")
        if warm.one(0) != 200:
            raise AssertionError("keyhole does not answer")
        r.rss[0], r.fds[0] = loadlib.snapshot(b.child)
        log0 = b.log_lines()
        slow = {}

        def in_flight():
            c = loadlib.GoodClient(b.port, b.kh.token, tag="slow", timeout=15)
            slow["status"] = c.one(0)
        c0 = b.up.count()
        t_slow = threading.Thread(target=in_flight, daemon=True)
        t_slow.start()
        deadline = time.monotonic() + 5
        while b.up.count() == c0 and time.monotonic() < deadline:
            time.sleep(0.01)
        loadlib.stop_pid(b.child, signal.SIGSTOP)
        try:
            for i in range(BACKLOG):
                s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
                s.sendall(("GET /api/issues/backlog-%d/comments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Authorization: Bearer %s\r\n\r\n" % (i, b.kh.token)).encode())
                socks.append(s)
            r.rss[1], r.fds[1] = loadlib.snapshot(b.child)
            gc = loadlib.GoodClient(b.port, b.kh.token, interval=0.02, timeout=8).start(4)
            t0 = time.monotonic()
            b.kh.signal(signal.SIGTERM)
            time.sleep(0.3)
        finally:
            loadlib.stop_pid(b.child, signal.SIGCONT)
        answered = resets = lost = unclean = 0
        statuses = {}
        for s in socks:
            rd = Reader(s, time.monotonic() + 12)
            try:
                resp = rd.response()
                if resp is None:
                    lost += 1
                    continue
                st, _, body = resp
                statuses[st] = statuses.get(st, 0) + 1
                if st == 200 or (st == 503 and body == SHUTDOWN_BODY):
                    answered += 1
                if not rd.at_eof():
                    unclean += 1
            except Reset:
                resets += 1
            except (OSError, AssertionError):
                lost += 1
        code = b.kh.wait_exit(15)
        took = time.monotonic() - t0
        t_slow.join(5)
        gc.stop()
        r.from_client(gc, b.up)
        r.rss[2], r.fds[2] = None, None
        r.logs = b.log_lines() - log0
        r.notes.append("backlog: %d answered %r, %d reset, %d lost, %d not closed cleanly; "
                       "keyhole exited %s after %.1f s" % (answered, statuses, resets, lost,
                                                          unclean, code, took))
        r.check("the request in flight answered 200 (%r)" % slow.get("status"),
                slow.get("status") == 200)
        r.check("every backlog connection answered (%d of %d)" % (answered, BACKLOG),
                answered == BACKLOG)
        r.check("no backlog connection reset (%d)" % resets, resets == 0)
        r.check("each answer followed by a clean EOF (%d not)" % unclean, unclean == 0)
        gc_resets = sum(v for k, v in gc.errors.items() if "RESET" in k.upper() or k == "Reset")
        r.check("no reset for the client beside them (%r)" % gc.errors, gc_resets == 0)
        r.check("keyhole exited 0 within its drain deadline (%s, %.1f s)" % (code, took),
                code == 0 and took < 12)
    finally:
        for s in socks:
            s.close()
        b.close()
    return r
