#!/usr/bin/env python3
"""Policy v2 on the queue_v1 transport: a request file is decided by the
same code, in the same order, with the same answers as the same request
over HTTP (variables, `query none`, `body none/json`, `keys`, a rule's
`max-body` and `content-type`, its extra request headers, `rate` and the
run's `max`).  A refused request file never reaches the upstream, and —
because the child refuses it itself — never reaches the parent either:
the parent re-checks several of these properties and would kill the child
for a violation, so a hostile file could otherwise crash-loop keyhole-net.
Every test therefore also checks that the child was not restarted, that
no protocol violation was logged, and that keyhole keeps serving."""

import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from khqueue import QueueDir, keyhole_queue, new_id, response_body  # noqa: E402

POLICY = """\
allow GET /api/agents/me
allow GET /api/q query none
allow GET /api/issues/*
allow PATCH /api/issues/{issue} keys status,comment query none
allow POST /api/issues/{issue}/comments keys body
allow POST /api/json body json
allow DELETE /api/drafts/* body none
allow POST /api/upload content-type multipart/form-data max-body 4k
allow POST /api/small max-body 64
allow POST /api/cap body json request-header x-paperclip-github-capability
allow POST /api/free
allow GET /api/rated rate 1/min
max-body 1k
"""

BUDGET_POLICY = """\
max 1
allow GET /api/agents/me
allow POST /api/free
allow PATCH /api/issues/{issue} keys status
"""

JSON = {"content-type": "application/json"}
MULTIPART = "multipart/form-data; boundary=b"
MP_BODY = "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nhi\r\n--b--\r\n"


class QueuePolicyCase(KeyholeTestCase):
    """A keyhole serving a queue directory and an HTTP listener with one
    policy and --var issue=BRI-7."""

    policy = POLICY

    def setUp(self):
        self.up = self.upstream()
        self.q = QueueDir(self)
        self.kh = keyhole_queue(self, self.up.url, self.q, listen="tcp:127.0.0.1:0",
                                policy=self.policy, args=["--var", "issue=BRI-7"])
        self.child = self.kh.child_pid()

    def ask(self, method="GET", path="/api/agents/me", query="", headers=None, body=b"",
            timeout=5.0):
        """Write one request file (body as base64: exact bytes), return
        the response envelope."""
        rid = new_id()
        if isinstance(body, str):
            body = body.encode()
        self.q.put(self.q.envelope(rid, method=method, path=path, query=query,
                                   headers=headers if headers is not None else {},
                                   body=base64.b64encode(body).decode(),
                                   bodyEncoding="base64"))
        resp = self.q.wait_response(rid, timeout=timeout)
        self.assertEqual(resp["id"], rid, resp)
        return resp

    def assertAnswer(self, resp, status, body=None):
        self.assertEqual(resp["status"], status, resp)
        self.assertEqual(resp["headers"].get("content-type"), "application/json", resp)
        got = json.loads(response_body(resp))
        if body is not None:
            self.assertEqual(got, body, resp)
        return got

    def assertChildUntouched(self):
        """The parent saw no violation: same child, nothing logged."""
        self.assertNotIn("protocol violation", self.kh.output_text())
        self.assertEqual(self.kh.children("keyhole-net"), [self.child])
        self.assertTrue(self.kh.alive(), self.kh.output_text())

    def assertStillServing(self):
        self.assertChildUntouched()
        before = self.up.count()
        resp = self.ask("GET", "/api/agents/me")
        self.assertEqual(resp["status"], 200, resp)
        self.assertEqual(response_body(resp), b'{"ok":true}')
        self.up.wait_requests(before + 1)
        self.assertChildUntouched()

    def assertRefused(self, resp, status, body=None):
        """Answered by the child, nothing upstream, keyhole still serving."""
        got = self.assertAnswer(resp, status, body)
        self.up.assert_nothing(self, what="a refused request file")
        self.assertEqual(self.q.listing("processing"), [])
        self.assertStillServing()
        self.up.requests.clear()
        return got


