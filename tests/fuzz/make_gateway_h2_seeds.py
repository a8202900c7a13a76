#!/usr/bin/env python3
"""Write the seed corpus of fuzz_gateway_h2 (tests/fuzz/corpus/gateway_h2/):
one configuration byte (see the harness), then what a host sends on the
gateway's stdin.  Run from anywhere: python3 tests/fuzz/make_gateway_h2_seeds.py"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "gateway_h2")


def frame(t, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([t, flags]) + \
        struct.pack(">I", sid) + payload


def lit(name, value):
    name, value = name.encode(), value.encode()
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def headers(sid, fields, end_stream=False, end_headers=True):
    return frame(1, (4 if end_headers else 0) | (1 if end_stream else 0), sid,
                 b"".join(lit(n, v) for n, v in fields))


def data(sid, body, end=True, pad=None):
    if pad is not None:
        return frame(0, (1 if end else 0) | 8, sid, bytes([pad]) + body + b"\0" * pad)
    return frame(0, 1 if end else 0, sid, body)


SETTINGS = frame(4, 0, 0, struct.pack(">HI", 3, 4) + struct.pack(">HI", 2, 0))
ACK = frame(4, 1, 0)
OK = [(":status", "200"), ("content-type", "application/json")]


def cfg(nreq=2, post=False, cancel=False, body=2, chunk=0):
    return bytes([(nreq - 1) | (4 if post else 0) | (8 if cancel else 0) | (body << 4) | (chunk << 6)])


seeds = {
    "answer": cfg() + SETTINGS + ACK + headers(1, OK) + data(1, b'{"ok":true}') +
    headers(3, [(":status", "204")], end_stream=True),
    "answer_indexed_status": cfg(1) + SETTINGS + ACK + frame(1, 5, 1, b"\x88"),
    "answer_padded": cfg(1) + SETTINGS + ACK + headers(1, OK) + data(1, b"{}", pad=5),
    "indeterminate": cfg(1, post=True) + SETTINGS + ACK +
    headers(1, [(":status", "504"), ("content-type", "application/json"),
                ("x-paperclip-bridge-outcome", "indeterminate")]) +
    data(1, b'{"error":"x","outcome":"indeterminate","retryable":false}'),
    "informational_then_final": cfg(1) + SETTINGS + ACK +
    headers(1, [(":status", "103"), ("link", "</a>")]) + headers(1, OK, end_stream=True),
    "trailers": cfg(1) + SETTINGS + ACK + headers(1, OK) + data(1, b"x", end=False) +
    headers(1, [("x-trailer", "1")], end_stream=True),
    "rst_and_refused": cfg(2, post=True) + SETTINGS + ACK +
    frame(3, 0, 1, struct.pack(">I", 2)) + frame(3, 0, 3, struct.pack(">I", 7)),
    "goaway_below_stream": cfg(3) + SETTINGS + ACK + frame(7, 0, 0, struct.pack(">II", 1, 0)) +
    headers(1, OK, end_stream=True),
    "ping_and_window": cfg(1, post=True) + SETTINGS + ACK + frame(6, 0, 0, b"12345678") +
    frame(8, 0, 0, struct.pack(">I", 1000)) + frame(8, 0, 1, struct.pack(">I", 1000)) +
    headers(1, OK, end_stream=True),
    "zero_window": cfg(1, post=True) + frame(4, 0, 0, struct.pack(">HI", 4, 0)) + ACK +
    frame(8, 0, 1, struct.pack(">I", 5)),
    "continuation": cfg(1) + SETTINGS + ACK + headers(1, [(":status", "200")], end_headers=False) +
    frame(9, 0, 1, lit("x-a", "1")) + frame(9, 4, 1, lit("x-b", "2")) + data(1, b"ok"),
    "body_over_limit": cfg(1, body=1) + SETTINGS + ACK + headers(1, OK) + data(1, b"x" * 40),
    "content_length_lie": cfg(1) + SETTINGS + ACK +
    headers(1, [(":status", "200"), ("content-length", "99")]) + data(1, b"short"),
    "status_600": cfg(1) + SETTINGS + ACK + headers(1, [(":status", "600")], end_stream=True),
    "obs_text_value": cfg(1) + SETTINGS + ACK + frame(1, 5, 1, lit(":status", "200") +
                                                      b"\x00\x03x-a\x02\xc3\xa9"),
    "garbage": cfg(1) + b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    "host_stream": cfg(1) + SETTINGS + ACK + headers(2, [(":method", "GET"), (":path", "/")]),
    "byte_by_byte": cfg(2, chunk=1) + SETTINGS + ACK + headers(1, OK) + data(1, b"{}") +
    headers(3, OK, end_stream=True),
    "cancel_halfway": cfg(2, cancel=True, chunk=2) + SETTINGS + ACK + headers(1, OK) +
    data(1, b"{}") + headers(3, OK) + data(3, b"[]"),
    "no_body_limit_zero": cfg(4, body=0) + SETTINGS + ACK + headers(1, OK, end_stream=True) +
    headers(3, OK) + data(3, b"x") + headers(5, OK, end_stream=True),
}

os.makedirs(OUT, exist_ok=True)
for name, blob in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(blob)
print("%d seeds in %s" % (len(seeds), OUT))
