/*
 * keyhole http2_v1: the gateway's READY line (runs in the child only).
 *
 * Paperclip's gateway writes, once its agent listener is bound, exactly
 *
 *     {"version":2,"type":"ready","nonce":"<PAPERCLIP_BRIDGE_NONCE>"}\n
 *
 * on stdout and then the HTTP/2 client preface.  keyhole checks it byte
 * for byte (no JSON parser runs on these bytes):
 *
 *  - lines before it that are not READY-shaped are skipped as noise (a
 *    login shell's greeting), at most KH_H2_PRE_READY_MAX bytes in all;
 *  - a READY-shaped line (the prefix up to the nonce's opening quote)
 *    must carry exactly the expected nonce and end with "}" (one CR
 *    before the LF is allowed): anything else ends the session at once,
 *    as Paperclip's nonce_mismatch does;
 *  - the bytes after READY's LF are the HTTP/2 session: nghttp2 requires
 *    them to start with the preface (Paperclip skips bytes between the
 *    two; keyhole does not).
 *
 * Pure functions, no allocation, never read past len (fuzz_h2_ready.c).
 */
#ifndef KH_H2_READY_H
#define KH_H2_READY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kh_limits.h"

#define H2_READY_PREFIX "{\"version\":2,\"type\":\"ready\",\"nonce\":\""

enum h2_ready_line {
	H2R_LINE_NOISE,		/* not READY-shaped: skipped */
	H2R_LINE_READY,		/* READY with the expected nonce */
	H2R_LINE_BAD,		/* READY-shaped, wrong nonce or tail */
};

/* One line, without its LF. */
enum h2_ready_line h2_ready_line(const uint8_t *line, size_t len,
    const char *nonce, size_t nonce_len);

enum h2_ready_status {
	H2R_MORE,		/* every byte taken; READY still to come */
	H2R_READY,		/* READY seen: *used bytes taken, the rest is
				   HTTP/2 */
	H2R_BAD_NONCE,		/* a READY-shaped line with another nonce */
	H2R_TOO_MUCH,		/* KH_H2_PRE_READY_MAX bytes and no READY */
};

struct h2_ready {
	uint8_t line[KH_H2_READY_LINE_MAX];
	size_t len;		/* bytes of the current line kept */
	bool overlong;		/* current line longer than the buffer: noise */
	size_t total;		/* bytes taken before READY */
	unsigned noise;		/* lines skipped */
};

void h2_ready_init(struct h2_ready *r);
/* Take buf[0..len).  After H2R_READY, buf[*used..len) is HTTP/2.
 * H2R_BAD_NONCE and H2R_TOO_MUCH are final. */
enum h2_ready_status h2_ready_feed(struct h2_ready *r, const uint8_t *buf,
    size_t len, const char *nonce, size_t nonce_len, size_t *used);

#endif