class QueueRuleConstraintTest(QueuePolicyCase):

    def test_query_none_403_without_restarting_the_child(self):
        resp = self.ask("PATCH", "/api/issues/BRI-7", query="?force=1", headers=JSON,
                        body='{"status":"done"}')
        self.assertRefused(resp, 403, {"error": "Query string not allowed: "
                                                "PATCH /api/issues/BRI-7"})
        resp = self.ask("GET", "/api/q", query="?")
        self.assertRefused(resp, 403, {"error": "Query string not allowed: GET /api/q"})
        self.assertEqual(self.ask("GET", "/api/q")["status"], 200)

    def test_keys_violation_422_names_the_key(self):
        resp = self.ask("PATCH", "/api/issues/BRI-7", headers=JSON,
                        body='{"status":"done","assigneeAgentId":"x"}')
        self.assertRefused(resp, 422, {"error": "Key not allowed on this route: assigneeAgentId",
                                       "key": "assigneeAgentId"})
        resp = self.ask("PATCH", "/api/issues/BRI-7", headers=JSON, body='["status"]')
        self.assertRefused(resp, 422, {"error": "Request body must be a JSON object."})
        resp = self.ask("PATCH", "/api/issues/BRI-7", headers=JSON, body='{"status":"done"}')
        self.assertEqual(resp["status"], 200, resp)
        self.assertEqual(self.up.wait_requests(1)[0].body, b'{"status":"done"}')

    def test_missing_body_on_keys_rule_400(self):
        resp = self.ask("PATCH", "/api/issues/BRI-7", headers=JSON, body="")
        self.assertRefused(resp, 400, {"error": "Request body must be a JSON object."})
        resp = self.ask("POST", "/api/json", body="")
        self.assertRefused(resp, 400, {"error": "Request body must be one JSON value."})

    def test_body_over_the_rules_max_body_413(self):
        # 100 bytes: below the largest limit of any rule (4k, so the
        # envelope itself is fine), above this rule's 64.
        resp = self.ask("POST", "/api/small", headers=JSON, body='"%s"' % ("x" * 98))
        self.assertRefused(resp, 413, {"error": "Request body too large."})
        # And a rule's max-body above the policy's default is honoured.
        resp = self.ask("POST", "/api/upload", headers={"content-type": MULTIPART},
                        body="y" * 3000)
        self.assertEqual(resp["status"], 200, resp)

    def test_body_on_body_none_rule_400(self):
        resp = self.ask("DELETE", "/api/drafts/d1", headers=JSON, body="{}")
        self.assertRefused(resp, 400, {"error": "Request body not allowed on this route."})
        self.assertEqual(self.ask("DELETE", "/api/drafts/d1")["status"], 200)

    def test_content_type_per_rule(self):
        resp = self.ask("POST", "/api/upload", headers={"content-type": MULTIPART}, body=MP_BODY)
        self.assertEqual(resp["status"], 200, resp)
        rec = self.up.wait_requests(1)[0]
        self.assertEqual((rec.body, rec.header("content-type")), (MP_BODY.encode(), MULTIPART))
        self.up.requests.clear()
        resp = self.ask("POST", "/api/upload", headers=JSON, body="{}")
        self.assertRefused(resp, 415, {"error": "Content-Type not accepted on this route: "
                                                "application/json"})
        resp = self.ask("POST", "/api/free", headers={"content-type": MULTIPART}, body=MP_BODY)
        self.assertRefused(resp, 415, khtest.BODY_415)

    def test_rate_429_with_retry_after_in_the_response_file(self):
        self.assertEqual(self.ask("GET", "/api/rated")["status"], 200)
        self.up.wait_requests(1)
        self.up.requests.clear()
        resp = self.ask("GET", "/api/rated")
        retry = int(resp["headers"].get("retry-after", "0"))
        self.assertTrue(1 <= retry <= 60, resp)
        self.assertRefused(resp, 429, {"error": "Rate limit for this route exceeded "
                                                "(1 per minute).", "retryAfter": retry})
        # The bucket is the run's, whichever transport spends it.
        r = self.kh.request("GET", "/api/rated")
        self.assertJsonError(r, 429)
        self.assertTrue(1 <= int(r.header("retry-after")) <= 60, r)

    def test_rule_request_header_forwarded_on_its_route_only(self):
        h = dict(JSON, **{"x-paperclip-github-capability": "cap-123"})
        self.assertEqual(self.ask("POST", "/api/cap", headers=h, body="{}")["status"], 200)
        self.assertEqual(self.ask("POST", "/api/free", headers=h, body="{}")["status"], 200)
        a, b = self.up.wait_requests(2)
        self.assertEqual((a.path, a.all("x-paperclip-github-capability")),
                         ("/api/cap", ["cap-123"]))
        self.assertEqual((b.path, b.all("x-paperclip-github-capability")), ("/api/free", []))
        self.up.requests.clear()
        self.assertStillServing()

    def test_other_issue_403_never_forwarded(self):
        for method, path, body in (("PATCH", "/api/issues/BRI-8", '{"status":"done"}'),
                                   ("PATCH", "/api/issues/BRI-70", '{"status":"done"}'),
                                   ("POST", "/api/issues/BRI-8/comments", '{"body":"x"}')):
            with self.subTest(path=path):
                resp = self.ask(method, path, headers=JSON, body=body)
                self.assertRefused(resp, 403, khtest.body_403(method, path))
        resp = self.ask("POST", "/api/issues/BRI-7/comments", headers=JSON, body='{"body":"x"}')
        self.assertEqual(resp["status"], 200, resp)
        rec = self.up.wait_requests(1)[0]
        self.assertEqual((rec.method, rec.path), ("POST", "/api/issues/BRI-7/comments"))


