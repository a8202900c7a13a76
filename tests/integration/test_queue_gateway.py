#!/usr/bin/env python3
"""keyhole-gateway (the sandbox side of queue_v1, in C) against keyhole's
host side, and against request/response files the test plays itself.

Properties: requests round-trip with Paperclip's status codes and bodies;
a bad token, a non-JSON body, an oversized body, a full queue and strict
HTTP violations never produce a request file; a missing answer becomes 502
(or 409 indeterminate for a method that may have taken effect) and the
request file is withdrawn; orphaned request files are swept; hostile
response files are refused."""

import base64
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from khqueue import Gateway, QueueDir, keyhole_queue  # noqa: E402


def gateway(tc, queue, token, env=None):
    return Gateway(tc, [khtest.binary("keyhole-gateway")], queue, token, env=env)


class GatewayHostRoundTripTest(KeyholeTestCase):

    def setUp(self):
        self.up = self.upstream()
        self.q = QueueDir(self)
        self.kh = keyhole_queue(self, self.up.url, self.q, args=["--max-body", "100000"])
        self.gw = gateway(self, self.q, self.kh.token)

    def assertNoFiles(self):
        # keyhole publishes the answer (rename into responses/) before it
        # drops its claim in processing/, and the gateway may read the
        # answer in between: give the claim a moment to go.
        khtest.wait_until(lambda: self.q.listing("processing") == [], 3,
                          "the claim in processing/ to be removed")
        self.assertEqual(self.q.listing("requests"), [])
        self.assertEqual(self.q.listing("processing"), [])
        self.assertEqual(self.q.listing("responses"), [])

    def test_ready_file_describes_the_gateway(self):
        r = self.gw.ready
        self.assertEqual(r["pid"], self.gw.proc.pid)
        self.assertEqual(r["host"], "127.0.0.1")
        self.assertEqual(r["baseUrl"], "http://127.0.0.1:%d" % r["port"])
        self.assertTrue(khtest.is_iso8601(r["startedAt"]))

    def test_get_round_trip(self):
        r = self.gw.request("GET", "/api/agents/me?x=1",
                            headers=[("Accept", "application/json"), ("X-Evil", "1")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"ok":true}')
        self.assertEqual(r.header("etag"), '"v1"')
        self.assertIsNone(r.header("set-cookie"))
        rec = self.up.wait_requests(1)[0]
        self.assertEqual((rec.method, rec.path), ("GET", "/api/agents/me?x=1"))
        self.assertEqual(rec.all("authorization"), ["Bearer " + self.kh.credential])
        self.assertEqual(rec.header("accept"), "application/json")
        self.assertIsNone(rec.header("x-evil"))
        for k, v in rec.headers:
            self.assertNotIn(self.kh.token, v)
        self.assertNoFiles()

    def test_post_bodies_byte_exact(self):
        body = '{"body":"h\u00e9llo","n":[1,2,3]}'.encode("utf-8")
        r = self.gw.request("POST", "/api/issues/i-1/comments", body=body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.wait_requests(1)[0].body, body)
        chunked = b"5\r\n" + body[:5] + b"\r\n" + b"%x\r\n" % (len(body) - 5) + body[5:] + b"\r\n0\r\n\r\n"
        r = self.gw.request("PATCH", "/api/issues/i-1", body=chunked,
                            headers=[("Transfer-Encoding", "chunked")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.wait_requests(2)[1].body, body)
        big = json.dumps({"x": "y" * 60000}).encode()
        r = self.gw.request("POST", "/api/issues/i-1/comments", body=big)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.wait_requests(3)[2].body, big)

    def test_denied_route_403(self):
        r = self.gw.request("DELETE", "/api/issues/i-1", body=b"{}")
        self.assertJsonError(r, 403, {"error": "Route not allowed: DELETE /api/issues/i-1"})
        self.up.assert_nothing(self)

    def test_bad_token_401_writes_nothing(self):
        for tok in ("wrong", self.kh.token[:-1], self.kh.token + "x", None):
            r = self.gw.request("GET", "/api/agents/me", token=tok)
            self.assertJsonError(r, 401, khtest.BODY_401)
        self.assertNoFiles()
        self.up.assert_nothing(self)

    def test_non_json_body_415(self):
        r = self.gw.request("POST", "/api/issues/i-1/comments", body=b"hi",
                            content_type="text/plain")
        self.assertJsonError(r, 415, khtest.BODY_415)
        self.assertNoFiles()

    def test_oversized_bodies_413(self):
        # over the host's limit: the gateway forwards, the host refuses
        r = self.gw.request("POST", "/api/issues/i-1/comments",
                            body=json.dumps({"x": "y" * 200000}).encode())
        self.assertJsonError(r, 413, {"error": "Request body too large."})
        self.up.assert_nothing(self)

    def test_strict_http_parser_refuses_before_any_file(self):
        tok = self.kh.token
        bad = [
            b"GET /api/issues/x/interactions/../accept HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
            b"GET /api/issues/x/%%2e%%2e/accept HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
            b"POST /api/issues/x/comments HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
            b"GET /api/agents/me HTTP/1.1\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
        ]
        for raw in bad:
            r = khtest.send_raw(self.gw.port, raw % tok.encode())
            self.assertEqual(r.status, 400, r)
        self.assertNoFiles()
        self.up.assert_nothing(self)

    def test_keep_alive_serves_several_requests(self):
        c = khtest.Conn(self.gw.port)
        self.addCleanup(c.close)
        for _ in range(3):
            c.send(khtest.build_request("GET", "/api/agents/me", token=self.kh.token))
            self.assertEqual(c.read_response().status, 200)

    def test_concurrent_requests_all_answered(self):
        out = []

        def one(i):
            r = self.gw.request("GET", "/status/%d" % (200 + i % 2))
            out.append(r.status)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(sorted(out), [200] * 10 + [201] * 10)


class GatewayQueueBehaviourTest(KeyholeTestCase):
    """The gateway alone: the test plays the host (or its absence)."""

    def setUp(self):
        self.q = QueueDir(self)
        self.token = khtest.new_token()
        self.gw = gateway(self, self.q, self.token,
                          env={"PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS": "1000",
                               "PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH": "2",
                               "PAPERCLIP_BRIDGE_POLL_INTERVAL_MS": "20"})

    def test_timeout_502_for_get_409_indeterminate_for_post(self):
        r = self.gw.request("GET", "/api/agents/me")
        self.assertJsonError(r, 502, {"error": "Timed out waiting for host bridge response."})
        r = self.gw.request("POST", "/api/issues/x/comments", body=b"{}")
        self.assertEqual(r.header("x-paperclip-bridge-outcome"), "indeterminate")
        self.assertJsonError(r, 409, {"error": "Timed out waiting for host bridge response.",
                                      "outcome": "indeterminate", "retryable": False})
        # the withdrawn request files tell the host nobody waits any more
        self.assertEqual(self.q.listing("requests"), [])

    def test_queue_full_503_and_stale_requests_swept(self):
        for name in ("a.json", "b.json"):
            with open(self.q.sub("requests", name), "w") as f:
                f.write("{}")
        r = self.gw.request("GET", "/api/agents/me")
        self.assertJsonError(r, 503, khtest.BODY_503)
        self.assertEqual(self.q.listing("requests"), ["a.json", "b.json"])
        # orphans: older than the deadline + 2 s
        old = time.time() - 10
        os.utime(self.q.sub("requests", "a.json"), (old, old))
        r = self.gw.request("GET", "/api/agents/me")
        self.assertEqual(r.status, 502, r)     # admitted; nobody answers
        self.assertEqual(self.q.listing("requests"), ["b.json"])

    def answer_with(self, make):
        """Play the host: answer the next request file with make(req)."""
        def host():
            def req():
                names = [n for n in self.q.listing("requests") if n.endswith(".json")]
                return names[0] if names else None
            name = khtest.wait_until(req, 5, "a request file")
            with open(self.q.sub("requests", name)) as f:
                env = json.load(f)
            os.unlink(self.q.sub("requests", name))
            self.seen = env
            make(env, self.q.sub("responses", name))
        t = threading.Thread(target=host)
        t.start()
        self.addCleanup(t.join)
        return t

    @staticmethod
    def write(path, data):
        with open(path + ".tmp", "wb") as f:
            f.write(data if isinstance(data, bytes) else json.dumps(data).encode())
        os.rename(path + ".tmp", path)

    def test_request_file_format_and_response_mapping(self):
        def make(env, path):
            self.write(path, {"id": env["id"], "status": 201,
                              "headers": {"content-type": "application/json", "etag": "e1",
                                          "content-length": "999", "connection": "close"},
                              "body": base64.b64encode(b'{"made":1}').decode(),
                              "bodyEncoding": "base64", "completedAt": "x"})
        self.answer_with(make)
        r = self.gw.request("POST", "/api/issues/x/comments?y=%20z", body=b'{"a":"\xc3\xa9"}',
                            headers=[("If-Match", '"v1"'), ("X-Evil", "1")])
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.body, b'{"made":1}')
        self.assertEqual(r.header("etag"), "e1")
        self.assertEqual(r.header("content-length"), "10")
        env = self.seen
        self.assertEqual(set(env), {"id", "method", "path", "query", "headers", "body", "createdAt"})
        self.assertEqual(env["method"], "POST")
        self.assertEqual(env["path"], "/api/issues/x/comments")
        self.assertEqual(env["query"], "?y=%20z")
        self.assertEqual(env["headers"], {"content-type": "application/json", "if-match": '"v1"'})
        self.assertEqual(env["body"], '{"a":"\u00e9"}')
        self.assertTrue(khtest.is_iso8601(env["createdAt"]))
        self.assertEqual(self.q.listing("responses"), [])

    def test_indeterminate_host_answer_becomes_409(self):
        def make(env, path):
            self.write(path, {"id": env["id"], "status": 504,
                              "headers": {"content-type": "application/json",
                                          "x-paperclip-bridge-outcome": "indeterminate"},
                              "body": '{"error":"e","outcome":"indeterminate","retryable":false}'})
        self.answer_with(make)
        r = self.gw.request("PATCH", "/api/issues/x", body=b"{}")
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.header("x-paperclip-bridge-outcome"), "indeterminate")

    def test_body_over_gateway_limit_413_without_a_file(self):
        q = QueueDir(self)
        gw = gateway(self, q, self.token, env={"PAPERCLIP_BRIDGE_MAX_BODY_BYTES": "100"})
        for extra in ([], [("Transfer-Encoding", "chunked")]):
            body = b'{"x":"' + b"y" * 200 + b'"}'
            if extra:
                body = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
            r = gw.request("POST", "/api/issues/x/comments", body=body, headers=extra)
            self.assertJsonError(r, 413, {"error": "Bridge request body exceeded the "
                                                   "configured size limit."})
        self.assertEqual(q.listing("requests"), [])

    def test_hostile_response_files_refused(self):
        not_json = "Bridge response is not valid JSON."
        bad_status = "Bridge response has an invalid status."
        bad_header = "Bridge response has an invalid header."
        cases = [
            (b"{not json", not_json),
            ({"status": 200, "headers": {}, "body": "x", "bodyEncoding": "rot13"},
             "Unsupported bridge body encoding."),
            ({"status": 200, "headers": {}, "body": "eA=", "bodyEncoding": "base64"},
             "Invalid bridge base64 body."),
            ({"status": 200, "headers": {"x-a": "1\r\nset-cookie: a=b"}, "body": ""}, bad_header),
            ({"status": 99, "headers": {}, "body": ""}, bad_status),
            ({"status": 200, "headers": {}}, "Invalid bridge body."),
            # no final answer (a 1xx would leave the client waiting for
            # the real one), not an integer, or out of any int's range
            ({"status": 101, "headers": {"upgrade": "websocket"}, "body": ""}, bad_status),
            ({"status": 200.5, "headers": {}, "body": ""}, bad_status),
            (b'{"status": 1e300, "headers": {}, "body": ""}', bad_status),
            # not one JSON text (cJSON alone would take these), or read
            # differently by cJSON and JSON.parse
            (b'\xef\xbb\xbf{"status": 200, "headers": {}, "body": ""}', not_json),
            (b'{"status": 200, "headers": {}, "body": ""} trailing', not_json),
            (b'{"status": 200, "headers": {}, "body": "a\\u0000b"}', not_json),
            (b'{"status": 200, "status": 201, "headers": {}, "body": ""}', not_json),
        ]
        for data, error in cases:
            self.answer_with(lambda env, path, d=data: self.write(path, d))
            r = self.gw.request("GET", "/api/agents/me")
            self.assertEqual(r.status, 502, (data, r))
            self.assertEqual(json.loads(r.body), {"error": error}, data)
            self.assertIsNone(r.header("set-cookie"))
            self.assertIsNone(r.header("upgrade"))
        # after a mutation was handed over, a broken answer cannot prove
        # that it failed: 409 indeterminate, as Paperclip's gateway
        self.answer_with(lambda env, path: self.write(path, {"status": 101, "body": ""}))
        r = self.gw.request("PATCH", "/api/issues/x", body=b"{}")
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.header("x-paperclip-bridge-outcome"), "indeterminate")
        self.assertEqual(json.loads(r.body), {"error": "Bridge response has an invalid status.",
                                              "outcome": "indeterminate", "retryable": False})
        secret = os.path.join(khtest.make_tempdir(self), "secret")
        with open(secret, "w") as f:
            json.dump({"status": 200, "headers": {}, "body": "SECRET"}, f)
        self.answer_with(lambda env, path: os.symlink(secret, path))
        r = self.gw.request("GET", "/api/agents/me")
        self.assertEqual(r.status, 502, r)
        self.assertNotIn(b"SECRET", r.body)


