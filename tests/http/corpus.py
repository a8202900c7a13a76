#!/usr/bin/env python3
"""keyhole's HTTP/1.1 request corpus: raw requests and what must happen.

Every vector is a byte-exact request (or several, pipelined) and its
expected outcome:

  statuses   the status of every response keyhole writes, in order
             (a 100 Continue is listed as 100)
  forwarded  what the upstream must receive for it, in order: exact
             method, canonical path, query (None = no '?') and body bytes.
             Nothing else may reach the upstream.
  close      keyhole closes the connection after the last response (and
             says `connection: close` on it); otherwise the connection
             stays usable
  half_close the client shuts its write side after sending (a request cut
             short, or a complete one followed by EOF)

The bytes are fixed: the bridge token (TOKEN) is a constant that the
corpus test gives keyhole, and keyhole runs with POLICY and ARGS below.

    python3 tests/http/corpus.py --summary     counts per category
    python3 tests/http/corpus.py --json        the expected-outcome table
                                               (raw bytes as latin-1 text)
    python3 tests/http/corpus.py --write DIR   one DIR/NNN-name.http file
                                               per vector + DIR/expected.json

tests/integration/test_http_corpus.py sends every vector to the real
keyhole, whole and split into one-byte writes, and checks both the
responses and what the recording upstream received.
"""

import json
import os
import sys

TOKEN = b"KHTOKEN-corpus-7f3a9c21e4b86d05"
AUTH = b"Authorization: Bearer " + TOKEN
HOST = b"Host: 127.0.0.1"
CT = b"Content-Type: application/json"

# keyhole options for the corpus run: a small body limit keeps the 413
# vectors small; everything else is the default (max-head 16384,
# max-headers 64, KH_PATH_MAX/KH_QUERY_MAX 4096, names 64, values 8192).
MAX_BODY = 4096
ARGS = ["--max-body", str(MAX_BODY)]

# Allows every route an accept vector uses, and broad patterns so that a
# path trick is stopped by the canonical-path rules (400), never merely by
# the policy (403).
POLICY = """\
# keyhole HTTP corpus policy
allow GET     /api/agents/me
allow HEAD    /api/agents/me
allow OPTIONS /api/agents/me
allow GET     /api/issues/*/comments
allow POST    /api/issues/*/comments
allow PATCH   /api/issues/*
allow PUT     /api/issues/*/documents/*
allow DELETE  /api/issues/*/comments/*
allow GET     /api/*
allow GET     /api/*/*
allow GET     /api/*/*/*
allow GET     /api/*/*/*/*
allow POST    /api/issues/*/accept
allow POST    /api/issues/*/interactions/*
allow POST    /api/issues/*/interactions/*/*
allow GET     /etc/passwd
allow GET     /admin
"""

# The request the corpus test sends after each vector (same connection if
# it stayed open, else a new one).
SENTINEL_PATH = "/api/agents/me"


def sentinel(n):
    return (b"GET /api/agents/me?sentinel=%d HTTP/1.1\r\n" % n + HOST + b"\r\n" +
            AUTH + b"\r\n\r\n")


class Fwd:
    """One request as the upstream must receive it."""

    def __init__(self, method, path, query=None, body=b""):
        self.method = method
        self.path = path
        self.query = query
        self.body = body

    def target(self):
        return self.path + ("?" + self.query if self.query is not None else "")

    def to_json(self):
        return {"method": self.method, "path": self.path, "query": self.query,
                "body": self.body.decode("latin-1")}


class Vec:
    def __init__(self, name, category, raw, statuses, forwarded=(), close=False,
                 half_close=False, head=False, http10=False, error403=None):
        self.name = name
        self.category = category
        self.raw = raw
        self.statuses = list(statuses)
        self.forwarded = list(forwarded)
        self.close = close
        self.half_close = half_close
        self.head = head            # the last request is a HEAD: no body
        self.http10 = http10        # the last request is HTTP/1.0
        self.error403 = error403    # (method, path) named by a 403 body

    def to_json(self):
        return {"name": self.name, "category": self.category,
                "raw": self.raw.decode("latin-1"), "statuses": self.statuses,
                "forwarded": [f.to_json() for f in self.forwarded],
                "close": self.close, "half_close": self.half_close,
                "head": self.head, "http10": self.http10,
                "error403": list(self.error403) if self.error403 else None}


VECTORS = []


def req(line, *fields, body=b"", auth=True, host=True):
    """line + Host + Authorization + fields, all CRLF-terminated, a blank
    line, then body.  Everything is bytes, so the result is exact."""
    lines = [line]
    if host:
        lines.append(HOST)
    if auth:
        lines.append(AUTH)
    lines += list(fields)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def post(path=b"/api/issues/BRI-7/comments", *fields, body=b'{"a":1}', length=True,
         ct=True, version=b"HTTP/1.1"):
    f = []
    if ct:
        f.append(CT)
    if length:
        f.append(b"Content-Length: %d" % len(body))
    return req(b"POST " + path + b" " + version, *(f + list(fields)), body=body)


def chunked(body_wire, *fields, path=b"/api/issues/BRI-7/comments"):
    return req(b"POST " + path + b" HTTP/1.1", CT, b"Transfer-Encoding: chunked",
               *fields, body=body_wire)


def get(path=b"/api/agents/me", *fields, version=b"HTTP/1.1", **kw):
    return req(b"GET " + path + b" " + version, *fields, **kw)


def ok(name, cat, raw, *fwd, statuses=None, close=False, **kw):
    fwd = list(fwd)
    VECTORS.append(Vec(name, cat, raw, statuses or [200] * len(fwd), fwd,
                       close=close, **kw))


def bad(name, cat, raw, status, close=True, **kw):
    VECTORS.append(Vec(name, cat, raw, [status], [], close=close, **kw))


ME = Fwd("GET", "/api/agents/me")
BODY = b'{"a":1}'
COMMENT = Fwd("POST", "/api/issues/BRI-7/comments", body=BODY)

# ---------------------------------------------------------------------------
# baseline: what a Paperclip agent sends

cat = "baseline"
ok("get_simple", cat, get(), ME)
ok("get_query", cat, get(b"/api/issues/BRI-7/comments?after=c-12&limit=10"),
   Fwd("GET", "/api/issues/BRI-7/comments", "after=c-12&limit=10"))
ok("get_empty_query", cat, get(b"/api/agents/me?"), Fwd("GET", "/api/agents/me", ""))
ok("get_accept_header", cat, get(b"/api/agents/me", b"Accept: application/json"), ME)
ok("head_allowed", cat, req(b"HEAD /api/agents/me HTTP/1.1"),
   Fwd("HEAD", "/api/agents/me"), head=True)
ok("options_allowed", cat, req(b"OPTIONS /api/agents/me HTTP/1.1"),
   Fwd("OPTIONS", "/api/agents/me"))
ok("post_json", cat, post(body=b'{"body":"Done: tests pass."}'),
   Fwd("POST", "/api/issues/BRI-7/comments", body=b'{"body":"Done: tests pass."}'))
ok("post_json_charset", cat,
   req(b"POST /api/issues/BRI-7/comments HTTP/1.1",
       b"Content-Type: application/json; charset=utf-8", b"Content-Length: 7", body=BODY),
   COMMENT)
ok("patch_json", cat, req(b"PATCH /api/issues/BRI-7 HTTP/1.1", CT, b"Content-Length: 20",
                          body=b'{"status":"in_done"}'),
   Fwd("PATCH", "/api/issues/BRI-7", body=b'{"status":"in_done"}'))
