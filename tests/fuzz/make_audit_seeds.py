#!/usr/bin/env python3
"""Write the seeds of fuzz_audit_verify (tests/fuzz/corpus/audit_verify/).

Runs the real keyhole (KEYHOLE_BUILD, default build/) with the test key
tests/fuzz/audit_seed_key.pem, whose public key fuzz_audit_verify.c
embeds, and writes each log it made, and copies tampered with in every
way the verifier names, in the harness's input format: one flag byte
(bit 0 --partial, bit 1 --pubkey) and the files separated by NUL bytes.

    python3 tests/fuzz/make_audit_seeds.py
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("KEYHOLE_BUILD") or os.path.join(SRC, "build")
OUT = os.path.join(HERE, "corpus", "audit_verify")
TOKEN = "seed-token-0123456789"
POLICY = "allow GET /api/agents/me\nallow POST /api/issues/*/comments\n"


class Up(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _h(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _h


def request(port, method, path, token=TOKEN, body=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n" % (
        method, path, token)
    if body is not None:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    s.sendall(head.encode() + b"\r\n" + (body or b""))
    while s.recv(65536):
        pass
    s.close()


class Run:
    def __init__(self, d, up_port, log, extra=()):
        ready = os.path.join(d, "ready.json")
        if os.path.exists(ready):
            os.unlink(ready)
        self.p = subprocess.Popen(
            [os.path.join(BUILD, "keyhole"), "serve", "--policy", os.path.join(d, "p"),
             "--upstream", "http://127.0.0.1:%d" % up_port,
             "--credential-file", os.path.join(d, "cred"), "--listen", "tcp:127.0.0.1:0",
             "--ready-file", ready, "--audit-log", log, "--audit-key", os.path.join(d, "key"),
             "--audit-checkpoint-records", "4", "--log-format", "text"] + list(extra),
            env={"PAPERCLIP_BRIDGE_TOKEN": TOKEN, "PATH": os.environ["PATH"]},
            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        for _ in range(500):
            try:
                with open(ready) as f:
                    self.port = json.load(f)["port"]
                return
            except (OSError, ValueError, KeyError):
                time.sleep(0.02)
        raise SystemExit("keyhole did not start")

    def traffic(self):
        request(self.port, "GET", "/api/agents/me")
        request(self.port, "POST", "/api/issues/7/comments?x=1", body=b'{"body":"hi"}')
        request(self.port, "GET", "/api/nope")
        request(self.port, "GET", "/api/agents/me", token="wrong-token-000000")
        time.sleep(0.2)

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        self.p.wait(10)


def lines(b):
    return b.splitlines(keepends=True)


def write(name, flags, *files):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([flags]) + b"\0".join(files))


def rechain(ls, start):
    """prev of every line from start on rewritten to the SHA-256 of the
    line before it (a forger's chain; only a signature can catch it)."""
    ls = list(ls)
    for i in range(start, len(ls)):
        h = hashlib.sha256(ls[i - 1].rstrip(b"\n")).hexdigest().encode()
        j = ls[i].index(b'"prev":"') + 8
        ls[i] = ls[i][:j] + h + ls[i][j + 64:]
    return ls


def main():
    os.makedirs(OUT, exist_ok=True)
    d = tempfile.mkdtemp(prefix="kh-audit-seeds-")
    os.chmod(d, 0o700)
    try:
        shutil.copy(os.path.join(HERE, "audit_seed_key.pem"), os.path.join(d, "key"))
        os.chmod(os.path.join(d, "key"), 0o600)
        with open(os.path.join(d, "cred"), "w") as f:
            f.write("seed-credential")
        os.chmod(os.path.join(d, "cred"), 0o600)
        with open(os.path.join(d, "p"), "w") as f:
            f.write(POLICY)
        up = ThreadingHTTPServer(("127.0.0.1", 0), Up)
        threading.Thread(target=up.serve_forever, daemon=True).start()
        port = up.server_address[1]
        log = os.path.join(d, "audit.log")

        r = Run(d, port, log)
        r.traffic()
        r.stop()
        one = open(log, "rb").read()
        write("intact_pubkey", 2, one)
        write("intact_named_key", 0, one)
        ls = lines(one)
        write("edited", 2, b"".join(ls[:3] + [ls[3].replace(b'"status":200', b'"status":500')] + ls[4:]))
        write("removed", 2, b"".join(ls[:4] + ls[5:]))
        write("inserted", 2, b"".join(ls[:6] + [ls[2]] + ls[6:]))
        write("reordered", 2, b"".join(ls[:4] + [ls[5], ls[4]] + ls[6:]))
        write("truncated", 2, b"".join(ls[:-1]))
        forged = list(ls)
        forged[3] = forged[3].replace(b'"status":200', b'"status":201')
        write("signature", 2, b"".join(rechain(forged, 4)))
        write("partial", 3, b"".join(ls[1:]))

        # a second run continues the chain; SIGUSR1 after a move rotates
        r = Run(d, port, log)
        r.traffic()
        os.rename(log, log + ".1")
        r.p.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        r.traffic()
        r.stop()
        a, b = open(log + ".1", "rb").read(), open(log, "rb").read()
        write("rotated", 2, a, b)
        write("rotated_out_of_order", 2, b, a)
        os.unlink(log + ".1")

        # a crash: kill -9, a line cut short, the restart's recover record
        r = Run(d, port, log)
        r.traffic()
        r.stop(signal.SIGKILL)
        with open(log, "ab") as f:
            f.write(b'{"v":1,"seq":77,"time":"2026')
        cut = open(log, "rb").read()
        write("cut_short", 3, cut)
        r = Run(d, port, log)
        r.traffic()
        r.stop()
        write("recovered", 3, open(log, "rb").read())
        up.shutdown()
    finally:
        shutil.rmtree(d, True)
    print("seeds written to", OUT)


if __name__ == "__main__":
    sys.exit(main())
