#!/usr/bin/env python3
"""queue_v1 host side: keyhole serve --queue-dir, driven by request files
written the way a gateway writes them (and the way an attacker would).

Properties: allowed requests are forwarded exactly like HTTP ones; every
hostile request file (symlink to a secret, FIFO, directory, sparse 1 GiB
file, a file that grows while read, invalid JSON, wrong types, missing
fields, huge header maps, CR/LF in a header value, dot-segment paths) is
answered without reaching the upstream and keyhole keeps serving; a claimed
request is never forwarded twice, even across a kill -9 and restart."""

import base64
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from khqueue import QueueDir, keyhole_queue, new_id, response_body  # noqa: E402

INVALID = {"error": "Invalid bridge request payload."}


class QueueHostTest(KeyholeTestCase):

    def setUp(self):
        self.up = self.upstream()
        self.q = QueueDir(self)
        self.kh = keyhole_queue(self, self.up.url, self.q, args=["--max-body", "4096"])

    # -- helpers -----------------------------------------------------------

    def assertJsonResponse(self, resp, status, body=None):
        self.assertEqual(resp["status"], status, resp)
        self.assertEqual(resp["headers"].get("content-type"), "application/json", resp)
        got = json.loads(response_body(resp))
        if body is not None:
            self.assertEqual(got, body, resp)
        return got

    def assertRefused(self, rid, status=400, body=INVALID, timeout=5.0):
        resp = self.q.wait_response(rid, timeout=timeout)
        self.assertEqual(resp["id"], rid)
        self.assertJsonResponse(resp, status, body)
        self.up.assert_nothing(self, what="request file %s" % rid)
        self.assertNotIn(rid + ".json", self.q.listing("processing"))
        self.assertStillServing()
        return resp

    def assertStillServing(self):
        rid = new_id()
        self.q.put(self.q.envelope(rid))
        resp = self.q.wait_response(rid)
        self.assertEqual(resp["status"], 200, resp)
        self.assertEqual(response_body(resp), b'{"ok":true}')
        self.assertTrue(self.kh.alive(), self.kh.output_text())
        self.up.requests.clear()

    # -- what a well-behaved gateway sends ---------------------------------

    def test_allowed_get_forwarded_with_credential_and_answered(self):
        rid = new_id()
        self.q.put(self.q.envelope(rid, headers={"accept": "application/json"}))
        resp = self.q.wait_response(rid)
        self.assertEqual(resp["id"], rid)
        self.assertEqual(resp["status"], 200)
        self.assertEqual(response_body(resp), b'{"ok":true}')
        # response headers: the policy's allowlist only
        self.assertEqual(resp["headers"], {"content-type": "application/json", "etag": '"v1"'})
        self.assertTrue(khtest.is_iso8601(resp["completedAt"]), resp)
        rec = self.up.wait_requests(1)[0]
        self.assertEqual((rec.method, rec.path), ("GET", "/api/agents/me"))
        self.assertEqual(rec.all("authorization"), ["Bearer " + self.kh.credential])
        self.assertEqual(rec.header("accept"), "application/json")
        self.assertEqual(self.q.listing("requests"), [])
        self.assertEqual(self.q.listing("processing"), [])
        self.assertEqual(self.q.listing("responses"), [])
        self.kh.wait_log("peer=queue:%s method=GET path=/api/agents/me" % rid)

    def test_post_bodies_forwarded_byte_exact_plain_and_base64(self):
        body = '{"body":"h\u00e9llo \\"q\\"","n":[1,2]}'
        rid = new_id()
        self.q.put(self.q.envelope(rid, method="POST", path="/api/issues/i-1/comments",
                                   query="?a=b&c=%20",
                                   headers={"content-type": "application/json"}, body=body))
        self.assertEqual(self.q.wait_response(rid)["status"], 200)
        rec = self.up.wait_requests(1)[0]
        self.assertEqual(rec.path, "/api/issues/i-1/comments?a=b&c=%20")
        self.assertEqual(rec.body, body.encode("utf-8"))
        raw = b'{"status":"done","x":"\xc3\xa9"}'
        rid = new_id()
        self.q.put(self.q.envelope(rid, method="PATCH", path="/api/issues/i-1",
                                   headers={"content-type": "application/json"},
                                   body=base64.b64encode(raw).decode(), bodyEncoding="base64"))
        self.assertEqual(self.q.wait_response(rid)["status"], 200)
        self.assertEqual(self.up.wait_requests(2)[1].body, raw)

    def test_binary_response_body_written_base64(self):
        self.up.set_route("/status/200", body=b"\x00\x01\xffbin")
        rid = new_id()
        self.q.put(self.q.envelope(rid, path="/status/200"))
        resp = self.q.wait_response(rid)
        self.assertEqual(resp["bodyEncoding"], "base64", resp)
        self.assertEqual(response_body(resp), b"\x00\x01\xffbin")

    def test_denied_route_403_with_paperclip_body(self):
        rid = new_id()
        self.q.put(self.q.envelope(rid, method="DELETE", path="/api/issues/i-1"))
        self.assertRefused(rid, 403, {"error": "Route not allowed: DELETE /api/issues/i-1"})

    def test_non_json_body_415(self):
        rid = new_id()
        self.q.put(self.q.envelope(rid, method="POST", path="/api/issues/i-1/comments",
                                   headers={"content-type": "text/plain"}, body="hi"))
        self.assertRefused(rid, 415, {"error": "Bridge only accepts JSON request bodies."})

    def test_invalid_json_body_400(self):
        rid = new_id()
        self.q.put(self.q.envelope(rid, method="POST", path="/api/issues/i-1/comments",
                                   headers={"content-type": "application/json"}, body="{nope"))
        self.assertRefused(rid, 400, {"error": "Request body is not valid JSON."})

    def test_body_over_limit_413(self):
        rid = new_id()
        self.q.put(self.q.envelope(rid, method="POST", path="/api/issues/i-1/comments",
                                   headers={"content-type": "application/json"},
                                   body='{"x":"%s"}' % ("a" * 5000)))
        self.assertRefused(rid, 413, {"error": "Request body too large."})
        rid = new_id()
        self.q.put(self.q.envelope(rid, method="POST", path="/api/issues/i-1/comments",
                                   headers={"content-type": "application/json"},
                                   body=base64.b64encode(b"[" + b"1," * 3000 + b"1]").decode(),
                                   bodyEncoding="base64"))
        self.assertRefused(rid, 413, {"error": "Request body too large."})

    def test_disallowed_header_never_reaches_upstream(self):
        # x-evil is dropped exactly as on the HTTP transport: the header
        # allowlist is re-applied to what the file says.
        rid = new_id()
        self.q.put(self.q.envelope(rid, headers={"x-evil": "1", "authorization": "Bearer x",
                                                 "host": "evil.example", "accept": "*/*"}))
        self.assertEqual(self.q.wait_response(rid)["status"], 200)
        rec = self.up.wait_requests(1)[0]
        self.assertIsNone(rec.header("x-evil"), rec)
        self.assertEqual(rec.all("authorization"), ["Bearer " + self.kh.credential])
        self.assertEqual(rec.header("host"), "127.0.0.1:%d" % self.up.port)

    # -- hostile files: never forwarded, answered, keyhole keeps serving ---

    def test_symlink_to_secret_outside_queue_not_followed(self):
        secret_dir = khtest.make_tempdir(self)
        secret = os.path.join(secret_dir, "secret.json")
        marker = "SECRET-" + new_id()
        # A VALID request: if keyhole followed the link it would forward it.
        with open(secret, "w") as f:
            json.dump(self.q.envelope("lnk", headers={"accept": marker}), f)
        os.symlink(secret, self.q.request_path("lnk"))
        self.assertRefused("lnk")
        self.assertFalse(os.path.lexists(self.q.request_path("lnk")))
        self.assertTrue(os.path.exists(secret))
        self.assertNotIn(marker, self.kh.output_text())

    def test_hard_link_refused(self):
        other = os.path.join(self.q.path, "elsewhere.json")
        with open(other, "w") as f:
            json.dump(self.q.envelope("hl"), f)
        os.link(other, self.q.request_path("hl"))
        # IN_CREATE of a regular file waits for the writer; the periodic
        # rescan (2 s) claims it.
        self.assertRefused("hl", timeout=8.0)
        self.assertTrue(os.path.exists(other))

    def test_fifo_refused_without_blocking(self):
        os.mkfifo(self.q.request_path("fifo"))
        self.assertRefused("fifo")
        self.assertFalse(os.path.lexists(self.q.request_path("fifo")))

    def test_directory_named_json_refused(self):
        os.mkdir(self.q.request_path("dir"))
        self.assertRefused("dir")
        self.assertFalse(os.path.lexists(self.q.request_path("dir")))
        # A non-empty directory, renamed in whole (keyhole may act on a
        # name between two mkdir calls).
        staging = os.path.join(os.path.dirname(os.path.dirname(
            self.q.request_path("full"))), "staging-full")
        os.makedirs(os.path.join(staging, "sub"))
        os.rename(staging, self.q.request_path("full"))
        resp = self.q.wait_response("full", keep=True)
        self.assertJsonResponse(resp, 400, INVALID)
        self.up.assert_nothing(self)

    def test_sparse_1gib_file_refused_before_reading(self):
        tmp = self.q.request_path("big") + ".tmp"
        with open(tmp, "wb") as f:
            f.write(json.dumps(self.q.envelope("big")).encode())
            f.truncate(1 << 30)
        t0 = time.monotonic()
        os.rename(tmp, self.q.request_path("big"))
        self.assertRefused("big", 413, {"error": "Bridge request envelope exceeded the "
                                                 "configured size limit."})
        self.assertLess(time.monotonic() - t0, 5.0)

    def test_malformed_envelopes_refused(self):
        good = self.q.envelope("x")
        cases = {
            "badjson": b"{not json",
            "trailing": json.dumps(good).encode() + b" {}",
            "array": b"[]",
            "nul": json.dumps(dict(good, path="/api/agents/me\u0000/x")).encode(),
            "rawnul": json.dumps(good).encode()[:-1] + b"\x00}",
            "dupkey": b'{"id":"dupkey","method":"GET","path":"/status/500",'
                      b'"path":"/api/agents/me","query":"","headers":{},"body":""}',
            "idmismatch": json.dumps(dict(good, id="someone-else")).encode(),
            "noid": json.dumps({k: v for k, v in good.items() if k != "id"}).encode(),
        }
        wrong = {
            "methodnum": {"method": 5},
            "methodlower": {"method": "get"},
            "methodconnect": {"method": "CONNECT"},
            "pathnull": {"path": None},
            "pathrel": {"path": "api/agents/me"},
            "headersarray": {"headers": []},
            "headernum": {"headers": {"accept": 1}},
            "headerupper": {"headers": {"Accept": "x"}},
            "bodynum": {"body": 123},
            "bodymissing": {"body": None},
            "encoding": {"bodyEncoding": "gzip"},
            "b64bad": {"body": "a=b=", "bodyEncoding": "base64"},
            "querynoq": {"query": "a=b"},
            "queryspace": {"query": "?a b"},
            "crlf": {"headers": {"accept": "a\r\nx-evil: 1"}},
            "lf": {"headers": {"if-match": "a\nb"}},
            "hugeheaders": {"headers": {"x-h%d" % i: "v" for i in range(1000)}},
            "dotdot": {"path": "/api/issues/x/interactions/../accept"},
            "pctdotdot": {"path": "/api/issues/x/%2e%2e/comments"},
            "pctdot2": {"path": "/api/issues/%2E%2e/x"},
            "slash": {"path": "/api/issues/a%2Fb/comments"},
            "getbody": {"body": "{}", "headers": {"content-type": "application/json"}},
        }
        for name, mod in wrong.items():
            env = dict(good, id=name, **mod)
            if mod.get("body", "") is None:
                del env["body"]
            cases[name] = json.dumps(env).encode()
        for name, data in cases.items():
            self.q.put_raw(name, data)
        for name in cases:
            resp = self.q.wait_response(name)
            self.assertEqual(resp["id"], name)
            self.assertJsonResponse(resp, 400, INVALID)
        self.up.assert_nothing(self)
        self.assertEqual(self.q.listing("processing"), [])
        self.assertStillServing()

    def test_names_that_are_not_request_ids_ignored(self):
        self.q.put_raw("x", json.dumps(self.q.envelope("bad name")).encode(), name="bad name.json")
        self.q.put_raw("x", json.dumps(self.q.envelope("y")).encode(), name="y.json.tmp")
        self.assertStillServing()
        self.up.assert_nothing(self)
        self.assertEqual(self.q.listing("requests"), ["bad name.json", "y.json.tmp"])

    def test_planted_symlink_at_response_tmp_name_not_followed(self):
        victim = os.path.join(khtest.make_tempdir(self), "victim")
        with open(victim, "w") as f:
            f.write("untouched")
        rid = new_id()
        os.symlink(victim, self.q.response_path(rid) + ".tmp")
        self.q.put(self.q.envelope(rid))
        self.assertEqual(self.q.wait_response(rid)["status"], 200)
        with open(victim) as f:
            self.assertEqual(f.read(), "untouched")


