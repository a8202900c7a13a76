/*
 * keyhole-gateway's side of Paperclip's http2_v1 transport: one HTTP/2
 * client session (nghttp2) over the gateway's stdin/stdout, one stream per
 * agent request (gateway_h2.c).  Pure: bytes in (gh2_recv), bytes out
 * (gh2_send), results through callbacks; no I/O, no clock, so the fuzz
 * harness tests/fuzz/fuzz_gateway_h2.c runs exactly this code.  The I/O,
 * deadlines and agent connections are src/gateway/gateway_stdio.c's.
 *
 * What goes out, per request, as Paperclip's gateway sends it
 * (sandbox-callback-bridge.js, gen:524-576): HEADERS with :method,
 * :scheme http, :authority bridge.internal:80, :path (the canonical path
 * and ?query), authorization: Bearer <PAPERCLIP_BRIDGE_TOKEN>, the agent's
 * forwarded headers; the body (already complete) as DATA with END_STREAM.
 * Client SETTINGS: no push, no streams opened by the host, a bounded
 * header list.
 *
 * What comes back is checked before an agent sees it: a final :status
 * 200..599 (1xx informational answers skipped), at most
 * KH_FWD_HEADERS_MAX fields of lower-case token names and values of
 * 0x20..0x7e/HTAB (hdr.h), at most KH_GW_H2_HEADER_LIST_MAX bytes of
 * header list, content-length dropped (the gateway frames its own answer),
 * trailers ignored, a body of at most max_body bytes (else the stream is
 * cancelled).  x-paperclip-bridge-outcome: indeterminate makes the status
 * 409, as Paperclip's gateway does (gen:613-625).
 *
 * Every request submitted ends in exactly one callback: answer or fail,
 * unless the caller cancelled it first (gh2_cancel), and gh2_free fails
 * what is still open.
 */
#ifndef KH_GATEWAY_H2_H
#define KH_GATEWAY_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kh_limits.h"

struct gh2;

/* A request as keyhole's HTTP/1.1 parser left it (strings checked). */
struct gh2_request {
	const char *method;		/* upper-case token */
	const char *path;		/* canonical, path_len bytes */
	size_t path_len;
	const char *query;		/* without '?', query_len bytes */
	size_t query_len;
	const char *token;		/* the bridge token, token_len bytes */
	size_t token_len;
	const char *const *names;	/* forwarded fields: lower-case names */
	const char *const *values;
	const size_t *vlens;
	size_t nh;
	uint8_t *body;			/* malloc'd or NULL; the session owns
					   it from the call on, even when the
					   call fails */
	size_t blen;
};

/* The host's answer, checked (see the top).  Pointers are valid during
 * the callback only. */
struct gh2_answer {
	int status;			/* 200..599; 409 when indeterminate */
	bool indeterminate;
	size_t nh;
	const char *names[KH_FWD_HEADERS_MAX];
	const char *values[KH_FWD_HEADERS_MAX];
	size_t vlens[KH_FWD_HEADERS_MAX];
	const uint8_t *body;
	size_t blen;
};

/* Why a request ended without an answer. */
enum gh2_fail {
	GH2_REFUSED,		/* the host never took it (REFUSED_STREAM, a
				   GOAWAY below it, or never sent): safe to
				   answer 503 whatever the method */
	GH2_RESET,		/* the stream ended without a whole answer */
	GH2_BAD_STATUS,		/* :status not 200..599 (after any 1xx) */
	GH2_BAD_HEADER,		/* a field the gateway does not pass on,
				   too many, or too large a header list */
	GH2_TOO_LARGE,		/* the body went over max_body */
	GH2_SESSION,		/* the session ended with the request open */
};

struct gh2_callbacks {
	/* ctx is what gh2_submit was given for the request. */
	void (*answer)(void *ctx, const struct gh2_answer *a);
	/* sent: its HEADERS went out, so the host may have acted on it. */
	void (*fail)(void *ctx, enum gh2_fail why, bool sent);
	/* The host sent GOAWAY (the session ends once what it still
	 * serves is answered). */
	void (*goaway)(void *arg, uint32_t error_code, int32_t last_stream_id);
};

struct gh2_limits {
	uint64_t max_body;		/* answer body bytes per request */
};

/* A new client session with its SETTINGS queued (gh2_send writes the
 * preface and them first).  NULL when out of memory. */
struct gh2 *gh2_new(const struct gh2_limits *lim,
    const struct gh2_callbacks *cb, void *arg);
/* Ends every request still open with fail(GH2_SESSION, or GH2_REFUSED for
 * one never sent) and frees the session. */
void gh2_free(struct gh2 *s);

/* Queue one request.  Returns its stream id (> 0), or -1 when the session
 * takes no new request (going away, over, out of stream ids or memory):
 * then no callback follows and the caller answers it itself. */
int32_t gh2_submit(struct gh2 *s, const struct gh2_request *rq, void *ctx);
/* The caller answers the request itself (its deadline): no callback for
 * it any more; the stream is reset (CANCEL) if it is open.  Returns
 * whether its HEADERS had gone out (the host may have acted on it). */
bool gh2_cancel(struct gh2 *s, int32_t stream_id);

/* Bytes from the host.  Returns 0, or -1 when the session is over with a
 * fatal error (gh2_reason says which). */
int gh2_recv(struct gh2 *s, const uint8_t *in, size_t len);
/* The next bytes for the host, *out valid until the next call into the
 * session: their length, 0 when nothing is to be sent now, -1 on a fatal
 * error. */
long gh2_send(struct gh2 *s, const uint8_t **out);

/* Graceful end (SIGTERM, nothing in flight): GOAWAY(NO_ERROR) queued. */
void gh2_shutdown(struct gh2 *s);
/* The session has nothing more to read or write: over. */
bool gh2_over(const struct gh2 *s);
/* Streams submitted and not yet ended. */
size_t gh2_open(const struct gh2 *s);
/* Why the session ended ("" while it has not): for the log. */
const char *gh2_reason(const struct gh2 *s);

#endif
