#!/usr/bin/env python3
"""The credential inside the parent, and on its way out (SECURITY.md
I1 and "The credential in the parent's memory").

- After many forwarded requests (http and https upstream, keep-alive,
  mutations, concurrent ones), the parent's memory holds the credential
  exactly once: the header line "authorization: Bearer <credential>" in
  the credential's own locked (VmFlags lo), never-dumped (dd) page.  The
  old parent held a copy in its prebuilt heap header and one in every
  freed libcurl request buffer (13 after this test's traffic).
- http_proxy / https_proxy / ALL_PROXY (and their other spellings) in
  keyhole's environment never route a request, and so the credential,
  through a proxy: a fake proxy receives nothing, the upstream everything.
"""

import base64
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402

POLICY = """\
allow GET /api/agents/me
allow POST /api/issues/*/comments
allow PATCH /api/issues/*
"""

PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
              "all_proxy", "ALL_PROXY")


def find_all(pid, needle):
    """Every address where needle occurs in pid's readable mappings:
    [(address, mapping start)]."""
    hits = []
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read().splitlines()
    fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    try:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1]:
                continue
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if hi - lo > 1 << 30:
                continue
            addr, tail = lo, b""
            while addr < hi:
                try:
                    chunk = os.pread(fd, min(1 << 20, hi - addr), addr)
                except OSError:
                    break
                if not chunk:
                    break
                data = tail + chunk
                base = addr - len(tail)
                i = data.find(needle)
                while i >= 0:
                    if i + len(needle) > len(tail) or len(tail) == 0:
                        hits.append((base + i, lo))
                    i = data.find(needle, i + 1)
                tail = data[-(len(needle) - 1):]
                addr += len(chunk)
    finally:
        os.close(fd)
    return sorted(set(hits))


def vmflags(pid):
    """{mapping start: set of VmFlags} from /proc/PID/smaps."""
    out, cur = {}, None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):
                cur = int(first.split("-")[0], 16)
            elif first == "VmFlags:" and cur is not None:
                out[cur] = set(line.split()[1:])
    return out


class _TLSHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Head and body are written apart: without TCP_NODELAY, Nagle and
        # the client's delayed ACK add 40 ms to each kept-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _answer(self):
        n = int(self.headers.get("content-length") or 0)
        if n:
            self.rfile.read(n)
        self.server.seen.append(self.headers.get("authorization"))
        body = b'{"tls":true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *a):
        pass


def tls_upstream(tc):
    """(url, ca file, server) of an https upstream on 127.0.0.1."""
    if shutil.which("openssl") is None:
        tc.fail("openssl is needed to make a test certificate (scripts/deps.sh installs it)")
    d = khtest.make_tempdir(tc)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TLSHandler)
    srv.daemon_threads = True
    srv.seen = []
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True)
    t.start()
    tc.addCleanup(srv.server_close)
    tc.addCleanup(srv.shutdown)
    return "https://127.0.0.1:%d" % srv.server_address[1], cert, srv