class QueueGrowingFileTest(KeyholeTestCase):

    def test_file_growing_while_read_never_forwarded(self):
        # A writer that keeps appending in its own process while keyhole
        # picks the file up: whatever instant keyhole reads it at, it must
        # be refused (a snapshot is invalid JSON; a change mid-read is
        # refused as such) and keyhole keeps serving.  The exact
        # changed-while-read check is unit.test_queue_file (deterministic).
        self.up = self.upstream()
        self.q = QueueDir(self)
        kh = keyhole_queue(self, self.up.url, self.q)
        env = json.dumps(self.q.envelope("grow")).encode()
        final = self.q.request_path("grow")
        tmp = final + ".tmp"
        with open(tmp, "wb") as f:
            f.write(env)
        writer = subprocess.Popen([sys.executable, "-c", (
            "import os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)\n"
            "end = time.monotonic() + 3\n"
            "while time.monotonic() < end:\n"
            "    for _ in range(100): os.write(fd, b'x')\n"), tmp])
        self.addCleanup(writer.wait)
        self.addCleanup(writer.kill)
        khtest.wait_until(lambda: os.path.getsize(tmp) > len(env), 5, "the writer to start")
        os.rename(tmp, final)
        resp = self.q.wait_response("grow")
        self.assertEqual(resp["status"], 400, resp)
        self.assertEqual(json.loads(response_body(resp)), INVALID)
        self.up.assert_nothing(self)
        rid = new_id()
        self.q.put(self.q.envelope(rid))
        self.assertEqual(self.q.wait_response(rid)["status"], 200)
        self.assertTrue(kh.alive())