ok("put_json", cat, req(b"PUT /api/issues/BRI-7/documents/plan HTTP/1.1", CT,
                        b"Content-Length: 7", body=BODY),
   Fwd("PUT", "/api/issues/BRI-7/documents/plan", body=BODY))
ok("delete_no_body", cat, req(b"DELETE /api/issues/BRI-7/comments/c-1 HTTP/1.1"),
   Fwd("DELETE", "/api/issues/BRI-7/comments/c-1"))
ok("delete_json_body", cat, req(b"DELETE /api/issues/BRI-7/comments/c-1 HTTP/1.1", CT,
                                b"Content-Length: 2", body=b"{}"),
   Fwd("DELETE", "/api/issues/BRI-7/comments/c-1", body=b"{}"))
ok("post_no_body_framing", cat, req(b"POST /api/issues/BRI-7/comments HTTP/1.1"),
   Fwd("POST", "/api/issues/BRI-7/comments"))
ok("post_content_length_zero", cat,
   req(b"POST /api/issues/BRI-7/comments HTTP/1.1", b"Content-Length: 0"),
   Fwd("POST", "/api/issues/BRI-7/comments"))
ok("post_chunked", cat, chunked(b"3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n"), COMMENT)
ok("body_at_max_body", cat,
   post(body=b'{"b":"' + b"x" * (MAX_BODY - 8) + b'"}'),
   Fwd("POST", "/api/issues/BRI-7/comments", body=b'{"b":"' + b"x" * (MAX_BODY - 8) + b'"}'))
ok("connection_close", cat, get(b"/api/agents/me", b"Connection: close"), ME, close=True)
ok("connection_close_in_list", cat, get(b"/api/agents/me", b"Connection: keep-alive, close"),
   ME, close=True)
ok("connection_close_upper", cat, get(b"/api/agents/me", b"Connection: CLOSE"), ME, close=True)
ok("connection_unknown_token", cat, get(b"/api/agents/me", b"Connection: foo"), ME)
ok("connection_upgrade_without_upgrade", cat, get(b"/api/agents/me", b"Connection: Upgrade"), ME)
ok("value_ows_trimmed", cat,
   req(b"POST /api/issues/BRI-7/comments HTTP/1.1", b"Content-Type: \t application/json \t",
       b"Content-Length:\t7\t", body=BODY), COMMENT)
ok("empty_unforwarded_value", cat, get(b"/api/agents/me", b"X-Empty:"), ME)
ok("unknown_headers_dropped", cat,
   get(b"/api/agents/me", b"X-Forwarded-For: 10.0.0.1", b"Cookie: a=b",
       b"Accept-Encoding: gzip", b"Proxy-Authorization: Basic eA=="), ME)

# ---------------------------------------------------------------------------
# bridge gate: token, policy, content type, JSON

cat = "gate"
bad("token_missing", cat, get(auth=False), 401, close=False)
bad("token_wrong", cat, get(b"/api/agents/me", b"Authorization: Bearer KHTOKEN-corpus-wrong",
                            auth=False), 401, close=False)
bad("token_twice", cat, get(b"/api/agents/me", AUTH), 401, close=False)
bad("token_basic_scheme", cat,
    get(b"/api/agents/me", b"Authorization: Basic " + TOKEN, auth=False), 401, close=False)
bad("token_two_spaces", cat,
    get(b"/api/agents/me", b"Authorization: Bearer  " + TOKEN, auth=False), 401, close=False)
ok("token_scheme_lowercase", cat,
   get(b"/api/agents/me", b"authorization: bearer " + TOKEN, auth=False), ME)
ok("token_trailing_ows", cat, get(b"/api/agents/me", AUTH + b" \t", auth=False), ME)
bad("token_missing_with_body_closes", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT, b"Content-Length: 7",
        auth=False, body=BODY), 401)
bad("route_denied", cat, get(b"/private/keys"), 403, close=False,
    error403=("GET", "/private/keys"))
bad("method_denied", cat, req(b"DELETE /api/agents/me HTTP/1.1"), 403, close=False,
    error403=("DELETE", "/api/agents/me"))
bad("route_denied_trailing_slash", cat, get(b"/api/agents/me/"), 403, close=False,
    error403=("GET", "/api/agents/me/"))
bad("route_denied_with_body_closes", cat,
    req(b"POST /api/agents/me HTTP/1.1", CT, b"Content-Length: 7", body=BODY), 403,
    error403=("POST", "/api/agents/me"))
bad("body_not_json_type", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.1", b"Content-Type: text/plain",
        b"Content-Length: 5", body=b"hello"), 415)
bad("body_without_type", cat, post(ct=False), 415)
bad("body_type_jsonx", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.1", b"Content-Type: application/jsonx",
        b"Content-Length: 7", body=BODY), 415)
bad("body_invalid_json", cat, post(body=b'{"a":'), 400, close=False)
bad("forwarded_header_twice", cat,
    get(b"/api/agents/me", b"Accept: application/json", b"Accept: text/html"), 400,
    close=False)

# ---------------------------------------------------------------------------
# Content-Length

cat = "content-length"
bad("cl_duplicate_equal", cat, post(b"/api/issues/BRI-7/comments", b"Content-Length: 7"), 400)
bad("cl_duplicate_different", cat, post(b"/api/issues/BRI-7/comments", b"Content-Length: 8"), 400)
bad("cl_duplicate_case", cat, post(b"/api/issues/BRI-7/comments", b"content-length: 7"), 400)
for label, v in [("list", b"7, 7"), ("list_no_space", b"7,7"), ("trailing_comma", b"7,"),
                 ("plus", b"+7"), ("minus", b"-7"), ("hex", b"0x7"), ("hex_digits", b"7a"),
                 ("exponent", b"7e0"), ("decimal", b"7.0"), ("inner_space", b"7 7"),
                 ("empty", b""), ("letters", b"seven"), ("quoted", b'"7"'),
                 ("overflow_u64", b"18446744073709551616"),
                 ("overflow_long", b"99999999999999999999999999")]:
    bad("cl_" + label, cat, post(b"/api/issues/BRI-7/comments", b"Content-Length: " + v,
                                 length=False), 400)
bad("cl_obs_text_digit", cat, post(b"/api/issues/BRI-7/comments",
                                   b"Content-Length: \xd9\xa7", length=False), 400)
bad("cl_max_u64_is_413", cat, post(b"/api/issues/BRI-7/comments",
                                   b"Content-Length: 18446744073709551615", length=False), 413)
bad("cl_over_max_body_413", cat, post(b"/api/issues/BRI-7/comments",
                                      b"Content-Length: %d" % (MAX_BODY + 1), length=False), 413)
bad("cl_huge_413", cat, post(b"/api/issues/BRI-7/comments", b"Content-Length: 1073741824",
                             length=False), 413)
ok("cl_leading_zeros", cat, post(b"/api/issues/BRI-7/comments", b"Content-Length: 0007",
                                 length=False), COMMENT)
bad("cl_on_get", cat, get(b"/api/agents/me", b"Content-Length: 2", body=b"{}"), 400)
ok("cl_zero_on_get", cat, get(b"/api/agents/me", b"Content-Length: 0"), ME)
bad("cl_on_head", cat, req(b"HEAD /api/agents/me HTTP/1.1", b"Content-Length: 2", body=b"{}"),
    400, head=True)
ok("cl_shorter_than_data_is_pipelining", cat,
   post(b"/api/issues/BRI-7/comments", body=BODY) + get(),
   COMMENT, ME)
