#!/usr/bin/env python3
"""What is forwarded is what was checked, against the upstream's REAL body
parser: Express 5's express.json() (body-parser 2, iconv-lite), configured
as Paperclip's server configures it (tests/integration/express_upstream.js).

Issue 11 item A: with `Content-Type: application/json; charset=utf-7`
keyhole checked a body that was one string, while body-parser decoded it as
UTF-7 and found a key the rule excludes.  Here every spelling of the media
type we could think of (case, quotes, repeated parameters and fields,
utf-7, utf-16le/be, latin1 with bytes >= 0x80, other parameters, commas,
+json) goes through keyhole, over HTTP and as queue_v1 request files, with
bodies that smuggle a key in each of those encodings; the property is
checked on what Express itself parsed (its own log, read directly):

  - every body Express parsed has only top-level keys the rule allows;
  - the content-type Express saw is exactly `application/json` or
    `application/json; charset=utf-8`, and it never saw a content-encoding.

Express and body-parser are installed once into the build tree at pinned
versions (like the Paperclip gateway in test_queue_paperclip_interop.py);
node and npm come from scripts/deps.sh.  A missing one is a failure."""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from khqueue import QueueDir, keyhole_queue, new_id, response_body  # noqa: E402

EXPRESS_VERSION = "5.3.0"
BODY_PARSER_VERSION = "2.4.0"
HERE = os.path.dirname(os.path.abspath(__file__))

POLICY = """\
request-header accept
request-header content-type
allow PATCH /api/issues/{issue} keys title,status,comment
allow POST /api/issues/{issue}/comments body json
allow POST /api/merge content-type application/merge-patch+json
allow POST /api/attachments content-type multipart/form-data
"""
ALLOWED_KEYS = {"title", "status", "comment"}
ISSUE = "/api/issues/BRI-7"
CANONICAL = ("application/json", "application/json; charset=utf-8")

# The issue's exact request: one string to a UTF-8 reader, an object with
# assigneeAdapterOverrides to a UTF-7 one.
UTF7_BODY = (b'{"title":"x+ACIALAAi-assigneeAdapterOverrides+ACIAOgB7ACI-model+ACIAOgAi-'
             b'evil+ACIAfQAs-+ACI-y+ACIAOgAi-z"}')
SMUGGLED = '{"title":"x","assigneeAdapterOverrides":{"model":"evil"}}'
BODIES = {
    "utf7": UTF7_BODY,
    "utf16le": SMUGGLED.encode("utf-16-le"),
    "utf16be": SMUGGLED.encode("utf-16-be"),
    "utf16bom": SMUGGLED.encode("utf-16"),
    "latin1": '{"title":"caf\u00e9","assigneeAdapterOverrides":1}'.encode("latin-1"),
    "bom": b"\xef\xbb\xbf" + SMUGGLED.encode(),
    "plain": b'{"title":"x"}',
}
CTYPES = [
    "application/json",
    "Application/JSON",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "application/json; charset=utf-7",
    "application/json; charset=UTF-7",
    "application/json;charset=utf-7",
    "application/json ; charset=utf-7",
    "application/json; charset=utf-7 ",
    "application/json;\tcharset=utf-7",
    "application/json; CHARSET=utf-7",
    "application/json; charset=\"utf-7\"",
    "application/json; charset=\"utf-8\"",
    "application/json; charset='utf-7'",
    "application/json; charset=utf-8; charset=utf-7",
    "application/json; charset=utf-7; charset=utf-8",
    "application/json; charset=utf-16",
    "application/json; charset=utf-16le",
    "application/json; charset=utf-16be",
    "application/json; charset=UTF-16LE",
    "application/json; charset=utf-32",
    "application/json; charset=ucs-2",
    "application/json; charset=latin1",
    "application/json; charset=iso-8859-1",
    "application/json; charset=utf8",
    "application/json; charset=",
    "application/json; foo=bar",
    "application/json; foo=bar; charset=utf-7",
    "application/json;;charset=utf-7",
    "application/json;",
    "application/json; charset=utf-7,application/json",
    "application/json, text/plain",
    "application/json; boundary=x",
    "application/json; charset=utf-8\\",
    "application/vnd.api+json",
    "text/json",
    "application/x-www-form-urlencoded",
]
# The spellings keyhole forwards (as application/json, with the charset
# when given).
ACCEPTED_CTYPES = ("application/json", "Application/JSON", "application/json; charset=utf-8",
                   "application/json;charset=UTF-8")