class QueueAtMostOnceTest(KeyholeTestCase):

    def test_kill9_mid_request_then_restart_never_forwards_twice(self):
        up = self.upstream()
        up.slow_seconds = 3.0
        q = QueueDir(self)
        kh = keyhole_queue(self, up.url, q, args=["--max-inflight", "2"])
        q.put(q.envelope("post1", method="POST", path="/slow/p",
                         headers={"content-type": "application/json"}, body="{}"))
        q.put(q.envelope("get1", method="GET", path="/slow/g"))
        up.wait_requests(2)
        # At capacity: this one stays unclaimed in requests/.
        q.put(q.envelope("later", method="GET", path="/api/agents/me"))
        time.sleep(0.3)
        self.assertEqual(q.listing("processing"), ["get1.json", "post1.json"])
        self.assertEqual(q.listing("requests"), ["later.json"])
        kh.kill()
        khtest.wait_until(lambda: not any(khtest.pid_alive(p) for p in kh.seen_children),
                          5, "the child to die with its parent")
        self.assertEqual(q.listing("responses"), [])

        kh2 = keyhole_queue(self, up.url, q)
        post = q.wait_response("post1")
        self.assertEqual(post["status"], 409, post)
        self.assertEqual(post["headers"].get("x-paperclip-bridge-outcome"), "indeterminate")
        body = json.loads(response_body(post))
        self.assertEqual(body["outcome"], "indeterminate")
        self.assertIs(body["retryable"], False)
        get = q.wait_response("get1")
        self.assertEqual(get["status"], 503, get)
        later = q.wait_response("later")
        self.assertEqual(later["status"], 200, later)
        time.sleep(3.5)   # anything re-sent would have arrived by now
        paths = [r.path for r in up.snapshot()]
        self.assertEqual(sorted(paths), ["/api/agents/me", "/slow/g", "/slow/p"], paths)
        self.assertEqual(q.listing("processing"), [])
        kh2.wait_log("answered 2 request(s) left in processing/")