VECTORS.append(Vec("cl_body_cut_short", cat,
                   post(b"/api/issues/BRI-7/comments", b"Content-Length: 20", length=False),
                   [], [], close=True, half_close=True))
# Content_Length is just an unknown field: no body, and the bytes after
# the head are the next "request".
VECTORS.append(Vec("cl_underscore_name_is_not_cl", cat,
                   req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT, b"Content_Length: 7",
                       body=BODY + b"\r\n\r\n"),
                   [200, 400], [Fwd("POST", "/api/issues/BRI-7/comments")], close=True))

# ---------------------------------------------------------------------------
# Content-Length together with Transfer-Encoding, in every spelling

cat = "cl-te"
CHUNKED_BODY = b"7\r\n{\"a\":1}\r\n0\r\n\r\n"
for label, fields in [
        ("cl_then_te", [b"Content-Length: 18", b"Transfer-Encoding: chunked"]),
        ("te_then_cl", [b"Transfer-Encoding: chunked", b"Content-Length: 18"]),
        ("cl_zero_te", [b"Content-Length: 0", b"Transfer-Encoding: chunked"]),
        ("cl_te_lowercase", [b"content-length: 18", b"transfer-encoding: chunked"]),
        ("cl_te_uppercase", [b"CONTENT-LENGTH: 18", b"TRANSFER-ENCODING: CHUNKED"]),
        ("cl_te_ows", [b"Content-Length: 18", b"Transfer-Encoding:\t chunked \t"]),
        ("cl_te_space_before_colon", [b"Content-Length: 18", b"Transfer-Encoding : chunked"]),
        ("cl_te_tab_before_colon", [b"Content-Length: 18", b"Transfer-Encoding\t: chunked"]),
        ("cl_te_obs_fold", [b"Content-Length: 18", b"Transfer-Encoding:", b" chunked"]),
        ("cl_te_list", [b"Content-Length: 18", b"Transfer-Encoding: chunked, identity"]),
        ("cl_te_identity", [b"Content-Length: 18", b"Transfer-Encoding: identity"]),
        ("cl_te_vtab", [b"Content-Length: 18", b"Transfer-Encoding:\x0bchunked"]),
        ("cl_te_two_te_lines", [b"Content-Length: 18", b"Transfer-Encoding: chunked",
                                b"Transfer-Encoding: chunked"]),
        ("cl_te_hidden_in_fold", [b"X-Pad: a", b" Transfer-Encoding: chunked",
                                  b"Content-Length: 18"]),
]:
    bad(label, cat, req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT, *fields,
                        body=CHUNKED_BODY), 400)
bad("cl_te_http10", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.0", CT, b"Content-Length: 18",
        b"Transfer-Encoding: chunked", body=CHUNKED_BODY), 400, http10=True)
bad("cl_te_smuggled_get", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT, b"Content-Length: 4",
        b"Transfer-Encoding: chunked",
        body=b"7\r\n{\"a\":1}\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 400)
bad("te_cl_smuggled_get", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT, b"Transfer-Encoding: chunked",
        b"Content-Length: 60",
        body=b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: 127.0.0.1\r\n" + AUTH + b"\r\n\r\n"), 400)

# ---------------------------------------------------------------------------
# Transfer-Encoding other than one plain `chunked`

cat = "transfer-encoding"
for label, v in [("identity", b"identity"), ("gzip", b"gzip"), ("gzip_chunked", b"gzip, chunked"),
                 ("chunked_identity", b"chunked, identity"),
                 ("identity_chunked", b"identity, chunked"),
                 ("chunked_chunked", b"chunked, chunked"), ("quoted", b'"chunked"'),
                 ("suffix", b"chunkedx"), ("prefix", b"xchunked"), ("truncated", b"chunk"),
                 ("parameter", b"chunked;q=1"), ("empty", b""), ("comma_only", b","),
                 ("trailing_comma", b"chunked,"), ("leading_comma", b", chunked"),
                 ("vtab", b"\x0bchunked"), ("formfeed", b"chunked\x0c"),
                 ("inner_space", b"chun ked"), ("obs_text", b"chunked\xa0")]:
    bad("te_" + label, cat, req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT,
                                b"Transfer-Encoding: " + v, body=CHUNKED_BODY), 400)
bad("te_two_lines", cat, chunked(CHUNKED_BODY, b"Transfer-Encoding: chunked"), 400)
bad("te_two_lines_identity", cat, chunked(CHUNKED_BODY, b"Transfer-Encoding: identity"), 400)
bad("te_space_before_colon", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT, b"Transfer-Encoding : chunked",
        body=CHUNKED_BODY), 400)
bad("te_obs_fold", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT, b"Transfer-Encoding:", b"\tchunked",
        body=CHUNKED_BODY), 400)
bad("te_http10", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.0", CT, b"Transfer-Encoding: chunked",
        body=CHUNKED_BODY), 400, http10=True)
bad("te_on_get", cat, get(b"/api/agents/me", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
    400)
bad("te_on_head", cat, req(b"HEAD /api/agents/me HTTP/1.1", b"Transfer-Encoding: chunked",
                           body=b"0\r\n\r\n"), 400, head=True)
VECTORS.append(Vec("te_underscore_name_no_body", cat,
                   req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT,
                       b"Transfer_Encoding: chunked", body=b"0\r\n\r\n"),
                   [200, 400], [Fwd("POST", "/api/issues/BRI-7/comments")], close=True))
ok("te_case_insensitive", cat,
   req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT, b"transfer-encoding: Chunked",
       body=CHUNKED_BODY), COMMENT)
ok("te_ows_tab", cat,
   req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT, b"Transfer-Encoding:\tchunked\t",
       body=CHUNKED_BODY), COMMENT)

# ---------------------------------------------------------------------------
# chunk sizes

cat = "chunk-size"
for label, size in [("0x_prefix", b"0x7"), ("plus", b"+7"), ("minus", b"-7"),
                    ("leading_space", b" 7"), ("trailing_space", b"7 "),
                    ("trailing_tab", b"7\t"), ("empty", b""), ("non_hex", b"g"),
                    ("17_digits", b"00000000000000007"), ("underscore", b"0_7"),
                    ("decimal_point", b"7.0")]:
    bad("size_" + label, cat, chunked(size + b"\r\n{\"a\":1}\r\n0\r\n\r\n"), 400)
bad("size_overflow_over_max_body", cat,
    chunked(b"ffffffffffffffff\r\n{\"a\":1}\r\n0\r\n\r\n"), 413)
bad("size_over_max_body", cat, chunked(b"%x\r\n" % (MAX_BODY + 1) + b"{" * 10), 413)
bad("size_cumulative_over_max_body", cat,
    chunked((b"800\r\n" + b" " * 0x800 + b"\r\n") * 2 + b"1\r\n \r\n0\r\n\r\n"), 413)
ok("size_uppercase_hex", cat, chunked(b"A\r\n{\"a\":1234}\r\n0\r\n\r\n"),
   Fwd("POST", "/api/issues/BRI-7/comments", body=b'{"a":1234}'))
ok("size_lowercase_hex", cat, chunked(b"a\r\n{\"a\":1234}\r\n0\r\n\r\n"),
   Fwd("POST", "/api/issues/BRI-7/comments", body=b'{"a":1234}'))
ok("size_leading_zeros_16_digits", cat,
   chunked(b"0000000000000007\r\n{\"a\":1}\r\n0000\r\n\r\n"), COMMENT)
