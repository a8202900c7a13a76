#!/usr/bin/env python3
"""Write the seed corpus of fuzz_h2_session.c (tests/fuzz/corpus/h2_session/):
HTTP/2 client byte streams as a gateway sends them after its READY line,
frames built by hand (the same encoder as the hostile gateway of the
integration tests).  Each seed starts with the harness's configuration
byte.  Files it does not name are left alone.

    python3 tests/fuzz/make_h2_seeds.py
"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("PAPERCLIP_BRIDGE_TOKEN", "fuzz-bridge-token-0123456789")
sys.argv = [sys.argv[0], "none"]
import h2_hostile_gateway as g  # noqa: E402

TOKEN = "fuzz-bridge-token-0123456789"
PREFACE = g.PREFACE + g.frame(g.SETTINGS, 0, 0)
EH, ES = g.END_HEADERS, g.END_STREAM


def req(sid, method="GET", path="/api/agents/me", token=TOKEN, extra=b"", end=True):
    return g.frame(g.HEADERS, EH | (ES if end else 0), sid,
                   g.request_block(method, path, token, extra))


def data(sid, body, end=True):
    return g.frame(g.DATA, ES if end else 0, sid, body)


ct = g.lit("content-type", "application/json")
seeds = {
    "get": b"\x00" + PREFACE + req(1),
    "get_prefaced": b"\x01" + req(1),
    "get_answered": b"\x09" + req(1) + req(3, path="/api/issues/ISS-1"),
    "post_json": b"\x09" + req(1, "POST", "/api/issues/ISS-1/comments", extra=ct, end=False) +
                 data(1, b'{"body":"hi"}'),
    "post_bad_keys": b"\x01" + req(1, "POST", "/api/issues/ISS-1/comments", extra=ct, end=False) +
                     data(1, b'{"nope":1}'),
    "post_too_large": b"\x01" + req(1, "POST", "/api/small", extra=ct, end=False) +
                      data(1, b'{"a":"' + b"x" * 100 + b'"}'),
    "bad_token": b"\x01" + req(1, token="wrong"),
    "denied": b"\x01" + req(1, "DELETE", "/api/issues/x"),
    "dotdot": b"\x01" + req(1, path="/api/issues/a/../b"),
    "query": b"\x01" + req(1, path="/api/issues/x?a=b&c=%2F"),
    "pieces_1": b"\x03" + req(1) + req(3),
    "pieces_9": b"\x05" + req(1, "PATCH", "/api/issues/I", extra=ct, end=False) + data(1, b"{}"),
    "shutdown_half": b"\x11" + req(1) + req(3) + req(5) + req(7),
    "rst": b"\x01" + req(1) + g.frame(g.RST, 0, 1, struct.pack(">I", 8)),
    "ping": b"\x01" + g.frame(g.PING, 0, 0, b"12345678"),
    "settings": b"\x01" + g.frame(g.SETTINGS, 0, 0, struct.pack(">HI", 4, 0)),
    "window_update": b"\x01" + g.frame(g.WINUP, 0, 0, struct.pack(">I", 1000)),
    "continuation": b"\x01" + g.frame(g.HEADERS, 0, 1, g.request_block()) +
                    g.frame(g.CONT, EH | 0, 1, g.lit("accept", "*/*")),
    "hpack_indexed": b"\x01" + g.frame(g.HEADERS, EH | ES, 1, g.request_block() +
                                       g.lit("x-big", "b" * 300, index=True) + b"\xbe" * 100),
    "goaway": b"\x01" + g.frame(g.GOAWAY, 0, 0, struct.pack(">II", 0, 0)),
    "oversized": b"\x01" + g.frame(g.DATA, 0, 1, b"", length=1 << 20),
    "trailers": b"\x09" + req(1, "POST", "/api/issues/ISS-1/comments", extra=ct, end=False) +
                data(1, b'{"body":"x"}', end=False) +
                g.frame(g.HEADERS, EH | ES, 1, g.lit("x-trailer", "t")),
}
d = os.path.join(HERE, "corpus", "h2_session")
os.makedirs(d, exist_ok=True)
for k, v in seeds.items():
    with open(os.path.join(d, k), "wb") as f:
        f.write(v)