class QueueModesTest(KeyholeTestCase):

    def test_polling_mode_serves(self):
        up = self.upstream()
        q = QueueDir(self)
        kh = keyhole_queue(self, up.url, q, args=["--queue-watch", "poll", "--queue-poll-ms", "50"])
        kh.wait_log("serving queue_v1 in %s (polling)" % q.path)
        rid = new_id()
        q.put(q.envelope(rid))
        self.assertEqual(q.wait_response(rid)["status"], 200)

    def test_queue_and_http_listener_together(self):
        up = self.upstream()
        q = QueueDir(self)
        kh = keyhole_queue(self, up.url, q, listen="tcp:127.0.0.1:0")
        self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
        rid = new_id()
        q.put(q.envelope(rid))
        self.assertEqual(q.wait_response(rid)["status"], 200)

    def test_queue_dir_that_is_a_symlink_refused_at_start(self):
        real = QueueDir(self)
        link = os.path.join(khtest.make_tempdir(self), "link")
        os.symlink(real.path, link)
        rc, out, err = khtest.run_keyhole(["serve", "--policy", khtest.PAPERCLIP_POLICY,
                                           "--upstream", "http://127.0.0.1:1",
                                           "--queue-dir", link],
                                          env={"PAPERCLIP_BRIDGE_TOKEN": khtest.new_token(),
                                               # A credential that is not a
                                               # letter of the message: the
                                               # log masks it (SECURITY.md I13).
                                               "KEYHOLE_CREDENTIAL": khtest.new_credential()})
        self.assertNotEqual(rc, 0)
        self.assertIn("--queue-dir %s" % link, err)

    def test_second_keyhole_on_the_same_queue_refused(self):
        up = self.upstream()
        q = QueueDir(self)
        keyhole_queue(self, up.url, q)
        rc, out, err = khtest.run_keyhole(["serve", "--policy", khtest.PAPERCLIP_POLICY,
                                           "--upstream", up.url, "--queue-dir", q.path],
                                          env={"PAPERCLIP_BRIDGE_TOKEN": khtest.new_token(),
                                               "KEYHOLE_CREDENTIAL": khtest.new_credential()})
        self.assertNotEqual(rc, 0)
        self.assertIn("another keyhole serves this queue", err)

    def test_child_confined_to_the_queue_directory(self):
        khtest.require_root("chroot into the queue directory")
        up = self.upstream()
        q = QueueDir(self)
        kh = keyhole_queue(self, up.url, q)
        child = kh.child_pid()
        self.assertEqual(os.readlink("/proc/%d/root" % child), q.path)
        st = khtest.proc_status(child)
        self.assertEqual(st["Seccomp"], "2")
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertNotEqual(st["Uid"].split()[0], "0")
        # its fds: the three queue directories, nothing else of the file
        # system (no queue root, no cwd outside)
        dirs = set()
        for fd in os.listdir("/proc/%d/fd" % child):
            target = os.readlink("/proc/%d/fd/%s" % (child, fd))
            # Sanitizer builds keep the parent's stderr as the child's
            # fd 2, for their reports (supervise.c); nothing else.
            if fd == "2" and target == kh.stderr_path:
                continue
            if target.startswith("/"):
                dirs.add(target)
        self.assertEqual(dirs, {q.sub("requests"), q.sub("processing"), q.sub("responses")}
                         | {"/dev/null"})


if __name__ == "__main__":
    khtest.main()