def express_prefix():
    """The npm prefix holding express and body-parser at the pinned
    versions, installing them if the build tree does not hold them yet."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise AssertionError("%s is missing: run scripts/deps.sh" % tool)
    prefix = os.path.join(khtest.BUILD, "express-npm", EXPRESS_VERSION)
    mods = os.path.join(prefix, "node_modules")
    if not os.path.exists(os.path.join(mods, "express", "package.json")):
        os.makedirs(prefix, exist_ok=True)
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts",
                            "--no-save", "--prefix", prefix, "express@" + EXPRESS_VERSION,
                            "body-parser@" + BODY_PARSER_VERSION],
                           capture_output=True, timeout=300, cwd=prefix)
        if p.returncode != 0:
            raise AssertionError("npm install failed:\n%s" % (p.stdout + p.stderr).decode(
                "utf-8", "replace"))
    for name, version in (("express", EXPRESS_VERSION), ("body-parser", BODY_PARSER_VERSION)):
        with open(os.path.join(mods, name, "package.json")) as f:
            assert json.load(f)["version"] == version, name
    # express must use that body-parser, not a copy of its own
    assert not os.path.exists(os.path.join(mods, "express", "node_modules", "body-parser"))
    return prefix


class ExpressUpstream:
    """tests/integration/express_upstream.js under node on 127.0.0.1."""

    def __init__(self, tc, prefix):
        d = khtest.make_tempdir(tc)
        self.log_path = os.path.join(d, "express.log")
        self._out = open(os.path.join(d, "express.out"), "wb")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(["node", os.path.join(HERE, "express_upstream.js"),
                                          prefix], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=log)
        tc.addCleanup(self.stop)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise AssertionError("express upstream did not start: %r %s" % (line, self.log()))
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def seen(self):
        """Every request Express's routes got, in order (read directly)."""
        with urllib.request.urlopen(self.url + "/__seen", timeout=5) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self._out.close()


