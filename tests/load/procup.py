#!/usr/bin/env python3
"""procup: a recording upstream in its own process, so a scenario can kill
it (SIGKILL: the kernel closes its connections) and start it again on
the same port.

    python3 procup.py PORT LOGFILE SLOW_SECONDS

Serves HTTP/1.1 keep-alive on 127.0.0.1:PORT (0: any; the port is printed
on stdout as "port N"), appends "METHOD PATH" to LOGFILE for every request
it has read, before it answers (an O_APPEND write survives a SIGKILL),
then answers 200 {"ok":true}, after SLOW_SECONDS when the path holds
/slow/.  ProcUpstream (below) is the scenario's handle on it."""

import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def serve(port, logfile, slow):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    fd = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _handle(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            os.write(fd, ("%s %s\n" % (self.command, self.path)).encode())
            if "/slow/" in self.path:
                time.sleep(slow)
            body = b'{"ok":true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    class S(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 1024

        def handle_error(self, request, client_address):
            pass

    srv = S(("127.0.0.1", port), H)
    print("port %d" % srv.server_address[1], flush=True)
    srv.serve_forever(poll_interval=0.05)


class _Rec:
    def __init__(self, method, path):
        self.method = method
        self.path = path


class ProcUpstream:
    """The handle: start(), kill() (SIGKILL, waits until it is gone),
    snapshot() (every request any incarnation read), url, port."""

    def __init__(self, tc, slow=0.3):
        import tempfile
        import shutil
        self.dir = tempfile.mkdtemp(prefix="keyhole-load-up-")
        tc.addCleanup(shutil.rmtree, self.dir, True)
        self.log = os.path.join(self.dir, "requests.log")
        self.slow = slow
        self.proc = None
        self.port = 0
        tc.addCleanup(self.kill)
        self.start()
        self.url = "http://127.0.0.1:%d" % self.port

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), str(self.port),
                                      self.log, str(self.slow)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(b"port "):
                self.port = int(line.split()[1])
                return
            if not line and self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("the upstream did not start (port %d): %r" % (self.port, line))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def snapshot(self):
        try:
            with open(self.log) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        return [_Rec(*ln.split(" ", 1)) for ln in lines if " " in ln]

    def count(self):
        return len(self.snapshot())


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