ok("size_one_byte_chunks", cat,
   chunked(b"".join(b"1\r\n" + bytes([b]) + b"\r\n" for b in BODY) + b"0\r\n\r\n"), COMMENT)
ok("size_exactly_max_body", cat,
   chunked(b"%x\r\n" % MAX_BODY + b'{"b":"' + b"x" * (MAX_BODY - 8) + b'"}' + b"\r\n0\r\n\r\n"),
   Fwd("POST", "/api/issues/BRI-7/comments", body=b'{"b":"' + b"x" * (MAX_BODY - 8) + b'"}'))
bad("size_data_longer_than_size", cat, chunked(b"6\r\n{\"a\":1}\r\n0\r\n\r\n"), 400)
bad("size_data_shorter_than_size", cat, chunked(b"8\r\n{\"a\":1}\r\n0\r\n\r\n"), 400)

# ---------------------------------------------------------------------------
# chunk extensions

cat = "chunk-ext"
for label, ext in [("name", b";a"), ("name_value", b";a=b"), ("quoted", b';a="b c"'),
                   ("quoted_escape", b';a="b\\"c"'), ("several", b";a;b=c;d=\"e\"")]:
    ok("ext_" + label, cat, chunked(b"7" + ext + b"\r\n{\"a\":1}\r\n0" + ext + b"\r\n\r\n"),
       COMMENT)
for label, ext in [("space_before", b" ;a"), ("space_after_semicolon", b"; a"),
                   ("empty_name", b";"), ("empty_value", b";a="), ("space_around_eq", b";a = b"),
                   ("unterminated_quote", b';a="b'), ("bad_name", b";a@b"),
                   ("value_space", b";a=b c"), ("control", b";a=\x01"),
                   ("after_quote", b';a="b"c'), ("obs_text", b";a=\xff"),
                   ("too_long", b";a=" + b"x" * 1100)]:
    bad("ext_" + label, cat, chunked(b"7" + ext + b"\r\n{\"a\":1}\r\n0\r\n\r\n"), 400)

# ---------------------------------------------------------------------------
# chunk line and body terminators

cat = "chunk-term"
for label, wire in [("size_bare_lf", b"7\n{\"a\":1}\r\n0\r\n\r\n"),
                    ("size_bare_cr", b"7\r{\"a\":1}\r\n0\r\n\r\n"),
                    ("data_bare_lf", b"7\r\n{\"a\":1}\n0\r\n\r\n"),
                    ("data_no_crlf", b"7\r\n{\"a\":1}0\r\n\r\n"),
                    ("data_cr_only", b"7\r\n{\"a\":1}\r0\r\n\r\n"),
                    ("last_bare_lf", b"7\r\n{\"a\":1}\r\n0\n\n"),
                    ("last_then_bare_lf", b"7\r\n{\"a\":1}\r\n0\r\n\n"),
                    ("nul_in_size", b"7\x00\r\n{\"a\":1}\r\n0\r\n\r\n"),
                    ("last_chunk_then_request",
                     b"7\r\n{\"a\":1}\r\n0\r\nGET /admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")]:
    bad("term_" + label, cat, chunked(wire), 400)
VECTORS.append(Vec("term_missing_last_chunk", cat, chunked(b"7\r\n{\"a\":1}\r\n"), [], [],
                   close=True, half_close=True))
ok("term_complete_then_pipelined", cat, chunked(CHUNKED_BODY) + get(), COMMENT, ME)

# ---------------------------------------------------------------------------
# trailers: valid ones are discarded, never merged; invalid ones refused

cat = "trailers"
for label, tr in [("one", b"X-Checksum: abc\r\n"), ("two", b"X-A: 1\r\nX-B: 2\r\n"),
                  ("content_length", b"Content-Length: 100\r\n"),
                  ("transfer_encoding", b"Transfer-Encoding: chunked\r\n"),
                  ("host", b"Host: evil.example\r\n"),
                  ("authorization", b"Authorization: Bearer other\r\n"),
                  ("empty_value", b"X-A:\r\n")]:
    ok("trailer_" + label, cat, chunked(b"7\r\n{\"a\":1}\r\n0\r\n" + tr + b"\r\n"), COMMENT)
for label, tr in [("obs_fold", b"X-A: 1\r\n 2\r\n"), ("space_before_colon", b"X-A : 1\r\n"),
                  ("no_colon", b"X-A\r\n"), ("empty_name", b": 1\r\n"),
                  ("bare_lf", b"X-A: 1\n"), ("control_in_value", b"X-A: 1\x01\r\n"),
                  ("nul_in_value", b"X-A: 1\x00\r\n"), ("obs_text", b"X-A: \xe9\r\n"),
                  ("request_line", b"GET /admin HTTP/1.1\r\n")]:
    bad("trailer_" + label, cat, chunked(b"7\r\n{\"a\":1}\r\n0\r\n" + tr + b"\r\n"), 400)
bad("trailer_too_many", cat,
    chunked(b"7\r\n{\"a\":1}\r\n0\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(65)) +
            b"\r\n"), 431)
bad("trailer_value_too_long", cat,
    chunked(b"7\r\n{\"a\":1}\r\n0\r\nX-A: " + b"v" * 8193 + b"\r\n\r\n"), 431)

# ---------------------------------------------------------------------------
# bare LF, bare CR, NUL, DEL and other controls in every part of the head

cat = "head-bytes"
parts = {
    "method": lambda b: req(b"G" + b + b"ET /api/agents/me HTTP/1.1"),
    "target": lambda b: req(b"GET /api/agents/" + b + b"me HTTP/1.1"),
    "query": lambda b: req(b"GET /api/agents/me?a=" + b + b" HTTP/1.1"),
    "version": lambda b: req(b"GET /api/agents/me HTTP/1" + b + b".1"),
    "name": lambda b: get(b"/api/agents/me", b"X-A" + b + b"b: 1"),
    "value": lambda b: get(b"/api/agents/me", b"X-A: 1" + b + b"2"),
}
for pname, make in parts.items():
    for bname, byte in [("bare_lf", b"\n"), ("bare_cr", b"\r"), ("nul", b"\x00"),
                        ("del", b"\x7f"), ("ctl01", b"\x01"), ("esc", b"\x1b"),
                        ("obs_text", b"\xff")]:
        if pname == "value" and bname in ("ctl01",):
            continue    # the value set below covers the rest of the controls
        bad("%s_%s" % (bname, pname), cat, make(byte), 400)
for byte in (0x02, 0x08, 0x0b, 0x0c, 0x0e, 0x1f):
    bad("value_ctl%02x" % byte, cat, get(b"/api/agents/me", b"X-A: 1" + bytes([byte])), 400)
bad("bare_lf_line_ends", cat,
    b"GET /api/agents/me HTTP/1.1\n" + HOST + b"\n" + AUTH + b"\n\n", 400)
bad("bare_lf_last_line", cat,
    b"GET /api/agents/me HTTP/1.1\r\n" + HOST + b"\r\n" + AUTH + b"\r\n\n", 400)
bad("bare_cr_line_ends", cat,
    b"GET /api/agents/me HTTP/1.1\r" + HOST + b"\r" + AUTH + b"\r\r", 400)
bad("lf_cr_line_ends", cat,
    b"GET /api/agents/me HTTP/1.1\n\r" + HOST + b"\n\r" + AUTH + b"\n\r\n\r", 400)