class ExpressCase(KeyholeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.prefix = express_prefix()

    def setUp(self):
        self.up = ExpressUpstream(self, self.prefix)

    def assertUpstreamSawOnlyChecked(self, allowed=ALLOWED_KEYS, canonical=CANONICAL):
        """The property, on Express's own record of what it parsed."""
        seen = self.up.seen()
        for rec in seen:
            if rec["path"] == ISSUE:
                self.assertLessEqual(set(rec.get("keys", [])), allowed,
                                     "Express parsed a key the rule excludes: %r" % rec)
        for rec in seen:
            self.assertNotIn("parseError", rec, "Express refused what keyhole forwarded "
                             "(keyhole checked something else): %r" % rec)
            self.assertIn(rec["ctype"], canonical, rec)
            self.assertIsNone(rec["cenc"], rec)
        return seen

    def assertExactlyTheAcceptedSpellings(self, answers, seen):
        """Not vacuous, and exact: UTF-8 JSON in one of the spellings
        keyhole accepts gets through (the UTF-7 body is a plain string to
        a UTF-8 reader), everything else is refused."""
        for (ct, name), st in answers.items():
            if ct in ACCEPTED_CTYPES and name in ("plain", "utf7"):
                self.assertEqual(st, 200, (ct, name))
            else:
                self.assertGreaterEqual(st, 400, (ct, name))
        self.assertEqual(len(seen), 2 * len(ACCEPTED_CTYPES), seen)
        self.assertTrue(all(s["keys"] == ["title"] for s in seen), seen)


class ExpressHttpTest(ExpressCase):

    def setUp(self):
        super().setUp()
        self.kh = self.keyhole(self.up.url, policy=POLICY, args=["--var", "issue=BRI-7"])

    def patch(self, ctype, body, extra=()):
        hdrs = list(extra)
        if ctype is not None:
            hdrs.append(("Content-Type", ctype))
        return self.kh.request("PATCH", ISSUE, headers=hdrs, body=body, content_type=None)

    def test_issue_11_utf7_body_never_reaches_express(self):
        r = self.patch("application/json; charset=utf-7", UTF7_BODY)
        self.assertJsonError(r, 415)
        self.assertEqual(self.up.seen(), [])

    def test_every_spelling_only_allowed_keys_reach_express(self):
        answers, refusals = {}, []
        for ct in CTYPES:
            for name, body in BODIES.items():
                r = self.patch(ct, body)
                answers[(ct, name)] = r.status
                if r.status >= 400:
                    refusals.append((ct, name, r))
        seen = self.assertUpstreamSawOnlyChecked()
        for ct, name, r in refusals:
            # keyhole's own JSON error
            self.assertEqual(r.header("content-type"), "application/json", (ct, name, r))
            self.assertIn("error", r.json(), (ct, name, r))
        self.assertExactlyTheAcceptedSpellings(answers, seen)

    def test_repeated_content_type_field_refused(self):
        for first, second in (("application/json", "application/json; charset=utf-7"),
                              ("application/json; charset=utf-7", "application/json"),
                              ("application/json", "application/json")):
            r = self.kh.request("PATCH", ISSUE, body=UTF7_BODY, content_type=None,
                                headers=[("Content-Type", first), ("Content-Type", second)])
            self.assertIn(r.status, (400, 415), (first, second, r))
        self.assertEqual(self.up.seen(), [])

    def test_content_encoding_is_never_forwarded(self):
        # body-parser inflates gzip/deflate/br: a compressed body would be
        # checked as bytes by keyhole and parsed decompressed by Express.
        raw = SMUGGLED.encode()
        for enc, data in (("gzip", zlib.compress(raw, wbits=31)),
                          ("deflate", zlib.compress(raw)),
                          ("br", b"\x0b\x02\x80" + raw + b"\x03")):
            r = self.patch("application/json", data, extra=[("Content-Encoding", enc)])
            self.assertJsonError(r, 415)
        r = self.patch("application/json", b'{"title":"x"}',
                       extra=[("Content-Encoding", "gzip, identity")])
        self.assertJsonError(r, 415)
        # identity is no encoding: forwarded, and no content-encoding with it
        r = self.patch("application/json", b'{"title":"x"}',
                       extra=[("Content-Encoding", "identity")])
        self.assertEqual(r.status, 200, r)
        seen = self.assertUpstreamSawOnlyChecked()
        self.assertEqual([s["keys"] for s in seen], [["title"]])

    def test_json_quirks_of_the_upstream(self):
        # JSON.parse keeps the last of duplicate keys; keyhole checks each.
        r = self.patch("application/json", b'{"title":"a","title":"b"}')
        self.assertEqual(r.status, 200, r)
        for body in (b'{"title":"a","__proto__":{"x":1}}',
                     b'{"\\u0061ssigneeAdapterOverrides":1,"title":"a"}',
                     b'{"title":"a","assigneeAdapterOverrides":1,"title":"b"}',
                     b'{"title":"a"} {"assigneeAdapterOverrides":1}',
                     b'{"title":"a\\u0000","assigneeAdapterOverrides":1}'):
            r = self.patch("application/json", body)
            self.assertIn(r.status, (400, 422), (body, r))
        self.assertUpstreamSawOnlyChecked()

    def test_chunked_body_same_rules(self):
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(UTF7_BODY), UTF7_BODY)
        r = self.kh.request("PATCH", ISSUE, body=chunked, content_type=None,
                            headers=[("Content-Type", "application/json; charset=utf-7"),
                                     ("Transfer-Encoding", "chunked")])
        self.assertJsonError(r, 415)
        self.assertEqual(self.up.seen(), [])

    def test_other_media_types_forward_only_a_checked_boundary(self):
        mp = b'--b1\r\nContent-Disposition: form-data; name="f"\r\n\r\nhi\r\n--b1--\r\n'
        ok = {"multipart/form-data; boundary=b1": "multipart/form-data; boundary=b1",
              "Multipart/Form-Data; BOUNDARY=b1": "multipart/form-data; boundary=b1",
              'multipart/form-data; boundary="b1"': "multipart/form-data; boundary=b1",
              'multipart/form-data; boundary="a:b"': 'multipart/form-data; boundary="a:b"',
              "multipart/form-data; charset=utf-8; boundary=b1":
                  "multipart/form-data; charset=utf-8; boundary=b1"}
        for ct, want in ok.items():
            r = self.kh.request("POST", "/api/attachments", body=mp, content_type=None,
                                headers=[("Content-Type", ct)])
            self.assertEqual(r.status, 200, (ct, r))
            self.assertEqual(r.json()["ctype"], want, ct)
        for ct in ("multipart/form-data; boundary=b1; charset=utf-7",
                   "multipart/form-data; boundary=b1; boundary=b2",
                   'multipart/form-data; boundary="a b"',
                   'multipart/form-data; boundary="a\\"b"',
                   "multipart/form-data; boundary=" + "x" * 71,
                   "multipart/form-data; name=x; boundary=b1"):
            r = self.kh.request("POST", "/api/attachments", body=mp, content_type=None,
                                headers=[("Content-Type", ct)])
            self.assertJsonError(r, 415)
        # A +json type the rule lists is checked as JSON (body-parser would
        # not parse it by default; an upstream configured to would).
        r = self.kh.request("POST", "/api/merge", body=b'{"a":1} x', content_type=None,
                            headers=[("Content-Type", "application/merge-patch+json")])
        self.assertJsonError(r, 400)
        r = self.kh.request("POST", "/api/merge", body=b'{"a":1}', content_type=None,
                            headers=[("Content-Type",
                                      "application/merge-patch+json; charset=utf-7")])
        self.assertJsonError(r, 415)
        r = self.kh.request("POST", "/api/merge", body=b'{"a":1}', content_type=None,
                            headers=[("Content-Type", "Application/Merge-Patch+JSON")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["ctype"], "application/merge-patch+json")


class ExpressQueueTest(ExpressCase):
    """The same spellings as queue_v1 request files (a sandbox can write
    them itself): the host side applies the same decision."""

    def setUp(self):
        super().setUp()
        self.q = QueueDir(self)
        self.kh = keyhole_queue(self, self.up.url, self.q, policy=POLICY,
                                args=["--var", "issue=BRI-7"])

    def ask(self, ctype, body):
        rid = new_id()
        self.q.put(self.q.envelope(rid, method="PATCH", path=ISSUE,
                                   headers={"content-type": ctype},
                                   body=base64.b64encode(body).decode(),
                                   bodyEncoding="base64"))
        return self.q.wait_response(rid, timeout=10)

    def test_every_spelling_only_allowed_keys_reach_express(self):
        answers, refusals = {}, []
        for ct in CTYPES:
            for name in ("utf7", "utf16le", "latin1", "plain"):
                resp = self.ask(ct, BODIES[name])
                answers[(ct, name)] = resp["status"]
                if resp["status"] >= 400:
                    refusals.append(resp)
        seen = self.assertUpstreamSawOnlyChecked()
        for resp in refusals:
            self.assertIn("error", json.loads(response_body(resp)), resp)
        self.assertEqual(answers[("application/json; charset=utf-7", "utf7")], 415, answers)
        self.assertExactlyTheAcceptedSpellings(answers, seen)

    def test_content_encoding_in_a_request_file_refused(self):
        rid = new_id()
        self.q.put(self.q.envelope(rid, method="PATCH", path=ISSUE,
                                   headers={"content-type": "application/json",
                                            "content-encoding": "gzip"},
                                   body=base64.b64encode(zlib.compress(SMUGGLED.encode(),
                                                                       wbits=31)).decode(),
                                   bodyEncoding="base64"))
        self.assertEqual(self.q.wait_response(rid, timeout=10)["status"], 415)
        time.sleep(0.2)
        self.assertEqual(self.up.seen(), [])


if __name__ == "__main__":
    khtest.main()