class GatewayConfigurationTest(KeyholeTestCase):
    """Bad configuration is refused at start with a message naming the
    variable and the fix, exit status 1 (2 for arguments)."""

    def run_gateway(self, env, args=()):
        import subprocess
        q = QueueDir(self)
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "PAPERCLIP_BRIDGE_QUEUE_DIR": q.path,
                "PAPERCLIP_BRIDGE_TOKEN": "t" * 32}
        base.update(env)
        base = {k: v for k, v in base.items() if v is not None}
        return subprocess.run([khtest.binary("keyhole-gateway")] + list(args), env=base,
                              capture_output=True, text=True, timeout=10)

    def test_bad_environment_refused_with_the_variable_named(self):
        cases = [
            ({"PAPERCLIP_BRIDGE_HOST": "localhost"},
             "PAPERCLIP_BRIDGE_HOST='localhost' is not a numeric IP address"),
            ({"PAPERCLIP_BRIDGE_PORT": "70000"},
             "PAPERCLIP_BRIDGE_PORT='70000' is not a number in [0, 65535]"),
            ({"PAPERCLIP_BRIDGE_TOKEN": None}, "PAPERCLIP_BRIDGE_TOKEN is required."),
            ({"PAPERCLIP_BRIDGE_QUEUE_DIR": None},
             "PAPERCLIP_BRIDGE_QUEUE_DIR is required in queue_v1."),
            ({"PAPERCLIP_API_BRIDGE_MODE": "http"}, "Unsupported PAPERCLIP_API_BRIDGE_MODE: http"),
        ]
        for env, message in cases:
            r = self.run_gateway(env)
            self.assertEqual(r.returncode, 1, (env, r.stderr))
            self.assertIn(message, r.stderr, env)

    def test_help_and_arguments(self):
        r = self.run_gateway({}, ["--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("PAPERCLIP_BRIDGE_QUEUE_DIR", r.stdout)
        r = self.run_gateway({}, ["--port", "1"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("takes no arguments", r.stderr)


if __name__ == "__main__":
    khtest.main()