class QueueHttpParityTest(QueuePolicyCase):

    # (method, path, query, content-type or None, body): every answer of
    # the decision before and after the body, refused and allowed.
    CASES = [
        ("GET", "/api/agents/me", "", None, b""),
        ("DELETE", "/api/issues/BRI-7", "", None, b""),
        ("PATCH", "/api/issues/BRI-8", "", "application/json", b'{"status":"x"}'),
        ("GET", "/api/q", "?a=1", None, b""),
        ("PATCH", "/api/issues/BRI-7", "?a=1", "application/json", b'{"status":"x"}'),
        ("DELETE", "/api/drafts/d1", "", "application/json", b"{}"),
        ("POST", "/api/free", "", "text/plain", b"hi"),
        ("POST", "/api/upload", "", "application/json", b"{}"),
        ("POST", "/api/small", "", "application/json", b'"' + b"x" * 98 + b'"'),
        ("POST", "/api/free", "", "application/json", b'"' + b"x" * 2000 + b'"'),
        ("PATCH", "/api/issues/BRI-7", "", None, b""),
        ("POST", "/api/json", "", None, b""),
        ("POST", "/api/json", "", "application/json", b"{} x"),
        ("POST", "/api/json", "", "application/json", b"[" * 33 + b"]" * 33),
        ("POST", "/api/json", "", "application/json", b'{"a":"\\u0000"}'),
        ("PATCH", "/api/issues/BRI-7", "", "application/json", b'{"status":1,"x\\"y":2}'),
        ("PATCH", "/api/issues/BRI-7", "", "application/json", b"[]"),
        ("PATCH", "/api/issues/BRI-7", "", "application/json; charset=utf-8",
         b'{"status":"done"}'),
        ("POST", "/api/upload", "", MULTIPART, MP_BODY.encode()),
    ]

    def test_queue_answers_equal_http_answers(self):
        for method, path, query, ctype, body in self.CASES:
            with self.subTest(method=method, path=path + query, body=body[:40]):
                r = self.kh.request(method, path + query, body=body if body else None,
                                    content_type=ctype)
                resp = self.ask(method, path, query=query,
                                headers={"content-type": ctype} if ctype else {}, body=body)
                self.assertEqual(resp["status"], r.status, (resp, r))
                if r.status >= 400:
                    self.assertEqual(json.loads(response_body(resp)), r.json(), (resp, r))
                    self.assertEqual(resp["headers"].get("content-type"),
                                     r.header("content-type"))
        self.assertStillServing()


class QueueBudgetTest(QueuePolicyCase):

    policy = BUDGET_POLICY

    def test_max_mutations_429_then_reads_still_served(self):
        resp = self.ask("POST", "/api/free", headers=JSON, body="{}")
        self.assertEqual(resp["status"], 200, resp)
        self.up.wait_requests(1)
        self.up.requests.clear()
        spent = {"error": "Mutation budget for this run is spent (max 1)."}
        resp = self.ask("POST", "/api/free", headers=JSON, body="{}")
        self.assertRefused(resp, 429, spent)
        self.assertNotIn("retry-after", resp["headers"])
        resp = self.ask("PATCH", "/api/issues/BRI-7", headers=JSON, body='{"status":"done"}')
        self.assertRefused(resp, 429, spent)
        # The same budget over HTTP.
        self.assertJsonError(self.kh.request("POST", "/api/free", body=b"{}"), 429, spent)
        self.up.assert_nothing(self)


if __name__ == "__main__":
    khtest.main()