# RFC 9112 2.2: one empty line before the request line is ignored (an old
# client's CRLF after a POST body); a second one, or anything else, is not.
ok("leading_empty_line", cat, b"\r\n" + get(), ME)
ok("crlf_after_post_body", cat, post() + b"\r\n" + get(), COMMENT, ME)
bad("leading_two_empty_lines", cat, b"\r\n\r\n" + get(), 400)
bad("leading_empty_line_bare_lf", cat, b"\r\n\n" + get(), 400)
bad("leading_space_line", cat, b" \r\n" + get(), 400)
bad("leading_empty_line_then_space_line", cat, b"\r\n \r\n" + get(), 400)
bad("tab_in_value_ok_but_ctl_after", cat, get(b"/api/agents/me", b"X-A: a\tb\x7f"), 400)
ok("tab_in_value", cat, get(b"/api/agents/me", b"X-A: a\tb"), ME)

# ---------------------------------------------------------------------------
# request line: spacing, versions, methods

cat = "request-line"
for label, line in [("double_space_after_method", b"GET  /api/agents/me HTTP/1.1"),
                    ("double_space_before_version", b"GET /api/agents/me  HTTP/1.1"),
                    ("leading_space", b" GET /api/agents/me HTTP/1.1"),
                    ("trailing_space", b"GET /api/agents/me HTTP/1.1 "),
                    ("tab_separators", b"GET\t/api/agents/me\tHTTP/1.1"),
                    ("no_version", b"GET /api/agents/me"),
                    ("no_target", b"GET HTTP/1.1"),
                    ("only_method", b"GET"),
                    ("extra_token", b"GET /api/agents/me HTTP/1.1 x")]:
    bad(label, cat, req(line), 400)
bad("http09_simple_request", cat, b"GET /api/agents/me\r\n\r\n", 400)

cat = "version"
for label, v, status in [("http_1_01", b"HTTP/1.01", 400), ("http_1_10", b"HTTP/1.10", 400),
                         ("lowercase", b"http/1.1", 400), ("no_minor", b"HTTP/1", 400),
                         ("no_dot", b"HTTP/11", 400), ("suffix", b"HTTP/1.1x", 400),
                         ("space_inside", b"HTTP/ 1.1", 400), ("hts", b"HTTPS/1.1", 400),
                         ("http_2_0", b"HTTP/2.0", 505), ("http_0_9", b"HTTP/0.9", 505),
                         ("http_1_2", b"HTTP/1.2", 505), ("http_3_0", b"HTTP/3.0", 505),
                         ("http_9_9", b"HTTP/9.9", 505)]:
    bad("version_" + label, cat, get(b"/api/agents/me", version=v), status)
bad("h2_prior_knowledge_preface", cat, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505)

cat = "method"
for label, line, status in [
        ("lowercase_get", b"get /api/agents/me HTTP/1.1", 501),
        ("mixed_case", b"Get /api/agents/me HTTP/1.1", 501),
        ("lowercase_patch", b"patch /api/issues/BRI-7 HTTP/1.1", 501),
        ("unknown", b"BREW /api/agents/me HTTP/1.1", 501),
        ("propfind", b"PROPFIND /api/agents/me HTTP/1.1", 501),
        ("query_method", b"QUERY /api/agents/me HTTP/1.1", 501),
        ("too_long", b"ABCDEFGHIJKLMNOPQ /api/agents/me HTTP/1.1", 501),
        ("msearch_star", b"M-SEARCH * HTTP/1.1", 501),
        ("non_token", b"GE(T /api/agents/me HTTP/1.1", 400),
        ("connect_authority", b"CONNECT 127.0.0.1:443 HTTP/1.1", 405),
        ("connect_origin", b"CONNECT /api/agents/me HTTP/1.1", 405),
        ("trace", b"TRACE /api/agents/me HTTP/1.1", 405),
        ("options_star", b"OPTIONS * HTTP/1.1", 400)]:
    bad(label, cat, req(line), status)

# ---------------------------------------------------------------------------
# request target forms

cat = "target"
ok("absolute_same_host", cat, get(b"http://127.0.0.1/api/agents/me"), ME)
ok("absolute_scheme_uppercase", cat, get(b"HTTP://127.0.0.1/api/agents/me"), ME)
ok("absolute_https", cat, get(b"https://127.0.0.1/api/agents/me"), ME)
ok("absolute_with_port", cat,
   req(b"GET http://127.0.0.1:8080/api/agents/me HTTP/1.1", b"Host: 127.0.0.1:8080",
       host=False), ME)
ok("absolute_host_case", cat,
   req(b"GET http://LOCALHOST/api/agents/me HTTP/1.1", b"Host: localhost", host=False), ME)
ok("absolute_with_query", cat, get(b"http://127.0.0.1/api/agents/me?x=1"),
   Fwd("GET", "/api/agents/me", "x=1"))
for label, target in [("absolute_other_host", b"http://evil.example/api/agents/me"),
                      ("absolute_port_differs", b"http://127.0.0.1:80/api/agents/me"),
                      ("absolute_trailing_dot", b"http://127.0.0.1./api/agents/me"),
                      ("absolute_userinfo", b"http://user@127.0.0.1/api/agents/me"),
                      ("absolute_userinfo_password", b"http://u:p@127.0.0.1/api/agents/me"),
                      ("absolute_userinfo_at_host", b"http://127.0.0.1@evil.example/api/agents/me"),
                      ("absolute_other_scheme", b"ftp://127.0.0.1/api/agents/me"),
                      ("absolute_ws_scheme", b"ws://127.0.0.1/api/agents/me"),
                      ("absolute_no_path", b"http://127.0.0.1"),
                      ("absolute_query_no_path", b"http://127.0.0.1?x=1"),
                      ("absolute_empty_authority", b"http:///api/agents/me"),
                      ("absolute_dotdot", b"http://127.0.0.1/api/x/../agents/me"),
                      ("scheme_relative", b"//127.0.0.1/api/agents/me"),
                      ("authority_form", b"127.0.0.1:443"),
                      ("asterisk", b"*"),
                      ("relative", b"api/agents/me"),
                      ("fragment", b"/api/agents/me#frag"),
                      ("fragment_only", b"/api/agents/me#")]:
    bad(label, cat, get(target), 400)
bad("absolute_http10_without_host", cat,
    b"GET http://127.0.0.1/api/agents/me HTTP/1.0\r\n" + AUTH + b"\r\n\r\n", 400, http10=True)

# ---------------------------------------------------------------------------
# Host

cat = "host"
bad("host_missing", cat, get(host=False), 400)
bad("host_duplicate_same", cat, get(b"/api/agents/me", HOST), 400)
bad("host_duplicate_other", cat, get(b"/api/agents/me", b"Host: evil.example"), 400)
for label, v in [("userinfo", b"user@127.0.0.1"), ("port_letters", b"127.0.0.1:abc"),
                 ("port_zero", b"127.0.0.1:0"), ("port_empty", b"127.0.0.1:"),
                 ("port_too_big", b"127.0.0.1:65536"), ("port_leading_zero", b"127.0.0.1:080"),
                 ("port_six_digits", b"127.0.0.1:100000"), ("comma_list", b"127.0.0.1, evil"),
                 ("empty", b""), ("inner_space", b"127.0.0.1 evil"),
                 ("path", b"127.0.0.1/x"), ("ipv6_unclosed", b"[::1"),
                 ("ipv6_junk", b"[::1]x"), ("two_colons", b"127.0.0.1:80:80"),
                 ("percent", b"127%2e0.0.1")]:
    bad("host_" + label, cat, get(b"/api/agents/me", b"Host: " + v, host=False), 400)
