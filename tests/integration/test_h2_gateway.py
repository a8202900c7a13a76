#!/usr/bin/env python3
"""keyhole-gateway in http2_v1 mode (PAPERCLIP_API_BRIDGE_MODE=http2_v1)
against a fake host that speaks raw HTTP/2 over its stdin/stdout
(h2host.py).  keyhole-gateway-static is the gateway tested wherever the
build has it (not in sanitizer builds: there, keyhole-gateway).

  start       the READY line, byte for byte, then the preface and the
              client SETTINGS; nothing but the protocol on stdout
  answers     keyhole's strict parser and the token refuse before any
              stream; the host's answer reaches the agent (content-length its
              own), 504 + indeterminate -> 409, a reset -> 502 / 409, a
              refused stream -> 503 bridge_unavailable, an answer over
              the body limit -> 502 / 409 and the stream cancelled, the
              request deadline -> 502 / 409 and the stream cancelled, a
              body over the limit -> 413 before any stream, bodies held
              over 8 x the limit -> 503 (the body ledger)
  the end     the host's GOAWAY (in-flight answered, new requests 503,
              exit 0), end of stdin (in-flight 502 / 409, exit 1),
              SIGTERM (in-flight answered, GOAWAY(NO_ERROR), exit 0),
              the listener closed afterwards
  start-up    bad environment refused before READY (no port, a body
              limit that is not a number, a nonce JSON.stringify would
              write differently), the port retried while the previous
              gateway still holds it, the token gone from
              /proc/PID/environ
  confinement NoNewPrivs and seccomp on; a forbidden call (execve) kills
              it with SIGSYS, in both modes
  static      ldd and readelf: no interpreter, no shared library; the
              gateway run in an empty root (a chroot holding only the
              binary) answers through a host
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
import h2host  # noqa: E402
from h2host import Gateway  # noqa: E402

BODY_UNAVAILABLE = {"error": "bridge_unavailable"}
MSG_RESET = "Bridge host reset the request before answering."
MSG_SESSION = "Bridge HTTP/2 session ended before the host answered."
MSG_TIMEOUT = "Timed out waiting for host bridge response."
MSG_TOO_LARGE = "Bridge body exceeded the configured size limit."
IND = {"outcome": "indeterminate", "retryable": False}


class H2GatewayTest(KeyholeTestCase):

    def gateway(self, **kw):
        g = Gateway(self, **kw)
        g.handshake()
        return g

    def assertIndeterminate(self, r, message):
        self.assertJsonError(r, 409, dict({"error": message}, **IND))
        self.assertEqual(r.header("x-paperclip-bridge-outcome"), "indeterminate")

    # -- start ------------------------------------------------------------------

    def test_ready_line_preface_and_settings(self):
        g = Gateway(self, nonce="5f323b3a969f2e8c0b799b32171a801d")
        self.assertEqual(g.ready_line,
                         b'{"version":2,"type":"ready","nonce":"5f323b3a969f2e8c0b799b32171a801d"}\n')
        g.handshake()
        # no push, no stream opened by the host, a bounded header list
        self.assertEqual(g.client_settings, {h2host.S_ENABLE_PUSH: 0,
                                             h2host.S_MAX_CONCURRENT_STREAMS: 0,
                                             h2host.S_MAX_HEADER_LIST_SIZE: 65536})
        # a nonce with JSON's special characters: escaped as JSON.stringify does
        g2 = Gateway(self, nonce='a"b\\c')
        self.assertEqual(g2.ready_line, b'{"version":2,"type":"ready","nonce":"a\\"b\\\\c"}\n')
        self.assertEqual(json.loads(g2.ready_line)["nonce"], 'a"b\\c')
        self.assertIn("listening on http://127.0.0.1:%d" % g.port, g.stderr())

    def test_stdout_carries_only_the_protocol(self):
        g = self.gateway()
        for i in range(3):
            pend = g.request_async("GET", "/api/agents/me")
            sid = g.request_stream()
            g.respond(sid, 200, [("content-type", "application/json")], b'{"i":%d}' % i)
            self.assertEqual(pend.result().status, 200)
        # the gateway's fd 1 is its stderr: a stray write cannot reach the host
        pid = g.proc.pid
        self.assertEqual(os.readlink("/proc/%d/fd/1" % pid), os.readlink("/proc/%d/fd/2" % pid))
        g.close_stdin()
        self.assertEqual(g.wait_exit(), 1)
        g.eof.wait(5)
        # everything on stdout: READY, the preface, whole frames, nothing else
        raw = g.raw
        line, _, rest = raw.partition(b"\n")
        self.assertEqual(json.loads(line), {"version": 2, "type": "ready", "nonce": g.nonce})
        self.assertTrue(rest.startswith(h2host.PREFACE))
        rest = rest[len(h2host.PREFACE):]
        n = 0
        while rest:
            self.assertGreaterEqual(len(rest), 9, "a partial frame header on stdout")
            length = int.from_bytes(rest[:3], "big")
            self.assertLessEqual(length, 16384)
            self.assertIn(rest[3], range(10))
            self.assertGreaterEqual(len(rest), 9 + length, "a partial frame on stdout")
            rest = rest[9 + length:]
            n += 1
        self.assertGreaterEqual(n, 5)
        self.assertIn("end of stdin", g.stderr())

    # -- answers ------------------------------------------------------------------

    def test_answers_pass_through(self):
        g = self.gateway()
        pend = g.request_async("GET", "/api/agents/me?x=1", headers=[("Accept", "application/json")])
        f = g.wait_frame(lambda f: f.type == h2host.HEADERS)
        self.assertTrue(f.flags & h2host.END_STREAM, "a GET's HEADERS end the stream")
        g.respond(f.sid, 200, [("content-type", "application/json"), ("etag", '"v1"'),
                               ("content-length", "16"), ("date", "Tue, 01 Sep 2026 00:00:00 GMT")],
                  b'{"id":"agent-1"}')
        r = pend.result()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b'{"id":"agent-1"}')
        self.assertEqual(r.header("etag"), '"v1"')
        self.assertEqual(r.headers["content-length"], ["16"])
        self.assertEqual(r.header("date"), "Tue, 01 Sep 2026 00:00:00 GMT")
        # a content-length that lies about the DATA: nghttp2 resets the
        # stream, the agent never gets a body framed by the host's number
        pend = g.request_async("GET", "/api/agents/me")
        g.respond(g.request_stream(), 200, [("content-length", "999")], b"short")
        self.assertJsonError(pend.result(), 502, {"error": MSG_RESET})
        # a body: DATA frames with its exact bytes
        body = json.dumps({"body": "x" * 40000}).encode()
        pend = g.request_async("POST", "/api/issues/i-1/comments", body=body)
        sid = g.request_stream()
        got = b""
        while True:
            d = g.wait_frame(lambda f: f.type == h2host.DATA and f.sid == sid)
            got += d.payload
            if d.flags & h2host.END_STREAM:
                break
            g.send(h2host.window_update(0, len(d.payload)) +
                   h2host.window_update(sid, len(d.payload)))
        self.assertEqual(got, body)
        g.respond(sid, 201, [("content-type", "application/json")], b'{"id":"c-1"}')
        self.assertEqual(pend.result().status, 201)

    def test_indeterminate_reset_refused(self):
        g = self.gateway()
        # the host's 504 + indeterminate: 409, header and body kept
        pend = g.request_async("POST", "/api/issues/i-1/comments", body=b"{}")
        sid = g.request_stream()
        host_body = json.dumps(dict({"error": "Bridge response body exceeded the limit."},
                                    **IND)).encode()
        g.respond(sid, 504, [("content-type", "application/json"),
                             ("x-paperclip-bridge-outcome", "indeterminate")], host_body)
        r = pend.result()
        self.assertEqual((r.status, r.body), (409, host_body))
        self.assertEqual(r.header("x-paperclip-bridge-outcome"), "indeterminate")
        # a reset: 502 for a GET, 409 for a POST (the host may have acted)
        for method, body in (("GET", None), ("POST", b"{}")):
            pend = g.request_async(method, "/api/issues/i-1", body=body)
            g.send(h2host.rst(g.request_stream(), h2host.INTERNAL_ERROR))
            r = pend.result()
            if method == "GET":
                self.assertJsonError(r, 502, {"error": MSG_RESET})
            else:
                self.assertIndeterminate(r, MSG_RESET)
        # REFUSED_STREAM: the host did not take it, whatever the method
        pend = g.request_async("POST", "/api/issues/i-1", body=b"{}")
        g.send(h2host.rst(g.request_stream(), h2host.REFUSED_STREAM))
        self.assertJsonError(pend.result(), 503, BODY_UNAVAILABLE)
        # the session is still good
        pend = g.request_async("GET", "/api/agents/me")
        g.respond(g.request_stream(), 200)
        self.assertEqual(pend.result().status, 200)

    def test_limits_and_deadline(self):
        g = self.gateway(env={"PAPERCLIP_BRIDGE_MAX_BODY_BYTES": "1000",
                              "PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS": "700"})
        # a request body over the limit: 413 before any stream opens
        r = g.request("POST", "/api/issues/i-1/comments", body=b"x" * 1001)
        self.assertJsonError(r, 413, {"error": "Bridge request body exceeded the configured size limit."})
        # an answer over the limit: refused, the stream cancelled
        for method, body in (("GET", None), ("POST", b"{}")):
            pend = g.request_async(method, "/api/issues/i-1", body=body)
            sid = g.request_stream()
            g.respond(sid, 200, [], b"y" * 1001)
            r = pend.result()
            if method == "GET":
                self.assertJsonError(r, 502, {"error": MSG_TOO_LARGE})
            else:
                self.assertIndeterminate(r, MSG_TOO_LARGE)
            f = g.wait_frame(lambda f: f.type == h2host.RST_STREAM and f.sid == sid)
            self.assertEqual(struct.unpack(">I", f.payload)[0], h2host.CANCEL)
        # no answer within PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS
        for method, body in (("GET", None), ("PATCH", b"{}")):
            t0 = time.monotonic()
            pend = g.request_async(method, "/api/issues/i-1", body=body)
            sid = g.request_stream()
            r = pend.result()
            self.assertGreater(time.monotonic() - t0, 0.6)
            if method == "GET":
                self.assertJsonError(r, 502, {"error": MSG_TIMEOUT})
            else:
                self.assertIndeterminate(r, MSG_TIMEOUT)
            f = g.wait_frame(lambda f: f.type == h2host.RST_STREAM and f.sid == sid)
            self.assertEqual(struct.unpack(">I", f.payload)[0], h2host.CANCEL)
        # a forwarded header twice: refused, nothing sent
        r = g.request("GET", "/api/agents/me", headers=[("Accept", "a/b"), ("Accept", "c/d")])
        self.assertJsonError(r, 400, {"error": "Duplicate or invalid forwarded header."})
        # the host's concurrency: one stream at a time, the next waits
        self.assertEqual(g.proc.poll(), None)

    def test_strict_parser_and_token_before_any_stream(self):
        g = self.gateway()
        # refused by keyhole's parser (Paperclip's gateway resolves '..')
        for target in ("/api/issues/X/interactions/../accept", "//api/agents/me",
                       "/api/issues/a%2Fb"):
            r = g.request("GET", target)
            self.assertEqual(r.status, 400, target)
        r = g.request("GET", "/api/agents/me", token="wrong")
        self.assertJsonError(r, 401, {"error": "Invalid bridge token."})
        with self.assertRaises(AssertionError):
            g.request_stream(timeout=0.5)       # no stream for any of them
        # the scheme in any case (as keyhole's HTTP transport); the host
        # gets the gateway's own "Bearer <token>"
        pend = g.request_async("GET", "/api/agents/me", token=None,
                               headers=[("Authorization", "bearer " + g.token)])
        g.respond(g.request_stream(), 200)
        self.assertEqual(pend.result().status, 200)

    def test_body_ledger(self):
        # bodies held at once: at most 8 x PAPERCLIP_BRIDGE_MAX_BODY_BYTES
        g = Gateway(self, env={"PAPERCLIP_BRIDGE_MAX_BODY_BYTES": "1000"})
        g.handshake(((h2host.S_MAX_CONCURRENT_STREAMS, 16),))
        pends, sids = [], []
        for i in range(8):
            pends.append(g.request_async("POST", "/api/issues/i-1/comments", body=b"x" * 1000))
            sids.append(g.request_stream())
        r = g.request("POST", "/api/issues/i-1/comments", body=b"x" * 10)
        self.assertJsonError(r, 503, {"error": "The bridge gateway process reached its reserved "
                                               "body byte ceiling. Retry later."})
        # a request without a body still goes
        pend = g.request_async("GET", "/api/agents/me")
        g.respond(g.request_stream(), 200)
        self.assertEqual(pend.result().status, 200)
        # one answered: its bytes are free again
        g.respond(sids[0], 201)
        self.assertEqual(pends[0].result().status, 201)
        pend = g.request_async("POST", "/api/issues/i-1/comments", body=b"x" * 1000)
        g.respond(g.request_stream(), 201)
        self.assertEqual(pend.result().status, 201)
        for sid, p in zip(sids[1:], pends[1:]):
            g.respond(sid, 201)
            self.assertEqual(p.result().status, 201)

    def test_host_concurrency_limit_is_kept(self):
        g = Gateway(self)
        g.handshake(((h2host.S_MAX_CONCURRENT_STREAMS, 1),))
        p1 = g.request_async("GET", "/api/agents/me")
        s1 = g.request_stream()
        p2 = g.request_async("GET", "/api/agents/me")
        with self.assertRaises(AssertionError):
            g.request_stream(timeout=0.5)   # not opened while s1 is
        g.respond(s1, 200)
        s2 = g.request_stream()
        self.assertGreater(s2, s1)
        g.respond(s2, 204)
        self.assertEqual((p1.result().status, p2.result().status), (200, 204))

    # -- the end of the session -----------------------------------------------------

    def test_host_goaway(self):
        g = self.gateway()
        p1 = g.request_async("POST", "/api/issues/i-1/comments", body=b"{}")
        s1 = g.request_stream()
        p2 = g.request_async("GET", "/api/agents/me")
        s2 = g.request_stream()
        g.send(h2host.goaway(s1))
        # above last-stream-id: refused unseen -> 503, even if it was sent
        self.assertJsonError(p2.result(), 503, BODY_UNAVAILABLE)
        self.assertGreater(s2, s1)
        # a new request while the session winds down
        r = g.request("GET", "/api/agents/me")
        self.assertJsonError(r, 503, BODY_UNAVAILABLE)
        # s1 is still answered
        g.respond(s1, 201, [("content-type", "application/json")], b'{"id":"c-1"}')
        self.assertEqual(p1.result().status, 201)
        self.assertEqual(g.wait_exit(), 0)
        self.assertIn("host sent GOAWAY (errorCode=0, lastStreamId=%d)" % s1, g.stderr())
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", g.port), timeout=2).close()

    def test_end_of_stdin(self):
        g = self.gateway()
        pg = g.request_async("GET", "/api/agents/me")
        g.request_stream()
        pp = g.request_async("POST", "/api/issues/i-1/comments", body=b"{}")
        g.request_stream()
        g.close_stdin()
        self.assertJsonError(pg.result(), 502, {"error": MSG_SESSION})
        self.assertIndeterminate(pp.result(), MSG_SESSION)
        self.assertEqual(g.wait_exit(), 1)
        self.assertIn("http2_v1 session ended: end of stdin", g.stderr())
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", g.port), timeout=2).close()

    def test_sigterm_finishes_then_goaway(self):
        g = self.gateway()
        pend = g.request_async("GET", "/api/agents/me")
        sid = g.request_stream()
        g.proc.send_signal(signal.SIGTERM)
        # no new connections
        khtest.wait_until(lambda: not _accepts(g.port), 5, "the listener to close")
        g.respond(sid, 200, [], b"ok")
        self.assertEqual(pend.result().body, b"ok")
        f = g.wait_frame(lambda f: f.type == h2host.GOAWAY, what="the gateway's GOAWAY")
        # last-stream-id 0: the host opened no stream (RFC 9113 6.8)
        self.assertEqual(struct.unpack(">II", f.payload), (0, h2host.NO_ERROR))
        self.assertEqual(g.wait_exit(), 0)

    # -- start-up -----------------------------------------------------------------------

    def run_bad(self, env, message):
        g = Gateway(self, env=env, wait_ready=False, **({} if "nonce" not in env else
                                                          {"nonce": env.pop("nonce")}))
        out, _ = g.proc.communicate(timeout=10)
        self.assertEqual(g.proc.returncode, 1, (env, g.stderr()))
        self.assertEqual(out, b"", "nothing on stdout before READY")
        self.assertIn(message, g.stderr())

    def test_bad_environment_refused_before_ready(self):
        self.run_bad({"PAPERCLIP_BRIDGE_PORT": None},
                     "http2_v1 requires a positive assigned PAPERCLIP_BRIDGE_PORT")
        self.run_bad({"PAPERCLIP_BRIDGE_PORT": "0"},
                     "PAPERCLIP_BRIDGE_PORT='0' is not a number in [1, 65535]")
        # Paperclip's Number("abc") is NaN, which turns its limit off (W12)
        for v in ("abc", "NaN", "1e6", "-1", ""):
            if v == "":
                continue
            self.run_bad({"PAPERCLIP_BRIDGE_MAX_BODY_BYTES": v},
                         "PAPERCLIP_BRIDGE_MAX_BODY_BYTES='%s' is not a number" % v)
        for nonce in ("a\nb", "caf\u00e9", "x" * 257):
            self.run_bad({"nonce": nonce}, "PAPERCLIP_BRIDGE_NONCE must be printable ASCII")
        self.run_bad({"PAPERCLIP_API_BRIDGE_MODE": "http3_v1"},
                     "Unsupported PAPERCLIP_API_BRIDGE_MODE: http3_v1")
        self.run_bad({"PAPERCLIP_BRIDGE_TOKEN": None}, "PAPERCLIP_BRIDGE_TOKEN is required.")

    def test_stdin_must_be_a_channel(self):
        d = khtest.make_tempdir(self)
        path = os.path.join(d, "file")
        with open(path, "wb"):
            pass
        env = {"PATH": "/usr/bin:/bin", "PAPERCLIP_API_BRIDGE_MODE": "http2_v1",
               "PAPERCLIP_BRIDGE_TOKEN": "t" * 32,
               "PAPERCLIP_BRIDGE_PORT": str(khtest.free_port())}
        with open(path, "rb") as f:
            r = subprocess.run([h2host.gateway_binary()], stdin=f, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b"")
        self.assertIn(b"needs stdin to be the host's channel", r.stderr)

    def test_port_taken_is_tried_again(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        threading.Timer(1.0, s.close).start()
        t0 = time.monotonic()
        g = Gateway(self, port=port)
        self.assertGreater(time.monotonic() - t0, 0.9)
        g.handshake()
        pend = g.request_async("GET", "/api/agents/me")
        g.respond(g.request_stream(), 200)
        self.assertEqual(pend.result().status, 200)

    def test_token_not_in_environ(self):
        g = self.gateway()
        with open("/proc/%d/environ" % g.proc.pid, "rb") as f:
            self.assertNotIn(g.token.encode(), f.read())
        self.assertJsonError(g.request("GET", "/x", token="wrong"), 401,
                             {"error": "Invalid bridge token."})

    # -- confinement ----------------------------------------------------------------------

    def test_confined_by_its_own_seccomp_filter(self):
        g = self.gateway()
        st = khtest.proc_status(g.proc.pid)
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(st["Seccomp"], "2")
        # a forbidden call once confined: killed (SIGSYS), before READY
        g2 = Gateway(self, env={"KEYHOLE_GATEWAY_TEST_EXECVE": "1"}, wait_ready=False)
        out, _ = g2.proc.communicate(timeout=10)
        self.assertEqual(g2.proc.returncode, -signal.SIGSYS, g2.stderr())
        self.assertEqual(out, b"")
        # queue_v1 (keyhole-gateway) is confined too
        q = os.path.join(khtest.make_tempdir(self), "q")
        env = {"PATH": "/usr/bin:/bin", "PAPERCLIP_BRIDGE_QUEUE_DIR": q,
               "PAPERCLIP_BRIDGE_TOKEN": "t" * 32, "KEYHOLE_GATEWAY_TEST_EXECVE": "1"}
        r = subprocess.run([khtest.binary("keyhole-gateway")], env=env, capture_output=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, -signal.SIGSYS, r.stderr)

    # -- the static binary ------------------------------------------------------------------

    def static_or_skip(self):
        path = h2host.static_gateway()
        if path is None:
            if khtest.sanitizer_build():
                raise unittest.SkipTest("sanitizer builds have no static gateway")
            raise AssertionError("keyhole-gateway-static was not built")
        return path

    def test_static_binary_needs_nothing(self):
        path = self.static_or_skip()
        r = subprocess.run(["ldd", path], capture_output=True, text=True)
        self.assertRegex(r.stdout + r.stderr, r"statically linked|not a dynamic executable")
        r = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True, check=True)
        self.assertNotIn("INTERP", r.stdout)
        r = subprocess.run(["readelf", "-dW", path], capture_output=True, text=True, check=True)
        self.assertNotIn("(NEEDED)", r.stdout)

    def test_static_gateway_in_an_empty_root(self):
        path = self.static_or_skip()
        khtest.require_root("chroot")
        root = khtest.make_tempdir(self)
        os.chmod(root, 0o755)
        shutil.copy2(path, os.path.join(root, "keyhole-gateway"))
        self.assertEqual(os.listdir(root), ["keyhole-gateway"])
        chroot = shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin")
        self.assertIsNotNone(chroot, "coreutils' chroot")
        g = Gateway(self, argv=[chroot, root, "/keyhole-gateway"])
        g.handshake()
        self.assertEqual(os.readlink("/proc/%d/root" % g.proc.pid), root)
        pend = g.request_async("GET", "/api/agents/me")
        g.respond(g.request_stream(), 200, [("content-type", "application/json")], b'{"ok":1}')
        r = pend.result()
        self.assertEqual((r.status, r.body), (200, b'{"ok":1}'))
        self.assertEqual(os.listdir(root), ["keyhole-gateway"])


def _accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    khtest.main()
