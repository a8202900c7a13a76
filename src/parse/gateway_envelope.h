/*
 * keyhole-gateway: the request file it writes into requests/<id>.json
 * (gateway_envelope.c), exactly Paperclip's gateway format:
 *
 *   {"id","method","path","query":"?…"|"","headers":{…},"body":"…",
 *    "bodyEncoding":"base64"?,"createdAt"}
 *
 * Pure (no I/O), so tests/fuzz/fuzz_gateway_request.c can check that the
 * host's parser (queue_envelope.c) reads back exactly the request the
 * gateway accepted.
 */
#ifndef KH_GATEWAY_ENVELOPE_H
#define KH_GATEWAY_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_parse.h"
#include "qcodec.h"

/* Paperclip's header allowlist for what goes into a request file. */
extern const char *const gw_fwd_headers[];

/* Appends the envelope of request r with body[0..blen) to s (check
 * s->failed: the buffer's limit is the envelope limit).  The body goes in
 * base64 when asked or when it is not plain UTF-8 text (NUL, controls or
 * invalid UTF-8 would not survive as a JSON string). */
void gw_envelope_build(struct sbuf *s, const char *id,
    const struct http_req *r, const uint8_t *body, size_t blen, bool base64,
    const char *created_at);

#endif
