/*
 * libFuzzer harness for the queue_v1 round trip of a request: what
 * keyhole-gateway writes into requests/<id>.json for a request its HTTP
 * parser accepted (src/parse/gateway_envelope.c), read back by the
 * host's envelope parser (src/parse/queue_envelope.c).
 *
 * Input: one configuration byte, then an HTTP request head followed by
 * the bytes taken as its body (framing is not the point here: the
 * http_parse harness owns it).
 *   bit 0      the body is sent base64-encoded (as for multipart uploads)
 *
 * Properties (abort() when broken):
 *  - the envelope of every request the gateway's parser accepts, with a
 *    method keyhole forwards, is accepted by the host (a gateway/host
 *    disagreement would turn an allowed request into a 400);
 *  - the host reads exactly the gateway's request: method, canonical
 *    path, query (present exactly when non-empty), the body's bytes, and
 *    each allowlisted header with its repeated values joined by ", "
 *    (valid UTF-8 values; others become "" as the format cannot carry
 *    them), and no other header;
 *  - the envelope is one line of valid UTF-8 ending in "\n".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway_envelope.h"
#include "policy_table.h"
#include "qcodec.h"
#include "queue_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_req fuzz_req;

/* The joined value of allowlisted header h in r, in out; false when r has
 * no such field. */
static bool
fuzz_joined(const struct http_req *r, const char *h, struct sbuf *out)
{
	size_t hl = strlen(h), count = 0;

	for (size_t i = 0; i < r->nfields; i++) {
		const struct http_field *f = &r->fields[i];
		if (f->nlen != hl || strncasecmp((const char *)f->name, h, hl) != 0)
			continue;
		if (count++ > 0)
			sbuf_add(out, ", ", 2);
		sbuf_add(out, f->value, f->vlen);
	}
	return count > 0;
}

static void
fuzz_check(const struct http_req *r, const uint8_t *body, size_t blen,
    const struct qenv *e)
{
	size_t nh = 0;

	if (strcmp(e->method, r->method) != 0 || e->path_len != r->path_len ||
	    memcmp(e->path, r->path, r->path_len) != 0 ||
	    e->body_len != blen || (blen > 0 && memcmp(e->body, body, blen) != 0))
		abort();
	if (r->has_query && r->query_len > 0) {
		if (!e->has_query || e->query_len != r->query_len ||
		    memcmp(e->query, r->query, r->query_len) != 0)
			abort();
	} else if (e->query_len != 0 || e->has_query) {
		abort();
	}
	for (const char *const *h = gw_fwd_headers; *h != NULL; h++) {
		struct sbuf want;
		const struct qenv_header *got = NULL;
		sbuf_init(&want, KH_HEAD_MAX);
		bool present = fuzz_joined(r, *h, &want);
		for (size_t i = 0; i < e->nheaders; i++)
			if (strcmp(e->headers[i].name, *h) == 0)
				got = &e->headers[i];
		if (present != (got != NULL))
			abort();
		if (present) {
			nh++;
			if (!qc_utf8_valid((const uint8_t *)want.buf, want.len)) {
				if (got->vlen != 0)
					abort();
			} else if (got->vlen != want.len ||
			    (want.len > 0 && memcmp(got->value, want.buf, want.len) != 0)) {
				abort();
			}
		}
		sbuf_free(&want);
	}
	if (e->nheaders != nh)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char id[] = "0b6c8f4e-1d2a-4c1b-9e7f-3a5b6c7d8e9f";
	const struct http_limits hl = { KH_DEF_HEAD, KH_DEF_HEADERS, KH_BODY_MAX };
	const struct qenv_limits ql = { KH_BODY_MAX, KH_HEADERS_MAX };
	struct sbuf s;
	struct qenv e;
	const char *why;
	size_t head_len;
	bool base64;

	if (size < 1)
		return 0;
	base64 = data[0] & 1;
	data++;
	size--;
	if (http_head_end(data, size, &hl, &head_len) != HTTP_OK ||
	    http_head_parse(data, head_len, &hl, &fuzz_req) != HTTP_OK ||
	    !policy_method_valid(fuzz_req.method, strlen(fuzz_req.method)))
		return 0;
	const uint8_t *body = data + head_len;
	size_t blen = size - head_len;

	sbuf_init(&s, KH_QUEUE_ENVELOPE_MAX(KH_BODY_MAX));
	gw_envelope_build(&s, id, &fuzz_req, body, blen, base64,
	    "2026-11-22T10:00:00.000Z");
	if (s.failed)
		abort();	/* nothing here comes near the limit */
	if (s.len == 0 || s.buf[s.len - 1] != '\n' ||
	    memchr(s.buf, '\n', s.len - 1) != NULL ||
	    !qc_utf8_valid((const uint8_t *)s.buf, s.len))
		abort();
	if (qenv_parse((const uint8_t *)s.buf, s.len, &ql, &e, &why) != 0)
		abort();
	if (strcmp(e.id, id) != 0)
		abort();
	fuzz_check(&fuzz_req, body, blen, &e);
	qenv_free(&e);
	sbuf_free(&s);
	return 0;
}
