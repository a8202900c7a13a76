#!/usr/bin/env python3
"""Upstream TLS and the upstream URL (SECURITY.md I5).

An https upstream is reached with TLS verified: with --ca-file naming the
upstream's CA the request goes through with the credential; without it the
self-signed upstream is refused (502) and never receives a request.  Upstream
URLs that would let configuration smuggle userinfo, a query or another
scheme are refused at start.
"""
import http.server
import os
import shutil
import ssl
import subprocess
import threading
import unittest

import khtest


class _TLSHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"tls":true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class TLSUpstreamTest(unittest.TestCase):
    def setUp(self):
        if shutil.which("openssl") is None:
            self.fail("openssl is needed to make a test certificate (scripts/deps.sh installs it)")
        self.dir = khtest.make_tempdir(self)
        self.cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", self.cert, "-days", "1",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TLSHandler)
        self.srv.seen = []
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.url = "https://127.0.0.1:%d" % self.srv.server_address[1]
        t = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True)
        t.start()
        self.addCleanup(self.srv.server_close)
        self.addCleanup(self.srv.shutdown)

    def test_https_upstream_verified_with_ca_file(self):
        kh = khtest.Keyhole(self, self.url, args=["--ca-file", self.cert])
        r = kh.request("GET", "/api/agents/me")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"tls": True})
        self.assertEqual(len(self.srv.seen), 1)
        self.assertEqual(self.srv.seen[0].get("authorization"), "Bearer " + kh.credential)

    def test_untrusted_https_upstream_refused_502(self):
        kh = khtest.Keyhole(self, self.url)
        r = kh.request("GET", "/api/agents/me")
        self.assertEqual(r.status, 502, r)
        self.assertEqual(self.srv.seen, [], "a request reached an unverified upstream")


class UpstreamURLTest(unittest.TestCase):
    def _refused(self, url, needle):
        kh = khtest.Keyhole(self, url, start=False)
        kh.start()
        code = kh.wait_exit(10)
        self.assertNotEqual(code, 0)
        self.assertIn(needle, kh.output_text())

    def test_userinfo_refused(self):
        self._refused("http://user:pw@127.0.0.1:1/", "userinfo")

    def test_query_refused(self):
        self._refused("http://127.0.0.1:1/?a=b", "userinfo, a query")

    def test_other_scheme_refused(self):
        self._refused("ftp://127.0.0.1:1/", "http:// or")


if __name__ == "__main__":
    unittest.main(verbosity=2)