ok("host_with_port", cat, get(b"/api/agents/me", b"Host: 127.0.0.1:8080", host=False), ME)
ok("host_ipv6", cat, get(b"/api/agents/me", b"Host: [::1]:8080", host=False), ME)
ok("host_name", cat, get(b"/api/agents/me", b"Host: bridge.sandbox-7.internal", host=False), ME)
ok("host_http10_missing", cat, b"GET /api/agents/me HTTP/1.0\r\n" + AUTH + b"\r\n\r\n", ME,
   close=True, http10=True)

# ---------------------------------------------------------------------------
# header names

cat = "header-name"
for label, line in [("empty", b": x"), ("space_inside", b"X A: 1"),
                    ("space_before_colon", b"X-A : 1"), ("tab_before_colon", b"X-A\t: 1"),
                    ("paren", b"X(A): 1"), ("at", b"X@A: 1"), ("slash", b"X/A: 1"),
                    ("quote", b'X"A: 1'), ("brace", b"X{A}: 1"), ("no_colon", b"X-A"),
                    ("colon_only", b":"), ("leading_space_first_field", b" X-A: 1"),
                    ("obs_fold", b"X-A: 1\r\n 2"), ("obs_fold_tab", b"X-A: 1\r\n\t2"),
                    ("obs_text", b"X-\xe9: 1")]:
    bad("name_" + label, cat, get(b"/api/agents/me", line), 400)
ok("name_all_tchars", cat, get(b"/api/agents/me", b"!#$%&'*+-.^_`|~09azAZ: 1"), ME)
ok("name_64_bytes", cat, get(b"/api/agents/me", b"X" * 64 + b": 1"), ME)
bad("name_65_bytes", cat, get(b"/api/agents/me", b"X" * 65 + b": 1"), 431)

# ---------------------------------------------------------------------------
# limits: URI, header value, head bytes, field count, body (413 above)

cat = "limits"
LONG_SEG = b"a" * (4096 - len(b"/api/issues//comments"))
ok("path_at_limit", cat, get(b"/api/issues/" + LONG_SEG + b"/comments"),
   Fwd("GET", "/api/issues/" + LONG_SEG.decode() + "/comments"))
bad("path_over_limit", cat, get(b"/api/issues/" + LONG_SEG + b"a/comments"), 414)
ok("path_decoded_unreserved_run", cat, get(b"/api/issues/" + b"%61" * 100 + b"/comments?x"),
   Fwd("GET", "/api/issues/" + "a" * 100 + "/comments", "x"))
ok("query_at_limit", cat, get(b"/api/agents/me?" + b"q" * 4096),
   Fwd("GET", "/api/agents/me", "q" * 4096))
bad("query_over_limit", cat, get(b"/api/agents/me?" + b"q" * 4097), 414)
ok("value_at_limit", cat, get(b"/api/agents/me", b"X-A: " + b"v" * 8192), ME)
bad("value_over_limit", cat, get(b"/api/agents/me", b"X-A: " + b"v" * 8193), 431)


def _fill_head(n):
    """A GET whose head is exactly n bytes (values under 8192 each)."""
    fields = []
    while True:
        trial = get(b"/api/agents/me", *(fields + [b"X-F%d: " % len(fields)]))
        room = n - len(trial)
        if room <= 8000:
            return get(b"/api/agents/me", *(fields + [b"X-F%d: " % len(fields) + b"f" * room]))
        fields.append(b"X-F%d: " % len(fields) + b"f" * 8000)


ok("head_at_16384", cat, _fill_head(16384), ME)
bad("head_over_16384", cat, _fill_head(16385), 431)
bad("head_never_ends", cat, b"GET /api/agents/me HTTP/1.1\r\nX-A: " + b"a" * 20000, 431)
ok("fields_at_64", cat, get(b"/api/agents/me", *[b"X-%d: 1" % i for i in range(62)]), ME)
bad("fields_over_64", cat, get(b"/api/agents/me", *[b"X-%d: 1" % i for i in range(63)]), 431)
bad("fields_many_empty", cat, get(b"/api/agents/me", *[b"X:" for _ in range(200)]), 431)

# ---------------------------------------------------------------------------
# pipelining

cat = "pipelining"
ok("two_gets", cat, get() + get(b"/api/issues/BRI-7/comments"), ME,
   Fwd("GET", "/api/issues/BRI-7/comments"))
ok("post_then_get", cat, post() + get(), COMMENT, ME)
ok("chunked_then_get", cat, chunked(CHUNKED_BODY) + get(), COMMENT, ME)
ok("three_mixed", cat, get() + post() + req(b"HEAD /api/agents/me HTTP/1.1"),
   ME, COMMENT, Fwd("HEAD", "/api/agents/me"), head=True)
VECTORS.append(Vec("good_then_bad", cat, get() + b"GET /api/agents/me HTTP/1.1\nHost: x\n\n",
                   [200, 400], [ME], close=True))
VECTORS.append(Vec("good_then_smuggle_attempt", cat,
                   get() + req(b"GET /api/x/../agents/me HTTP/1.1"), [200, 400], [ME], close=True))
bad("bad_then_good", cat, get(b"/api/agents/me", b"X-A : 1") + get(), 400)
ok("close_then_get", cat, get(b"/api/agents/me", b"Connection: close") +
   get(b"/api/issues/BRI-7/comments"), ME, close=True)
ok("post_close_then_get", cat,
   post(b"/api/issues/BRI-7/comments", b"Connection: close") + get(), COMMENT, close=True)
VECTORS.append(Vec("denied_then_good", cat, get(b"/private/keys") + get(), [403, 200],
                   [ME], close=False, error403=("GET", "/private/keys")))
bad("unread_body_415_hides_request", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.1", b"Content-Type: text/plain",
        b"Content-Length: %d" % len(get()), body=get()), 415)
bad("unread_body_401_hides_request", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT, b"Content-Length: %d" % len(get()),
        auth=False, body=get()), 401)
bad("unread_body_413_hides_request", cat,
    post(b"/api/issues/BRI-7/comments", b"Content-Length: %d" % (MAX_BODY + 1), length=False,
         body=get()), 413)
bad("unread_body_403_hides_request", cat,
    req(b"POST /api/agents/me HTTP/1.1", CT, b"Content-Length: %d" % len(get()), body=get()),
    403, error403=("POST", "/api/agents/me"))
ok("after_invalid_json_next_served", cat, post(body=b"{x") + get(), ME,
   statuses=[400, 200])
VECTORS.append(Vec("complete_then_half_close", cat, get(), [200], [ME], close=True,
                   half_close=True))
VECTORS.append(Vec("partial_head_then_half_close", cat, b"GET /api/agents/me HTTP/1.1\r\nHo",
                   [], [], close=True, half_close=True))

# ---------------------------------------------------------------------------
# HTTP/1.0

cat = "http10"
ok("http10_close_by_default", cat, get(version=b"HTTP/1.0"), ME, close=True, http10=True)
ok("http10_keep_alive", cat, get(b"/api/agents/me", b"Connection: keep-alive",
                                 version=b"HTTP/1.0"), ME, http10=True)
ok("http10_keep_alive_then_get", cat,
   get(b"/api/agents/me", b"Connection: keep-alive", version=b"HTTP/1.0") + get(), ME, ME)
ok("http10_default_then_get_unanswered", cat, get(version=b"HTTP/1.0") + get(), ME,
   close=True, http10=True)
