/*
 * keyhole strict HTTP/1.1 request parser (runs in the child only).
 *
 * Pure functions over (const uint8_t *buf, size_t len): no allocation, no
 * I/O, never reads past len.  libevent's evhttp is NOT used for sandbox
 * input (docs/design.md; what it refuses that the RFCs would accept:
 * SECURITY.md).  Return values: HTTP_OK, HTTP_NEED_MORE, or an
 * HTTP status code (400, 405, 413, 414, 417, 431, 501, 505) that the caller
 * answers with before closing the connection.
 */
#ifndef KH_HTTP_PARSE_H
#define KH_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kh_limits.h"

#define HTTP_OK        0
#define HTTP_NEED_MORE (-1)

enum http_body_kind {
	HTTP_BODY_NONE = 0,
	HTTP_BODY_LENGTH,	/* Content-Length: content_length bytes */
	HTTP_BODY_CHUNKED,	/* Transfer-Encoding: chunked */
};

struct http_field {
	const uint8_t *name;	/* points into the head buffer */
	size_t nlen;
	const uint8_t *value;	/* leading/trailing SP/HTAB trimmed */
	size_t vlen;
};

struct http_limits {
	size_t max_head;	/* bytes of the whole head (431 beyond) */
	size_t max_fields;	/* header fields (431 beyond); <= KH_HEADERS_MAX */
	uint64_t max_body;	/* body bytes (413 beyond, from CL or chunks) */
};

struct http_req {
	char method[KH_METHOD_MAX + 1];
	int minor;			/* HTTP/1.<minor>: 0 or 1 */
	char path[KH_PATH_MAX + 1];	/* canonical (path.h), NUL-terminated */
	size_t path_len;
	char query[KH_QUERY_MAX + 1];	/* without '?', NUL-terminated */
	size_t query_len;
	bool has_query;			/* a '?' was present (even if empty) */
	struct http_field fields[KH_HEADERS_MAX];
	size_t nfields;
	enum http_body_kind body;
	uint64_t content_length;	/* HTTP_BODY_LENGTH only */
	bool keep_alive;		/* version default + Connection header */
	bool expect_continue;		/* "Expect: 100-continue" */
};

/*
 * Find the end of the head in buf[0..len).  Returns HTTP_OK with *head_len
 * = bytes up to and including the blank line's CRLF; HTTP_NEED_MORE; 400 as
 * soon as a bare LF, a bare CR or a NUL is seen (without waiting for more
 * input); 431 when no end is found within lim->max_head bytes.  Up to
 * KH_HEAD_EMPTY_LINES_MAX empty lines (CRLF) before the request line are
 * ignored (RFC 9112 2.2) and counted in head_len and max_head; one more is
 * 400.  http_head_parse skips the same lines.
 */
int http_head_end(const uint8_t *buf, size_t len,
    const struct http_limits *lim, size_t *head_len);

/*
 * The same, resuming a scan: buf[0..from) must have been scanned before
 * (by a call that returned HTTP_NEED_MORE on a buffer of at least from+1
 * bytes), so a caller that re-scans after each read does linear, not
 * quadratic, work.  Pass from = previous length - 1 (the last byte may be
 * a CR whose LF had not arrived).
 */
int http_head_end_from(const uint8_t *buf, size_t len, size_t from,
    const struct http_limits *lim, size_t *head_len);

/*
 * Parse a complete head (buf[0..len) exactly as delimited by
 * http_head_end).  Fills req; field pointers point into buf, which must
 * outlive req.  Returns HTTP_OK or a status.
 */
int http_head_parse(const uint8_t *buf, size_t len,
    const struct http_limits *lim, struct http_req *req);

/* Reset req to "nothing parsed" (method "", no fields, no body) without
 * clearing its buffers; http_head_parse starts with it. */
void http_req_reset(struct http_req *req);

/* Case-insensitive lookup of the first field named name (lower-case). */
const struct http_field *http_req_field(const struct http_req *req,
    const char *name);

/* True when the request carries exactly one Authorization field and it is
 * "Bearer " (scheme in any case) followed by exactly token[0..len),
 * compared in constant time (util_ct_equal). */
bool http_req_bearer(const struct http_req *req, const char *token,
    size_t len);

/*
 * Incremental chunked-body decoder.  Each call consumes some bytes of
 * in[0..len) and yields at most one span of body data (*data points into
 * in).  Returns HTTP_NEED_MORE (call again with the remaining or further
 * input; *consumed > 0 whenever len > 0), HTTP_OK when the last chunk and
 * the trailer section are complete (bytes after *consumed belong to the
 * next request), or a status (400 malformed, 413 over max_body, 431 too
 * many or too large trailers).  Valid trailer fields are discarded.
 */
struct http_chunked {
	int state;
	uint64_t remaining;	/* bytes left in the current chunk */
	uint64_t total;		/* body bytes so far */
	size_t line_len;	/* bytes of the current size/trailer line */
	size_t ntrailers;
	size_t trailer_bytes;
	uint8_t line[KH_CHUNK_LINE_MAX];
	struct http_limits lim;
};

void http_chunked_init(struct http_chunked *c, const struct http_limits *lim);
int http_chunked_feed(struct http_chunked *c, const uint8_t *in, size_t len,
    size_t *consumed, const uint8_t **data, size_t *data_len);

#endif
