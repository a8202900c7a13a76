#!/usr/bin/env python3
"""Write the seed corpora of the wire-format harnesses:

  tests/fuzz/corpus/parent_msgs/   child -> parent streams (fuzz_parent_msgs.c)
  tests/fuzz/corpus/child_msgs/    parent -> child streams (fuzz_child_msgs.c)
  tests/fuzz/corpus/child_config/  MSG_CONFIG payloads (fuzz_child_config.c)

Frames are built here from the format as src/common/wire.h,
policy_table.h and child_config.h document it, not with keyhole's own
encoder, so a seed the harness refuses points at a disagreement.  Each
stream seed starts with the harness's configuration byte.  Run it after
changing the wire format; files it does not name are left alone (saved
reproducers and minimised finds stay).

    python3 tests/fuzz/make_wire_seeds.py
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

VERSION = 5
LOG, FATAL, POLICY, REQUEST, ACCESS, PONG, METRICS, RETIRED = 1, 2, 3, 4, 5, 6, 7, 8
CONFIG, POLICY_OK, RESPONSE, SHUTDOWN, PING, METRICS_TEXT, RETIRE, QUEUE_START = \
    64, 65, 66, 67, 68, 69, 70, 71
METRICS_CHILD_N = 6     # metrics_wire.h
SEG_LIT, SEG_STAR, SEG_GLOB, SEG_VAR = 1, 2, 3, 4
BODY_JSON, BODY_NONE, QUERY_NONE = 0x01, 0x02, 0x04


def frame(mtype, payload=b"", mid=0, version=VERSION, reserved=0, length=None):
    if length is None:
        length = len(payload)
    return struct.pack(">BBHIQ", version, mtype, reserved, length, mid) + payload


def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def s(v):
    if isinstance(v, str):
        v = v.encode()
    return u32(len(v)) + v


# The table fuzz_parent_msgs.c compiles from fuzz_policy_text (rule lines
# are the text's line numbers).
RULES = [
    ("GET", 7, "/api/agents/me"),
    ("GET", 8, "/api/issues/*/comments"),
    ("POST", 9, "/api/issues/*/comments"),
    ("PATCH", 10, "/api/issues/*"),
    ("HEAD", 11, "/"),
    ("DELETE", 12, "/a/*/*/*/*"),
]
REQ_HDRS = ["accept", "content-type", "if-match"]
RESP_HDRS = ["content-type", "etag"]


def policy_payload(rules=RULES, max_body=4096, req=REQ_HDRS, resp=RESP_HDRS,
                   max_mutations=0):
    # policy_table.h, v2: u64 max_body, u32 max_mutations, u16 nrules, rules,
    # then the two header lists; each rule ends with its (here empty)
    # constraints: u8 flags, u64 max_body, u16 nkeys, u16 nctypes,
    # u16 nhdrs, u32 rate_count, u32 rate_period_s.
    # A rule is (method, line, pattern) or (method, line, pattern, dict of
    # flags / max_body / keys / ctypes / hdrs); '**' and '{name}' segments
    # are v2's.
    out = u64(max_body) + u32(max_mutations) + u16(len(rules))
    for rule in rules:
        method, line, pattern = rule[:3]
        c = rule[3] if len(rule) > 3 else {}
        segs = [] if pattern == "/" else pattern[1:].split("/")
        out += s(method) + u32(line) + u16(len(segs))
        for g in segs:
            if g == "*":
                out += u8(SEG_STAR) + s("")
            elif g == "**":
                out += u8(SEG_GLOB) + s("")
            elif g.startswith("{"):
                out += u8(SEG_VAR) + s(g[1:-1])
            else:
                out += u8(SEG_LIT) + s(g)
        keys, hdrs, ctypes = c.get("keys", []), c.get("hdrs", []), c.get("ctypes", [])
        out += u8(c.get("flags", 0)) + u64(c.get("max_body", 0))
        out += u16(len(keys)) + b"".join(s(k) for k in keys)
        out += u16(len(ctypes)) + b"".join(s(t) for t in ctypes)
        out += u16(len(hdrs)) + b"".join(s(h) for h in hdrs) + u32(0) + u32(0)
    out += u16(len(req)) + b"".join(s(h) for h in req)
    out += u16(len(resp)) + b"".join(s(h) for h in resp)
    return out


# MSG_REQUEST media fields (wire.h v3): (media, flags, boundary); media 0
# none, 1 application/json, 2+i the rule's i-th content-type; flag 1
# charset=utf-8.
NO_MEDIA = (0, 0, "")
JSON = (1, 0, "")
JSON_UTF8 = (1, 1, "")


def request(mid, method, path, query=None, headers=(), body=b"", peer="127.0.0.1:40000",
            media=None):
    """media None: application/json when there is a body, else none."""
    if media is None:
        media = JSON if body else NO_MEDIA
    p = s(method) + s(path) + u8(0 if query is None else 1) + s(query or "")
    p += s(peer) + u16(len(headers))
    for name, value in headers:
        p += s(name) + s(value)
    p += u8(media[0]) + u8(media[1]) + s(media[2])
    p += u32(len(body)) + body
    return frame(REQUEST, p, mid)


def log(level, line):
    return frame(LOG, u8(level) + s(line))


def access(peer="127.0.0.1:40000", method="GET", path="/api/admin", status=403,
           reason="no rule", bytes_in=40, bytes_out=120, mid=0):
    return frame(ACCESS, s(peer) + s(method) + s(path) + u16(status) + s(reason) +
                 u64(bytes_in) + u64(bytes_out), mid)


# fuzz_parent_msgs configuration byte
PRELOAD, DRAINING = 0x01, 0x02
INFLIGHT = {1: 0x00, 2: 0x04, 4: 0x08, 64: 0x0C}
BODY = {0: 0x00, 16: 0x10, 4096: 0x20, 1 << 20: 0x30}
UPSTREAM = {"never": 0x00, "1/8": 0x40, "1/4": 0x80, "1/2": 0xC0}


def pcfg(preload=True, draining=False, inflight=64, body=4096, upstream="1/4"):
    return bytes([(PRELOAD if preload else 0) | (DRAINING if draining else 0) |
                  INFLIGHT[inflight] | BODY[body] | UPSTREAM[upstream]])


POL = frame(POLICY, policy_payload())
GOOD = [
    request(1, "GET", "/api/agents/me", headers=[("accept", "application/json")]),
    request(2, "POST", "/api/issues/BRI-7/comments", headers=[("accept", "*/*")],
            body=b'{"body":"hello"}'),
    request(3, "PATCH", "/api/issues/BRI-7", query="x=1&y=%20",
            headers=[("if-match", '"v1"')], body=b'{"status":"done"}', media=JSON_UTF8),
    request(4, "HEAD", "/"),
    request(5, "DELETE", "/a/b/c%3Bd/e;f=1/g", headers=[("accept", "")]),
]


# A policy v2 table the stream itself sends (not the preloaded one), with
# the parent bound to issue=BRI-7 (fuzz_parent_msgs.c) and `max 2`.
RULES_V2 = [
    ("GET", 1, "/api/q", {"flags": QUERY_NONE}),
    ("DELETE", 2, "/api/drafts/*", {"flags": BODY_NONE}),
    ("PATCH", 3, "/api/issues/{issue}", {"keys": ["status"], "flags": QUERY_NONE}),
    ("POST", 4, "/api/json", {"flags": BODY_JSON}),
    ("PUT", 5, "/api/files/**", {"max_body": 64}),
    ("POST", 6, "/api/cap", {"hdrs": ["x-capability"]}),
    ("GET", 7, "/api/agents/me"),
    ("POST", 8, "/api/upload", {"ctypes": ["multipart/form-data", "text/plain"]}),
    ("POST", 9, "/api/merge", {"ctypes": ["application/merge-patch+json"]}),
    ("POST", 10, "/api/either", {"ctypes": ["application/json", "text/plain"]}),
]
POL_V2 = frame(POLICY, policy_payload(rules=RULES_V2, max_mutations=2))
GOOD_V2 = [
    request(1, "GET", "/api/q"),
    request(2, "PATCH", "/api/issues/BRI-7", body=b'{"status":"done"}'),
    request(3, "PUT", "/api/files/a/b/c.txt", body=b'"hello"'),
    request(4, "GET", "/api/agents/me", query="x=1"),
]
# Media types the rules accept (each stream at most `max 2` mutations).
MEDIA_V2 = [
    request(5, "POST", "/api/upload", body=b"--a:b--\r\n", media=(2, 1, "a:b")),
    request(6, "POST", "/api/upload", body=b"hi", media=(3, 0, "")),
    request(7, "POST", "/api/merge", body=b'{"a":[1,{"b":null}]}', media=(2, 0, "")),
]


def metrics_frame(mid=1, n=METRICS_CHILD_N, values=None):
    values = values if values is not None else list(range(n))
    return frame(METRICS, u8(n) + b"".join(u64(v) for v in values), mid=mid)


def parent_seeds():
    v2 = pcfg(preload=False, upstream="never") + POL_V2
    seeds = {
        # The operator's scrape, as the child asks for it (wire version 4).
        "metrics_scrape": v2 + metrics_frame(1) + GOOD_V2[0] + metrics_frame(2),
        "metrics_count_short": v2 + metrics_frame(1, n=5, values=[0] * 5),
        "metrics_count_claims_more": v2 + metrics_frame(1, n=7, values=[0] * 6),
        "metrics_zero_id": v2 + metrics_frame(0),
        "metrics_huge_values": v2 + metrics_frame(3, values=[2 ** 64 - 1] * METRICS_CHILD_N),
        # Policy v2: what the parent accepts, and each rule property it
        # re-checks on its own (one violation per seed, after good ones).
        "v2_serve": v2 + b"".join(GOOD_V2),
        "v2_media_ok": v2 + MEDIA_V2[0] + MEDIA_V2[2] + GOOD_V2[0],
        "v2_media_text": v2 + MEDIA_V2[1],
        "v2_query_on_query_none": v2 + GOOD_V2[0] + request(9, "GET", "/api/q", query=""),
        "v2_body_on_body_none": v2 + request(9, "DELETE", "/api/drafts/d", body=b"{}"),
        "v2_other_issue": v2 + request(9, "PATCH", "/api/issues/BRI-8", body=b'{"status":1}'),
        "v2_missing_body": v2 + request(9, "POST", "/api/json"),
        "v2_body_over_rule_limit": v2 + request(9, "PUT", "/api/files/x", body=b"y" * 65),
        "v2_glob_needs_a_segment": v2 + request(9, "PUT", "/api/files/", body=b"x"),
        "v2_header_off_route": v2 + request(9, "POST", "/api/json", body=b"{}",
                                            headers=[("x-capability", "1")]),
        "v2_header_on_route": v2 + request(9, "POST", "/api/cap", headers=[("x-capability", "1")]),
        "v2_over_budget": v2 + GOOD_V2[1] + request(5, "DELETE", "/api/drafts/a") +
        request(6, "DELETE", "/api/drafts/b"),
        # The media type and the body checks the parent repeats (issue 11).
        "v2_content_type_header": v2 + request(
            9, "PATCH", "/api/issues/BRI-7", body=b'{"status":1}',
            headers=[("content-type", "application/json; charset=utf-7")]),
        "v2_media_off_rule": v2 + request(9, "POST", "/api/upload", body=b"{}"),
        "v2_media_index_past_list": v2 + request(9, "POST", "/api/upload", body=b"x",
                                                 media=(4, 0, "")),
        "v2_media_json_off_rule": v2 + request(9, "POST", "/api/merge", body=b"{}",
                                               media=(1, 0, "")),
        "v2_media_json_listed": v2 + request(8, "POST", "/api/either", body=b"[]") +
        request(9, "POST", "/api/either", body=b"[]", media=(2, 0, "")),
        "v2_media_unknown_flag": v2 + request(9, "POST", "/api/json", body=b"{}",
                                              media=(1, 2, "")),
        "v2_boundary_on_json": v2 + request(9, "POST", "/api/json", body=b"{}",
                                            media=(1, 0, "b")),
        "v2_boundary_injection": v2 + request(9, "POST", "/api/upload", body=b"--b--",
                                              media=(2, 0, "b; charset=utf-7")),
        "v2_boundary_too_long": v2 + request(9, "POST", "/api/upload", body=b"x",
                                             media=(2, 0, "b" * 71)),
        "v2_params_without_media": v2 + request(9, "GET", "/api/agents/me",
                                                media=(0, 1, "")),
        "v2_body_without_media": v2 + request(9, "PUT", "/api/files/x", body=b"1",
                                              media=NO_MEDIA),
        "v2_not_json": v2 + request(9, "POST", "/api/json", body=b'{"a":}'),
        "v2_json_media_not_json": v2 + request(9, "POST", "/api/merge", body=b"{} x",
                                               media=(2, 0, "")),
        "v2_key_not_listed": v2 + request(9, "PATCH", "/api/issues/BRI-7",
                                          body=b'{"status":1,"assigneeAdapterOverrides":{}}'),
        "v2_key_escaped": v2 + request(9, "PATCH", "/api/issues/BRI-7",
                                       body=b'{"status":1,"\\u0061ssignee":1}'),
        "v2_keys_not_object": v2 + request(9, "PATCH", "/api/issues/BRI-7", body=b'["status"]'),
        "v2_keys_escaped_listed": v2 + request(9, "PATCH", "/api/issues/BRI-7",
                                               body=b'{"st\\u0061tus":{"x":[1]}}'),
        "serve_preloaded": pcfg() + log(2, "hello from the child") + POL + b"".join(GOOD),
        "serve_first_policy": pcfg(preload=False) + POL + b"".join(GOOD) + log(0, "bye"),
        "serve_draining": pcfg(draining=True, upstream="1/2") + POL + b"".join(GOOD[:2]),
        "overload_inflight_1": pcfg(inflight=1, upstream="never") + POL + b"".join(GOOD),
        "upstream_fails_often": pcfg(upstream="1/2", body=1 << 20) + POL + b"".join(GOOD * 2),
        "fatal_then_more": pcfg() + frame(FATAL, s("policy has 1 error")) + log(1, "x"),
        "log_levels": pcfg() + b"".join(log(i, "level %d \x7f\x1b[31m" % i) for i in range(4)),
        # Violations (tests/progs/hostile_child.c has the same list).
        "bad_version": pcfg() + frame(LOG, u8(2) + s("x"), version=2),
        "reserved_bits": pcfg() + frame(LOG, u8(2) + s("x"), reserved=1),
        "oversize_length": pcfg() + frame(LOG, b"", length=17 * 1024 * 1024),
        "unknown_type": pcfg() + POL + frame(200, b""),
        "wrong_direction": pcfg() + POL + frame(RESPONSE, u16(200) + u16(0) + u32(0), 1),
        "request_before_policy": pcfg() + GOOD[0],
        "second_policy": pcfg() + POL + POL,
        "policy_differs": pcfg() + frame(POLICY, policy_payload(max_body=0)),
        "policy_forbidden_header": pcfg(preload=False) + frame(
            POLICY, policy_payload(req=["accept", "authorization"])),
        "trailing_byte": pcfg() + POL + GOOD[0][:4] + u32(len(GOOD[0]) - 16 + 1) +
        GOOD[0][8:] + b"\x00",
        "length_short": pcfg() + POL + GOOD[1][:4] + u32(len(GOOD[1]) - 16 - 3) + GOOD[1][8:-3],
        "zero_id": pcfg() + POL + request(0, "GET", "/api/agents/me"),
        "duplicate_id": pcfg(upstream="never") + POL + GOOD[0] + GOOD[0],
        "path_outside_policy": pcfg() + POL + request(9, "GET", "/api/admin/secrets"),
        "dotdot_path": pcfg() + POL + request(9, "DELETE", "/a/1/../../admin"),
        "encoded_slash": pcfg() + POL + request(9, "DELETE", "/a/1/%2F/x/y"),
        "trailing_slash": pcfg() + POL + request(9, "GET", "/api/agents/me/"),
        "crlf_in_path": pcfg() + POL + request(9, "GET", "/api/agents/me\r\nx: 1"),
        "bad_query": pcfg() + POL + request(9, "GET", "/api/agents/me", query="a b\r\n"),
        "query_without_flag": pcfg() + POL + frame(REQUEST, s("GET") + s("/api/agents/me") +
                                                   u8(0) + s("a=1") + s("p") + u16(0) +
                                                   u8(0) + u8(0) + s("") + u32(0), 9),
        "wire_v2_request": pcfg() + POL + frame(REQUEST, s("GET") + s("/api/agents/me") +
                                                u8(0) + s("") + s("p") + u16(0) + u32(0), 9),
        "crlf_in_header": pcfg() + POL + request(9, "GET", "/api/agents/me",
                                                 headers=[("accept", "a\r\nx-evil: 1")]),
        "nul_in_string": pcfg() + POL + request(9, "GET", "/api/agents/me\x00x"),
        "forbidden_header": pcfg() + POL + request(9, "GET", "/api/agents/me",
                                                   headers=[("authorization", "Bearer x")]),
        "header_not_allowlisted": pcfg() + POL + request(9, "GET", "/api/agents/me",
                                                         headers=[("x-evil", "1")]),
        "header_upper_case": pcfg() + POL + request(9, "GET", "/api/agents/me",
                                                    headers=[("Accept", "x")]),
        "duplicate_header": pcfg() + POL + request(9, "GET", "/api/agents/me",
                                                   headers=[("accept", "a"), ("accept", "b")]),
        "bad_method": pcfg() + POL + request(9, "get", "/api/agents/me"),
        "body_on_get": pcfg() + POL + request(9, "GET", "/api/agents/me", body=b"{}"),
        "body_over_limit": pcfg(body=16) + POL + request(
            9, "POST", "/api/issues/1/comments", body=b'{"body":"' + b"x" * 40 + b'"}'),
        "huge_nheaders": pcfg() + POL + frame(REQUEST, s("GET") + s("/api/agents/me") + u8(0) +
                                              s("") + s("p") + u16(65535), 9),
        # MSG_ACCESS: a request the child answered itself, for the parent's
        # access log; well-formed (passes) and three that kill the child.
        "access_ok": pcfg() + POL + access(),
        "access_then_request": pcfg() + POL + access() + GOOD[0],
        "access_status_99": pcfg() + POL + access(status=99),
        "access_nonzero_id": pcfg() + POL + access(mid=7),
        "access_before_policy": pcfg(preload=False) + access(),
        # A peer longer than KH_PEER_MAX: a protocol violation.
        "long_peer": pcfg() + POL + request(1, "GET", "/api/agents/me", peer="1" * 128),
        # Liveness: the harness never pings, so any MSG_PONG answers nothing.
        "pong_unasked": pcfg() + POL + GOOD[0] + frame(PONG, b"", 0x1122334455667788),
        "pong_before_policy": pcfg() + frame(PONG, b"", 1),
        # Reload: MSG_RETIRED answers a MSG_RETIRE the harness never sends.
        "retired_unasked": pcfg() + POL + GOOD[0] + frame(RETIRED),
        "retired_before_policy": pcfg(preload=False) + frame(RETIRED),
    }
    # The harness's PRNG (seeded by the whole input) may deliver SIGTERM
    # before a seed's requests arrive, and a draining parent answers them
    # 503: each seed that should forward gets variants that differ only
    # in a trailing log line, so some of them reach upstream_start.
    for name in ("v2_serve", "v2_media_ok", "v2_media_text", "v2_keys_escaped_listed",
                 "serve_first_policy"):
        for k in range(1, 4):
            seeds["%s_%d" % (name, k)] = seeds[name] + log(3, "pad %d" % k)
    return seeds


# fuzz_child_msgs configuration byte: bit 0 serving, bits 1-3 pending
# requests (ids 1..N), bits 4-6 other clients, bit 7 HTTP/1.0.
def ccfg(serving=True, pending=3, others=3, http10=False):
    return bytes([(1 if serving else 0) | pending << 1 | others << 4 | (0x80 if http10 else 0)])


def response(mid, status=200, headers=(("content-type", "application/json"),), body=b"{}"):
    p = u16(status) + u16(len(headers))
    for name, value in headers:
        p += s(name) + s(value)
    return frame(RESPONSE, p + u32(len(body)) + body, mid)


def child_seeds():
    return {
        "metrics_text_without_listener": ccfg() + frame(METRICS_TEXT, s("# x\n"), mid=1),
        "policy_ok_then_answers": ccfg(serving=False) + frame(POLICY_OK),
        "answers": ccfg() + response(1) + response(2, 201, [("etag", '"v2"')], b'{"id":1}') +
        response(3, 409, [("content-type", "application/json"),
                          ("x-paperclip-bridge-outcome", "indeterminate")], b'{"error":"x"}'),
        "answers_http10": ccfg(http10=True) + response(2, 204, [], b"") + response(1, 304, [], b"x"),
        "shutdown_then_answers": ccfg(pending=2, others=4) + frame(SHUTDOWN) + response(2) + response(1),
        "shutdown_idle": ccfg(pending=0, others=0) + frame(SHUTDOWN),
        "shutdown_twice": ccfg(pending=1, others=1) + frame(SHUTDOWN) + frame(SHUTDOWN) + response(1),
        "unknown_id": ccfg() + response(7),
        "zero_id": ccfg() + response(0),
        "answer_twice": ccfg() + response(1) + response(1),
        "policy_ok_twice": ccfg() + frame(POLICY_OK),
        "response_before_policy_ok": ccfg(serving=False) + response(1),
        "status_1xx": ccfg() + response(1, 101),
        "status_600": ccfg() + response(1, 600),
        "crlf_in_value": ccfg() + response(1, 200, [("etag", '"a"\r\nset-cookie: x=1')]),
        "header_name_upper": ccfg() + response(1, 200, [("ETag", "x")]),
        "header_name_space": ccfg() + response(1, 200, [("e tag", "x")]),
        "too_many_headers": ccfg() + response(1, 200, [("etag", "x")] * 33),
        "trailing_byte": ccfg() + response(1)[:4] + u32(len(response(1)) - 16 + 1) +
        response(1)[8:] + b"\x00",
        "bad_version": ccfg() + frame(SHUTDOWN, version=0),
        "unknown_type": ccfg() + frame(3),
        "shutdown_payload": ccfg() + frame(SHUTDOWN, b"\x00"),
        "split_header": ccfg() + response(1) + response(2)[:10],
        # Liveness: each ping answered with its own id, also while shutting down.
        "pings": ccfg() + frame(PING, mid=0x1122334455667788) + response(1) +
        frame(PING, mid=2) + frame(PING, mid=2),
        "ping_while_shutting_down": ccfg(pending=1, others=0) + frame(SHUTDOWN) +
        frame(PING, mid=9) + response(1),
        "ping_before_policy_ok": ccfg(serving=False) + frame(PING, mid=1),
        "ping_zero_id": ccfg() + frame(PING, mid=0),
        "ping_payload": ccfg() + frame(PING, b"\x00", 1),
        # Reload: retired with requests pending and clients open, then
        # answered; retired with nothing (exits at once); once only;
        # never after shutdown; the token's bounds and bytes.
        "retire_then_answers": ccfg(pending=3, others=3) + frame(RETIRE, s("new-token-0123456789")) +
        frame(PING, mid=5) + response(1) + response(2, 201) + response(3),
        "retire_idle": ccfg(pending=0, others=0) + frame(RETIRE, s("new-token-0123456789")),
        "retire_then_shutdown": ccfg(pending=1, others=2) + frame(RETIRE, s("t" * 512)) +
        frame(SHUTDOWN) + response(1),
        "retire_twice": ccfg(pending=1, others=1) + frame(RETIRE, s("t" * 16)) + frame(RETIRE, s("t" * 16)),
        "retire_after_shutdown": ccfg(pending=1, others=0) + frame(SHUTDOWN) + frame(RETIRE, s("t" * 16)),
        "retire_before_policy_ok": ccfg(serving=False) + frame(RETIRE, s("t" * 16)),
        "retire_token_short": ccfg() + frame(RETIRE, s("t" * 15)),
        # Empty: what a queue-only bridge without a token sends (the
        # harness's child has no listener, so it is accepted).
        "retire_token_empty": ccfg(pending=1, others=0) + frame(RETIRE, s("")) + response(1),
        "retire_token_long": ccfg() + frame(RETIRE, s("t" * 513)),
        "retire_token_space": ccfg() + frame(RETIRE, s("token with spaces 0123")),
        "retire_trailing": ccfg() + frame(RETIRE, s("t" * 16) + b"\x00"),
        "retire_nonzero_id": ccfg() + frame(RETIRE, s("t" * 16), 3),
        "queue_start_without_queue": ccfg() + frame(QUEUE_START),
    }


def config_payload(max_conns=1024, max_conns_per_peer=512, max_inflight=64, max_head=16384, max_headers=64,
                   max_body=1 << 20, head_ms=10000, body_ms=30000, idle_ms=60000,
                   write_ms=30000, min_rate=1024,
                   nlisteners=1, drop_user=0, uid=0, gid=0, do_chroot=0, chroot_dir="",
                   token="bridge-token-0123456789abcdef", policy_name="paperclip.policy",
                   queue=0, queue_inotify=0, queue_poll_ms=0, queue_chroot=0,
                   bindings=(), mutations_used=0, forbid=(), metrics=0,
                   connect=0, h2_max_streams=0, h2_nonce=""):
    # child_config.h, in its order.
    return (u32(max_conns) + u32(max_conns_per_peer) + u32(max_inflight) + u32(max_head) + u32(max_headers) +
            u64(max_body) + u32(head_ms) + u32(body_ms) + u32(idle_ms) + u32(write_ms) +
            u32(min_rate) + u8(nlisteners) +
            u8(drop_user) + u32(uid) + u32(gid) + u8(do_chroot) + s(chroot_dir) + s(token) +
            s(policy_name) + u8(queue) + u8(queue_inotify) + u32(queue_poll_ms) +
            u8(queue_chroot) + u8(len(bindings)) +
            b"".join(s(k) + s(v) for k, v in bindings) + u32(mutations_used) +
            u8(len(forbid)) + b"".join(s(n) for n in forbid) + u8(metrics) +
            u8(connect) + u32(h2_max_streams) + s(h2_nonce))


def config_seeds():
    return {
        "defaults": config_payload(),
        "root_confined": config_payload(drop_user=1, uid=65534, gid=65534, do_chroot=1,
                                        chroot_dir="/var/empty", nlisteners=8),
        "limits_max": config_payload(max_conns=16384, max_conns_per_peer=16384,
                                     max_inflight=4096, max_head=65536,
                                     max_headers=128, max_body=8 << 20, head_ms=3600000,
                                     body_ms=3600000, idle_ms=3600000, token="t" * 512),
        "limits_min": config_payload(max_conns=1, max_conns_per_peer=0, max_inflight=1,
                                     max_head=256, max_headers=1, max_body=0, head_ms=1,
                                     body_ms=1, idle_ms=1, token="t" * 16),
        "token_short": config_payload(token="t" * 15),
        "chroot_relative": config_payload(do_chroot=1, chroot_dir="var/empty"),
        "uid_root": config_payload(drop_user=1, uid=0, gid=65534),
        "bool_2": config_payload(drop_user=2, uid=1, gid=1),
        "queue_inotify": config_payload(queue=1, queue_inotify=1, queue_poll_ms=100,
                                        nlisteners=0),
        "queue_chroot_and_chroot": config_payload(queue=1, queue_chroot=1, queue_poll_ms=100,
                                                  do_chroot=1, chroot_dir="/var/empty"),
        "bindings": config_payload(bindings=(("issue", "BRI-7"), ("company", "c%201")),
                                   mutations_used=41),
        "binding_dup": config_payload(bindings=(("issue", "a"), ("issue", "b"))),
        # http2_v1 (--connect): no listener, fds 19-21, a 32-hex nonce.
        "connect": config_payload(nlisteners=0, connect=1, h2_max_streams=4,
                                  h2_nonce="0123456789abcdef0123456789abcdef"),
        "connect_nonce_upper": config_payload(nlisteners=0, connect=1, h2_max_streams=4,
                                              h2_nonce="0123456789ABCDEF0123456789abcdef"),
        "connect_streams_over": config_payload(nlisteners=0, connect=1, h2_max_streams=65,
                                               h2_nonce="0123456789abcdef0123456789abcdef"),
        "connect_off_with_nonce": config_payload(h2_nonce="0123456789abcdef0123456789abcdef"),
        "binding_dotdot": config_payload(bindings=(("issue", ".."),)),
        "write_timeout_zero": config_payload(write_ms=0),
        "per_peer_over_max": config_payload(max_conns=10, max_conns_per_peer=11),
        "trailing": config_payload() + b"\x00",
        "forbid_metrics": config_payload(forbid=("x-api-key", "x-github-api-version"), metrics=1),
        "forbid_upper": config_payload(forbid=("X-Api-Key",)),
        "forbid_dup": config_payload(forbid=("x-api-key", "x-api-key")),
        "forbid_empty": config_payload(forbid=("",)),
        "metrics_2": config_payload(metrics=2),
        "queue_only_no_token": config_payload(queue=1, queue_poll_ms=100, nlisteners=0, token=""),
        "listener_no_token": config_payload(token=""),
    }


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for fname, data in seeds.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("parent_msgs", parent_seeds())
    write("child_msgs", child_seeds())
    write("child_config", config_seeds())
