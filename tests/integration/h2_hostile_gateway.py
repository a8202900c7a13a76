#!/usr/bin/env python3
"""A gateway that attacks keyhole's http2_v1 host side, for
test_connect_abuse.py.  Raw HTTP/2 frames written by hand (no h2 library
offline); it never needs to decode keyhole's answers.  Run as the
--connect command: stdout is keyhole-net's fd 19, stdin its fd 20.

  python3 h2_hostile_gateway.py MODE

Every mode first reads its environment as Paperclip's gateway does, then
misbehaves; afterwards it keeps reading (and dropping) what keyhole sends
until EOF, so only keyhole decides when the session ends."""

import os
import struct
import sys
import threading
import time

MODE = sys.argv[1]
NONCE = os.environ.get("PAPERCLIP_BRIDGE_NONCE", "")
TOKEN = os.environ.get("PAPERCLIP_BRIDGE_TOKEN", "")
out = sys.stdout.buffer
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINUP, CONT = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(ftype, flags, sid, payload=b"", length=None):
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hint(v, prefix, first=0):
    """HPACK integer with an N-bit prefix."""
    top = (1 << prefix) - 1
    if v < top:
        return bytes([first | v])
    b = [first | top]
    v -= top
    while v >= 128:
        b.append((v & 127) | 128)
        v >>= 7
    b.append(v)
    return bytes(b)


def lit(name, value, index=False):
    """A literal field with a new name (no Huffman); index: add it to the
    dynamic table (incremental indexing)."""
    name, value = name.encode(), value.encode() if isinstance(value, str) else value
    return (hint(0, 6, 0x40) if index else b"\x00") + hint(len(name), 7) + name + \
        hint(len(value), 7) + value


def request_block(method="GET", path="/api/agents/me", token=None, extra=b""):
    return (lit(":method", method) + lit(":scheme", "http") + lit(":path", path) +
            lit(":authority", "bridge.internal:80") +
            lit("authorization", "Bearer " + (TOKEN if token is None else token)) + extra)


def write(b):
    out.write(b)
    out.flush()


def ready(nonce=None):
    write(b'{"version":2,"type":"ready","nonce":"%s"}\n' % (NONCE if nonce is None
                                                           else nonce).encode())


def start():
    ready()
    write(PREFACE + frame(SETTINGS, 0, 0))


def drain_stdin():
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass


def main():
    if MODE == "garbage":
        write(os.urandom(100) + b"\n" + bytes(range(32, 127)) * 1000)
        write(b"x" * 70000)
    elif MODE == "wrong_nonce":
        write(b"login banner\n")
        ready("0" * 32 if NONCE != "0" * 32 else "1" * 32)
    elif MODE == "no_preface":
        ready()
        write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    elif MODE == "oversized_frame":
        start()
        write(frame(DATA, 0, 1, b"", length=1 << 20) + b"\0" * 65536)
    elif MODE == "rapid_reset":
        start()
        blk = request_block()
        buf = b""
        for i in range(2000):
            sid = 2 * i + 1
            buf += frame(HEADERS, END_HEADERS | END_STREAM, sid, blk)
            buf += frame(RST, 0, sid, struct.pack(">I", 8))   # CANCEL
        write(buf)
    elif MODE in ("settings_flood", "ping_flood"):
        start()
        f = (frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535)) if MODE == "settings_flood"
             else frame(PING, 0, 0, b"12345678"))
        # Never read keyhole's ACKs: they pile up on its side.
        threading.Thread(target=lambda: (time.sleep(30), drain_stdin()), daemon=True).start()
        try:
            for _ in range(200):
                write(f * 1000)
        except BrokenPipeError:
            return
        time.sleep(5)
        return
    elif MODE == "continuation_flood":
        start()
        blk = request_block()
        write(frame(HEADERS, 0, 1, blk))
        try:
            for _ in range(100000):
                write(frame(CONT, 0, 1, lit("x-pad", "p" * 100)))
        except BrokenPipeError:
            return
    elif MODE == "hpack_bomb":
        start()
        # One 4000-byte field into the dynamic table, then referenced by
        # one byte (index 62) thousands of times: 16 KiB of frame, ~60 MB
        # of decoded header list.
        blk = request_block() + lit("x-big", "b" * 4000, index=True)
        blk += b"\xbe" * (16000 - len(blk))
        write(frame(HEADERS, END_HEADERS | END_STREAM, 1, blk))
        # Then an honest request on the same session.
        write(frame(HEADERS, END_HEADERS | END_STREAM, 3, request_block()))
    elif MODE == "zero_window":
        ready()
        write(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0)))
        write(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block()))
        # Read (and drop) what comes, never open a window.
    elif MODE == "bad_token":
        start()
        write(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block(token="nope")))
        write(frame(HEADERS, END_HEADERS | END_STREAM, 3,
                    request_block(path="/api/issues/x/../../admin")))
    elif MODE == "silent":
        pass
    drain_stdin()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
