/*
 * keyhole's HTTP/1.1 answers to a client, written by keyhole-net and
 * keyhole-gateway alike (http_write.c): the status line with its reason
 * phrase, the header lines, content-length, connection, the body.  The
 * names and values have been checked by the caller (hdr.h); nothing here
 * decides what is answered.
 */
#ifndef KH_HTTP_WRITE_H
#define KH_HTTP_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "paperclip.h"

struct evbuffer;

/* http_write_response flags. */
#define HTTP_W_HEAD		0x1u	/* the request was HEAD: no body bytes */
#define HTTP_W_HEAD_UNKNOWN	0x2u	/* ... and an empty body is one whose
					   length is unknown (an upstream's
					   HEAD answer): no content-length */
#define HTTP_W_CLOSE		0x4u	/* connection: close */
#define HTTP_W_KEEP_ALIVE	0x8u	/* connection: keep-alive (HTTP/1.0) */

/* One response into out: a status outside 100..599 is written 502; a
 * bodyless status gets neither a body nor a content-length. */
void http_write_response(struct evbuffer *out, int status,
    const char *const *names, const char *const *values, const size_t *vlens,
    size_t n, const uint8_t *body, size_t blen, unsigned flags);

/* The whole answer of contract entry id (no template fields) for a
 * connection about to be closed, made once and kept: content-type
 * application/json, content-length, connection: close, the body.  For
 * sockets answered without a buffer (a refused connection). */
const char *http_closing_answer(enum pc_id id, size_t *len);

#endif
