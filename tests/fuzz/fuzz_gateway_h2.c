/*
 * libFuzzer harness for keyhole-gateway's HTTP/2 client session
 * (src/parse/gateway_h2.c): the bytes its host sends on its stdin in
 * http2_v1 mode, parsed by nghttp2 and judged by the gateway before an
 * agent sees an answer.
 *
 * Input: one configuration byte, then the host's bytes.
 *   bits 0-1   requests submitted first: 1..4 (streams 1, 3, 5, 7)
 *   bit 2      they carry a body (POST) rather than none (GET)
 *   bit 3      stream 3 is cancelled halfway through the input
 *   bits 4-5   max_body { 0, 16, 4096, KH_GW_BODY_MAX }
 *   bits 6-7   the host's bytes fed in chunks of { all, 1, 7, 1000 }
 * The gateway's own output is taken after every chunk (and dropped).
 *
 * Properties (abort() when broken):
 *  - every request submitted ends in exactly one callback (answer or
 *    fail), but the cancelled one, which gets none; none after the
 *    session is freed;
 *  - an answer: status 200..599; 409 exactly when it carries
 *    x-paperclip-bridge-outcome: indeterminate (the host's status
 *    otherwise); at most KH_FWD_HEADERS_MAX fields, each a lower-case
 *    token name and a value of 0x20..0x7e/HTAB (checked here byte by
 *    byte), none of them content-length; a body of at most max_body bytes;
 *  - nothing the host did not send: an answered stream had a HEADERS frame
 *    with its id in the host's bytes, and its body is no longer than the
 *    DATA payload the host sent on it (a walk of the frames written here);
 *  - a failure of a request whose HEADERS never went out is GH2_REFUSED;
 *  - once the session reports a fatal error it stays over.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NREQ 4

struct fz_req {
	int calls;
	bool cancelled;
	bool answered;
	size_t blen;
};

static struct fz_req R[NREQ];
static bool freed;
static const uint64_t fz_bodies[4] = { 0, 16, 4096, KH_GW_BODY_MAX };
static uint64_t max_body;

static bool
fz_lower_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void
fz_answer(void *ctx, const struct gh2_answer *a)
{
	struct fz_req *r = ctx;
	bool outcome = false;

	if (freed || r->cancelled || r->calls++ != 0)
		abort();
	r->answered = true;
	r->blen = a->blen;
	if (a->status < 200 || a->status > 599 || a->nh > KH_FWD_HEADERS_MAX ||
	    a->blen > max_body || (a->blen > 0 && a->body == NULL))
		abort();
	for (size_t i = 0; i < a->nh; i++) {
		const char *n = a->names[i];
		size_t nl = strlen(n);
		if (nl == 0 || strcmp(n, "content-length") == 0 ||
		    strlen(a->values[i]) != a->vlens[i])
			abort();
		for (size_t j = 0; j < nl; j++)
			if (!fz_lower_tchar((unsigned char)n[j]))
				abort();
		for (size_t j = 0; j < a->vlens[i]; j++) {
			unsigned char c = (unsigned char)a->values[i][j];
			if ((c < 0x20 && c != '\t') || c > 0x7e)
				abort();
		}
		if (strcmp(n, "x-paperclip-bridge-outcome") == 0 &&
		    strcmp(a->values[i], "indeterminate") == 0)
			outcome = true;
	}
	if (outcome != a->indeterminate || (outcome && a->status != 409))
		abort();
}

static void
fz_fail(void *ctx, enum gh2_fail why, bool sent)
{
	struct fz_req *r = ctx;

	if (r->cancelled || r->calls++ != 0)
		abort();
	if (!sent && why != GH2_REFUSED)
		abort();
	if ((unsigned)why > GH2_SESSION)
		abort();
}

/* The host's frames as nghttp2 reads them from offset 0 (the server
 * sends no preface): does stream sid have a HEADERS or CONTINUATION
 * frame, and how many DATA payload bytes (padding included)? */