ok("http10_post_length", cat, post(version=b"HTTP/1.0"), COMMENT, close=True, http10=True)

# ---------------------------------------------------------------------------
# Expect

cat = "expect"
ok("expect_100_continue", cat, post(b"/api/issues/BRI-7/comments", b"Expect: 100-continue"),
   COMMENT, statuses=[100, 200])
ok("expect_100_continue_case", cat,
   post(b"/api/issues/BRI-7/comments", b"Expect: 100-Continue"), COMMENT, statuses=[100, 200])
ok("expect_100_continue_chunked", cat, chunked(CHUNKED_BODY, b"Expect: 100-continue"),
   COMMENT, statuses=[100, 200])
ok("expect_100_continue_no_body", cat, get(b"/api/agents/me", b"Expect: 100-continue"), ME)
ok("expect_100_continue_http10_ignored", cat,
   post(b"/api/issues/BRI-7/comments", b"Expect: 100-continue", version=b"HTTP/1.0"), COMMENT,
   close=True, http10=True)
for label, fields in [("unknown", [b"Expect: foo"]), ("empty", [b"Expect:"]),
                      ("list", [b"Expect: 100-continue, foo"]),
                      ("twice", [b"Expect: 100-continue", b"Expect: 100-continue"]),
                      ("102", [b"Expect: 102-processing"]),
                      ("param", [b"Expect: 100-continue;a=b"])]:
    bad("expect_" + label, cat, post(b"/api/issues/BRI-7/comments", *fields), 417)
bad("expect_100_continue_bad_token_no_100", cat,
    req(b"POST /api/issues/BRI-7/comments HTTP/1.1", CT, b"Content-Length: 7",
        b"Expect: 100-continue", auth=False, body=BODY), 401)

# ---------------------------------------------------------------------------
# protocol switches

cat = "upgrade"
bad("upgrade_h2c", cat, get(b"/api/agents/me", b"Connection: Upgrade, HTTP2-Settings",
                            b"Upgrade: h2c", b"HTTP2-Settings: AAMAAABkAAQAAP__"), 400)
bad("upgrade_websocket", cat, get(b"/api/agents/me", b"Connection: Upgrade",
                                  b"Upgrade: websocket", b"Sec-WebSocket-Version: 13",
                                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), 400)
bad("upgrade_without_connection", cat, get(b"/api/agents/me", b"Upgrade: h2c"), 400)
bad("upgrade_empty", cat, get(b"/api/agents/me", b"Upgrade:"), 400)
bad("http2_settings_alone", cat, get(b"/api/agents/me", b"HTTP2-Settings: AAMAAABkAAQAAP__"),
    400)
bad("upgrade_on_post", cat, post(b"/api/issues/BRI-7/comments", b"Upgrade: h2c"), 400)

# ---------------------------------------------------------------------------
# path spellings: one canonical form, dot segments and encoded separators
# refused in every spelling (the policy above would allow most targets)

cat = "path"
for label, p in [
        ("dotdot_raw", b"/api/issues/1/interactions/../accept"),
        ("dotdot_leading", b"/../api/agents/me"),
        ("dotdot_trailing", b"/api/agents/me/.."),
        ("dot_raw", b"/api/./agents/me"),
        ("dot_trailing", b"/api/agents/me/."),
        ("dotdot_pct_lower", b"/api/issues/1/interactions/%2e%2e/accept"),
        ("dotdot_pct_upper", b"/api/issues/1/interactions/%2E%2E/accept"),
        ("dotdot_pct_mixed", b"/api/issues/1/interactions/%2e%2E/accept"),
        ("dotdot_half_pct_1", b"/api/issues/1/interactions/.%2e/accept"),
        ("dotdot_half_pct_2", b"/api/issues/1/interactions/%2E./accept"),
        ("dot_pct", b"/api/%2e/agents/me"),
        ("dotdot_semicolon", b"/api/issues/1/interactions/..;/accept"),
        ("dotdot_semicolon_param", b"/api/issues/1/interactions/..;x=1/accept"),
        ("dot_semicolon", b"/api/.;/agents/me"),
        ("dotdot_pct_semicolon", b"/api/issues/1/interactions/%2e%2e;/accept"),
        ("dotdot_encoded_semicolon", b"/api/issues/1/interactions/..%3B/accept"),
        ("dotdot_encoded_semicolon_lower", b"/api/issues/1/interactions/..%3b/accept"),
        ("overlong_utf8_dot", b"/api/issues/1/interactions/%c0%ae%c0%ae/accept"),
        ("overlong_utf8_dot_upper", b"/api/issues/1/interactions/%C0%AE%C0%AE/accept"),
        ("overlong_utf8_3byte_dot", b"/api/%e0%80%ae%e0%80%ae/agents/me"),
        ("overlong_utf8_slash", b"/api/issues%c0%af..%c0%afagents/me"),
        ("encoded_slash", b"/api/issues/1%2Finteractions/comments"),
        ("encoded_slash_lower", b"/api/issues/1%2finteractions/comments"),
        ("encoded_dotdot_slash", b"/api/issues/1/interactions/%2e%2e%2faccept"),
        ("encoded_backslash", b"/api/issues/1%5Cx/comments"),
        ("encoded_backslash_lower", b"/api/issues/1%5cx/comments"),
        ("encoded_nul", b"/api/agents/me%00"),
        ("encoded_nul_mid", b"/api/agents%00/me"),
        ("encoded_lf", b"/api/agents/me%0a"),
        ("encoded_cr_lf", b"/api/agents/me%0d%0aX-Injected:%201"),
        ("encoded_del", b"/api/agents/me%7f"),
        ("encoded_high_byte", b"/api/agents/m%e9"),
        ("invalid_pct_letters", b"/api/agents/m%zze"),
        ("invalid_pct_short", b"/api/agents/me%4"),
        ("invalid_pct_alone", b"/api/agents/me%"),
        ("invalid_pct_sign", b"/api/agents/%+1me"),
        ("raw_high_byte", b"/api/agents/m\xe9"),
        ("raw_utf8", b"/api/agents/caf\xc3\xa9"),
        ("raw_0x80", b"/api/\x80/me"),
        ("double_slash", b"/api//agents/me"),
        ("double_slash_leading", b"//api/agents/me"),
        ("double_slash_trailing", b"/api/agents/me//"),
        ("backslash", b"/api\\agents\\me"),
        ("backslash_dotdot", b"/api/issues/1/interactions\\..\\accept"),
        ("empty_segment_param", b"/api/;x/agents/me"),
        ("empty_segment_encoded_param", b"/api/%3Bx/agents/me"),
        ("fragment_after_dotdot", b"/api/agents/me#/../../admin"),
        # encoded non-ASCII must be UTF-8, and Unicode forms of '/', '\\'
        # and dot segments are what a normalizing server makes of them
        ("utf8_cut_short", b"/api/issues/BRI-7/documents/caf%C3"),
        ("utf8_split_by_slash", b"/api/issues/BRI-7/caf%C3/%A9"),
        ("utf8_lone_continuation", b"/api/issues/BRI-7/documents/caf%A9"),
        ("utf8_surrogate", b"/api/issues/BRI-7/documents/%ED%A0%80"),
        ("utf8_beyond_unicode", b"/api/issues/BRI-7/documents/%F4%90%80%80"),
        ("utf8_overlong_e_acute", b"/api/issues/BRI-7/documents/caf%E0%83%A9"),
        ("utf8_c1_control", b"/api/issues/BRI-7/documents/a%C2%85b"),
        ("nfkc_fullwidth_dotdot", b"/api/issues/1/interactions/%EF%BC%8E%EF%BC%8E/accept"),
        ("nfkc_two_dot_leader", b"/api/issues/1/interactions/%E2%80%A5/accept"),
        ("nfkc_fullwidth_slash", b"/api/issues/1%EF%BC%8Finteractions/comments"),
        ("nfkc_fullwidth_backslash", b"/api/issues/1%EF%BC%BCx/comments"),
        ("nfkc_semicolon_dotdot", b"/api/issues/1/interactions/..%EF%BC%9Bx/accept")]:
    status = 400
    bad("path_" + label, cat, get(p), status)