class ParentCredentialCopiesTest(KeyholeTestCase):

    N = 40

    def traffic(self, kh):
        for i in range(self.N):
            self.assertEqual(kh.request("GET", "/api/agents/me").status, 200)
            self.assertEqual(kh.request("POST", "/api/issues/i%d/comments" % i,
                                        body=b'{"body":"%d"}' % i).status, 200)
            if i % 8 == 0:
                self.assertEqual(kh.request("PATCH", "/api/issues/i%d" % i,
                                            body=b'{"status":"done"}').status, 200)
        # Some at once: several connections and transfers side by side.
        out = []
        ts = [threading.Thread(target=lambda: out.append(
            kh.request("POST", "/api/issues/c/comments", body=b'{"c":1}').status))
            for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(15)
        self.assertEqual(out, [200] * 8)
        time.sleep(0.5)    # every transfer ended, every buffer freed

    def assertOneLockedCopy(self, kh, prefix=b"authorization: Bearer ", encoded=None):
        khtest.require_root("scanning the parent's /proc/PID/mem")
        if not khtest.cap_effective_has(khtest.CAP_SYS_PTRACE):
            raise unittest.SkipTest("scanning /proc/PID/mem needs CAP_SYS_PTRACE")
        cred = kh.credential.encode()
        hits = find_all(kh.pid, cred)
        flags = vmflags(kh.pid)
        where = ["%x in %x %s" % (a, m, sorted(flags.get(m, ()))) for a, m in hits]
        self.assertEqual(len(hits), 1, "copies of the credential in the parent after "
                         "%d requests: %d\n%s" % (self.N, len(hits), "\n".join(where)))
        addr, start = hits[0]
        if not khtest.sanitizer_build():     # ASan's mlock() does nothing
            self.assertIn("lo", flags[start], "the copy is not in locked memory: " + where[0])
        self.assertIn("dd", flags[start], "the copy may be dumped: " + where[0])
        if encoded is None:
            # It is the header line itself, built in place.
            line = prefix + cred
            self.assertEqual(find_all(kh.pid, line), [(addr - len(prefix), start)])
            return
        # HTTP Basic: the line holds the credential's base64, built once,
        # in the same locked page, right behind the credential itself.
        line = prefix + encoded
        self.assertEqual(find_all(kh.pid, encoded), [(addr + len(cred) + 1 + len(prefix), start)])
        self.assertEqual(find_all(kh.pid, line), [(addr + len(cred) + 1, start)])

    def test_one_locked_copy_after_http_traffic(self):
        up = self.upstream()
        kh = self.keyhole(up.url, policy=POLICY)
        self.traffic(kh)
        self.assertEqual(up.requests[0].header("authorization"), "Bearer " + kh.credential)
        self.assertOneLockedCopy(kh)

    def test_one_locked_copy_after_https_traffic(self):
        url, ca, srv = tls_upstream(self)
        kh = self.keyhole(url, policy=POLICY, args=["--ca-file", ca])
        self.traffic(kh)
        self.assertEqual(srv.seen[0], "Bearer " + kh.credential)
        self.assertOneLockedCopy(kh)

    def test_one_locked_copy_with_a_named_header(self):
        """--auth header:x-api-key: the line "x-api-key: CRED" is built in
        the locked page like Paperclip's, and nothing else copies it."""
        up = self.upstream()
        kh = self.keyhole(up.url, policy=POLICY, run_id="run-9",
                          args=["--auth", "header:X-Api-Key", "--run-id-header", "x-run",
                                "--upstream-header", "x-api-version: 2"])
        self.traffic(kh)
        self.assertEqual(up.requests[0].header("x-api-key"), kh.credential)
        self.assertIsNone(up.requests[0].header("authorization"))
        self.assertOneLockedCopy(kh, prefix=b"x-api-key: ")

    def test_one_locked_copy_with_http_basic(self):
        up = self.upstream()
        cred = "svc-user:" + khtest.new_credential()
        kh = self.keyhole(up.url, policy=POLICY, credential=cred, args=["--auth", "basic"])
        self.traffic(kh)
        b64 = base64.b64encode(cred.encode())
        self.assertEqual(up.requests[0].header("authorization"), "Basic " + b64.decode())
        self.assertOneLockedCopy(kh, prefix=b"authorization: Basic ", encoded=b64)

    def test_one_locked_copy_with_credential_from_environment(self):
        if khtest.sanitizer_build():
            raise unittest.SkipTest("ASan's runtime keeps its own copy of the environment "
                                    "keyhole started with")
        up = self.upstream()
        kh = self.keyhole(up.url, policy=POLICY, credential_via="env")
        self.traffic(kh)
        self.assertOneLockedCopy(kh)


class FakeProxy:
    """Accepts connections and records what arrives; answers nothing."""

    def __init__(self, tc):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.got = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()
        tc.addCleanup(self.close)

    def run(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            c.settimeout(0.5)
            try:
                self.got.append(c.recv(65536))
            except OSError:
                self.got.append(b"")
            c.close()

    def close(self):
        self.stop.set()
        self.t.join(2)
        self.sock.close()


class NoProxyTest(KeyholeTestCase):

    def proxy_env(self, proxy):
        url = "http://127.0.0.1:%d" % proxy.port
        env = {k: url for k in PROXY_VARS}
        env["no_proxy"] = env["NO_PROXY"] = ""
        return env

    def test_proxy_environment_ignored_http(self):
        proxy = FakeProxy(self)
        up = self.upstream()
        kh = self.keyhole(up.url, policy=POLICY, env=self.proxy_env(proxy))
        self.assertEqual(kh.request("GET", "/api/agents/me", timeout=10).status, 200)
        self.assertEqual(kh.request("POST", "/api/issues/i1/comments", body=b'{"a":1}',
                                    timeout=10).status, 200)
        self.assertEqual(len(up.wait_requests(2)), 2)
        time.sleep(0.3)
        self.assertEqual(proxy.got, [], "a request went to the proxy")

    def test_proxy_environment_ignored_https(self):
        proxy = FakeProxy(self)
        url, ca, srv = tls_upstream(self)
        kh = self.keyhole(url, policy=POLICY, args=["--ca-file", ca],
                          env=self.proxy_env(proxy))
        self.assertEqual(kh.request("GET", "/api/agents/me", timeout=10).status, 200)
        self.assertEqual(kh.request("POST", "/api/issues/i1/comments", body=b'{"a":1}',
                                    timeout=10).status, 200)
        self.assertEqual(srv.seen, ["Bearer " + kh.credential] * 2)
        time.sleep(0.3)
        self.assertEqual(proxy.got, [], "a request went to the proxy")


if __name__ == "__main__":
    khtest.main()