static void
fz_walk(const uint8_t *p, size_t n, int32_t sid, bool *headers, size_t *data)
{
	*headers = false;
	*data = 0;
	for (size_t off = 0; off + 9 <= n;) {
		size_t len = (size_t)p[off] << 16 | (size_t)p[off + 1] << 8 |
		    p[off + 2];
		uint8_t type = p[off + 3];
		int32_t id = (int32_t)(((uint32_t)p[off + 5] << 24 |
		    (uint32_t)p[off + 6] << 16 | (uint32_t)p[off + 7] << 8 |
		    p[off + 8]) & 0x7fffffff);
		if (id == sid && (type == 1 || type == 9))
			*headers = true;
		if (id == sid && type == 0)
			*data += len < n - off - 9 ? len : n - off - 9;
		off += 9 + len;
	}
}

static void
fz_drain(struct gh2 *s)
{
	const uint8_t *p;

	for (int i = 0; i < 10000 && gh2_send(s, &p) > 0; i++)
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[4] = { 0, 1, 7, 1000 };
	const struct gh2_callbacks cb = { fz_answer, fz_fail, NULL };
	struct gh2_limits lim;
	struct gh2 *s;
	int32_t ids[NREQ];
	size_t nreq, chunk, off = 0;
	bool fatal = false;

	if (size < 1)
		return 0;
	nreq = (size_t)(data[0] & 3) + 1;
	max_body = fz_bodies[(data[0] >> 4) & 3];
	chunk = chunks[(data[0] >> 6) & 3];
	lim.max_body = max_body;
	memset(R, 0, sizeof(R));
	freed = false;
	if ((s = gh2_new(&lim, &cb, NULL)) == NULL)
		return 0;
	for (size_t i = 0; i < nreq; i++) {
		static const char *const names[] = { "content-type" };
		static const char *const values[] = { "application/json" };
		static const size_t vlens[] = { 16 };
		struct gh2_request rq = { 0 };
		bool post = data[0] & 4;
		rq.method = post ? "POST" : "GET";
		rq.path = "/api/issues/i-1/comments";
		rq.path_len = strlen(rq.path);
		rq.query = "a=1";
		rq.query_len = i & 1 ? 3 : 0;
		rq.token = "token";
		rq.token_len = 5;
		rq.names = names;
		rq.values = values;
		rq.vlens = vlens;
		rq.nh = post;
		if (post && (rq.body = malloc(20)) != NULL) {
			memset(rq.body, '{', 20);
			rq.blen = 20;
		}
		ids[i] = gh2_submit(s, &rq, &R[i]);
		if (ids[i] != (int32_t)(2 * i + 1))
			abort();
	}
	fz_drain(s);
	data++;
	size--;
	while (off < size) {
		size_t n = chunk == 0 || chunk > size - off ? size - off : chunk;
		if ((data[-1] & 8) && nreq > 1 && off >= size / 2 &&
		    !R[1].cancelled && R[1].calls == 0) {
			R[1].cancelled = true;
			(void)gh2_cancel(s, ids[1]);
		}
		int rc = gh2_recv(s, data + off, n);
		if (fatal && rc == 0)
			abort();		/* a fatal session stays over */
		if (rc < 0) {
			fatal = true;
			if (!gh2_over(s))
				abort();
		}
		fz_drain(s);
		off += n;
	}
	for (size_t i = 0; i < nreq; i++) {
		bool headers;
		size_t dlen;
		if (!R[i].answered)
			continue;
		fz_walk(data, size, ids[i], &headers, &dlen);
		if (!headers || R[i].blen > dlen)
			abort();
	}
	gh2_free(s);
	freed = true;
	for (size_t i = 0; i < nreq; i++)
		if (R[i].calls != (R[i].cancelled ? 0 : 1))
			abort();
	return 0;
}