# Not dot segments, not separators: kept (canonical) and forwarded.
for label, p, canon in [
        ("pct_unreserved_decoded", b"/api/agents/%6De", "/api/agents/me"),
        ("pct_unreserved_lower_decoded", b"/%61pi/agents/%6de", "/api/agents/me"),
        ("pct_reserved_uppercased", b"/api/issues/a%3ab/comments", "/api/issues/a%3Ab/comments"),
        ("three_dots_is_a_name", b"/api/issues/.../comments", "/api/issues/.../comments"),
        ("dotdot_prefix_is_a_name", b"/api/issues/..a/comments", "/api/issues/..a/comments"),
        ("pct_dot_name", b"/api/issues/%2e.x/comments", "/api/issues/..x/comments"),
        ("double_encoding_is_data", b"/api/issues/%252e%252e/comments",
         "/api/issues/%252e%252e/comments"),
        ("encoded_space", b"/api/issues/a%20b/comments", "/api/issues/a%20b/comments"),
        ("space_then_dots_is_a_name", b"/api/%20../agents/me", "/api/%20../agents/me"),
        ("tilde_decoded", b"/api/issues/%7e/comments", "/api/issues/~/comments"),
        ("semicolon_in_name", b"/api/issues/a;b/comments", "/api/issues/a;b/comments"),
        ("encoded_semicolon_in_name", b"/api/issues/a%3bb/comments",
         "/api/issues/a%3Bb/comments"),
        ("sub_delims", b"/api/issues/@:!$&'()*+,=/comments", "/api/issues/@:!$&'()*+,=/comments"),
        # user text in a segment: kept encoded, in upper-case hex
        ("utf8_segment", b"/api/issues/caf%C3%A9/comments", "/api/issues/caf%C3%A9/comments"),
        ("utf8_segment_lower_hex", b"/api/issues/caf%c3%a9/comments",
         "/api/issues/caf%C3%A9/comments"),
        ("utf8_cjk_and_emoji", b"/api/issues/%E6%96%87%E6%9B%B8/comments/%F0%9F%98%80",
         "/api/issues/%E6%96%87%E6%9B%B8/comments/%F0%9F%98%80"),
        ("utf8_fullwidth_dot_in_name", b"/api/issues/a%EF%BC%8E/comments",
         "/api/issues/a%EF%BC%8E/comments"),
        ("utf8_ellipsis_is_a_name", b"/api/issues/%E2%80%A6/comments",
         "/api/issues/%E2%80%A6/comments")]:
    ok("path_" + label, cat, get(p), Fwd("GET", canon))
# Paperclip's document route, as its own bridge forwards it.
ok("path_utf8_document_key", cat,
   req(b"PUT /api/issues/BRI-7/documents/caf%c3%a9 HTTP/1.1", CT, b"Content-Length: 7",
       body=BODY),
   Fwd("PUT", "/api/issues/BRI-7/documents/caf%C3%A9", body=BODY))

# ---------------------------------------------------------------------------
# query strings: checked, never canonicalized, forwarded byte for byte

cat = "query"
for label, q in [("plain", b"a=1&b=2"), ("slash_dots", b"x=/../../admin"),
                 ("encoded_slash", b"a=%2F..%2F"), ("question_marks", b"a=?b?"),
                 ("encoded_utf8", b"q=%e2%80%ae"), ("sub_delims", b"a=!$&'()*+,;=:@")]:
    ok("query_" + label, cat, get(b"/api/agents/me?" + q),
       Fwd("GET", "/api/agents/me", q.decode()))
for label, q in [("invalid_pct", b"a=%zz"), ("short_pct", b"a=%4"), ("raw_high_byte", b"a=\xe9"),
                 ("fragment", b"a=b#c"), ("backslash", b"a=\\"), ("quote", b'a="b"'),
                 ("angle", b"a=<b>"), ("brace", b"a={}"), ("pipe", b"a=|"), ("caret", b"a=^"),
                 ("backtick", b"a=`")]:
    bad("query_" + label, cat, get(b"/api/agents/me?" + q), 400)

# ---------------------------------------------------------------------------
# responses: no request byte is echoed into a header; HEAD gets no body

cat = "response"
bad("odd_path_invalid_pct_400", cat, get(b"/api/x%22%3Cscript%3E%5D%7B%0G"), 400)
bad("odd_path_raw_quote_400", cat, get(b"/private/x%22y%3cz%3E%25%5D/\"a"), 400)
bad("odd_path_403_escaped_in_body", cat, get(b"/private/x%22y%3cz%3E%25%5D/a"), 403,
    close=False, error403=("GET", "/private/x%22y%3Cz%3E%25%5D/a"))
bad("head_denied_403_no_body", cat, req(b"HEAD /private/keys HTTP/1.1"), 403,
    close=False, head=True, error403=("HEAD", "/private/keys"))
bad("head_401_no_body", cat, req(b"HEAD /api/agents/me HTTP/1.1", auth=False), 401,
    close=False, head=True)
bad("head_400_no_body", cat, req(b"HEAD /api/agents/me%zz HTTP/1.1"), 400, head=True)
bad("header_value_not_echoed", cat,
    get(b"/private/keys", b"X-Echo-Marker: ZZ-ECHO-ZZ", b"Origin: ZZ-ECHO-ZZ"), 403,
    close=False, error403=("GET", "/private/keys"))


def table():
    return [v.to_json() for v in VECTORS]


def _check():
    names = [v.name for v in VECTORS]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SystemExit("duplicate vector names: %s" % sorted(dup))
    for v in VECTORS:
        if any(s is None for s in v.statuses):
            raise SystemExit("vector %s has no status" % v.name)


_check()


def main(argv):
    if len(argv) >= 2 and argv[1] == "--json":
        json.dump({"token": TOKEN.decode(), "policy": POLICY, "args": ARGS,
                   "vectors": table()}, sys.stdout, indent=1)
        print()
    elif len(argv) == 3 and argv[1] == "--write":
        d = argv[2]
        os.makedirs(d, exist_ok=True)
        for i, v in enumerate(VECTORS):
            with open(os.path.join(d, "%03d-%s.http" % (i, v.name)), "wb") as f:
                f.write(v.raw)
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump({"token": TOKEN.decode(), "policy": POLICY, "args": ARGS,
                       "vectors": table()}, f, indent=1)
    else:
        cats = {}
        for v in VECTORS:
            cats.setdefault(v.category, [0, 0])
            cats[v.category][0 if v.forwarded else 1] += 1
        acc = sum(c[0] for c in cats.values())
        rej = sum(c[1] for c in cats.values())
        for k, (a, r) in cats.items():
            print("%-18s %3d forwarded  %3d refused" % (k, a, r))
        print("%-18s %3d forwarded  %3d refused  (%d vectors)" % ("total", acc, rej, acc + rej))


if __name__ == "__main__":
    main(sys.argv)
