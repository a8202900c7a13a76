#!/usr/bin/env python3
"""A tiny stand-in for the Paperclip API, for the demo.

Listens on 127.0.0.1:PORT (argv[1]; 0 picks one, printed on stdout).  It
answers every request with JSON saying what it received, and whether the
Authorization header carried the real credential (env DEMO_CREDENTIAL).
It never echoes the credential itself.
"""
import http.server
import json
import os
import sys

CRED = os.environ.get("DEMO_CREDENTIAL", "")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        auth = self.headers.get("authorization", "")
        out = {
            "upstreamSaw": {
                "method": self.command,
                "path": self.path,
                "credentialInjected": auth == "Bearer " + CRED,
                "runId": self.headers.get("x-paperclip-run-id"),
                "headers": sorted(k.lower() for k in self.headers.keys()),
                "body": body.decode("utf-8", "replace"),
            }
        }
        data = json.dumps(out).encode()
        status = 200 if auth == "Bearer " + CRED else 401
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("set-cookie", "session=upstream-only")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
