/*
 * libFuzzer harness for the strict HTTP/1.1 parser (src/parse/http_parse.c).
 *
 * Input: one configuration byte, then the bytes a client would send.
 *   bit 0      0 = head (http_head_end, http_head_parse, then the chunked
 *              body when the head says so); 1 = chunked decoder only
 *   bits 1-2   lim.max_head   { 64, 512, KH_DEF_HEAD, KH_HEAD_MAX }
 *   bits 3-4   lim.max_fields { 1, 4, KH_DEF_HEADERS, KH_HEADERS_MAX + 8 }
 *   bits 5-6   lim.max_body   { 0, 16, 4096, KH_BODY_MAX }
 * ('T' = head mode with default-ish limits, 'U' = chunked mode.)
 *
 * Properties (abort() when broken):
 *  - the same bytes give the same answer whole and split into pieces whose
 *    sizes come from a PRNG seeded with the input: http_head_end on a
 *    growing prefix, the chunked decoder on successive pieces (same status,
 *    same bytes consumed, same body);
 *  - a parsed request only holds what the parser promises (allowed method,
 *    canonical path, valid query, bounded fields pointing into the head,
 *    no CR/LF/NUL in any value, body within max_body);
 *  - http_head_parse accepts a buffer only if http_head_end would have
 *    delimited exactly that buffer;
 *  - the decoder's data spans lie inside the bytes it reports consumed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "path.h"

static struct http_req fuzz_req;

/* FNV-1a: the piece sizes are a function of the input, so a crash
 * reproduces from the input alone. */
static uint64_t
fuzz_seed(const uint8_t *d, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ d[i]) * 1099511628211ULL;
	return h | 1;
}

/* Next piece size in 1..left: mostly tiny (1-8 bytes, where boundary
 * bugs live), sometimes up to 256. */
static size_t
fuzz_piece(uint64_t *s, size_t left)
{
	size_t n;

	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	n = (*s & 3) == 0 ? (size_t)(*s >> 8) % 256 + 1 :
	    (size_t)(*s >> 8) % 8 + 1;
	return n < left ? n : left;
}

/* Decode p[0..n) twice, whole and in pieces; both runs must agree. */
static void
fuzz_chunked(const uint8_t *p, size_t n, const struct http_limits *lim,
    uint64_t seed)
{
	struct http_chunked c;
	uint8_t *body = malloc(n + 1);
	size_t off = 0, blen = 0, off2 = 0, blen2 = 0, used, dlen;
	const uint8_t *data;
	int r = HTTP_NEED_MORE, r2 = HTTP_NEED_MORE;

	if (body == NULL)
		abort();
	http_chunked_init(&c, lim);
	while (r == HTTP_NEED_MORE && off < n) {
		r = http_chunked_feed(&c, p + off, n - off, &used, &data,
		    &dlen);
		if (used == 0 || used > n - off)
			abort();
		if (dlen > 0) {
			if (r != HTTP_NEED_MORE || data < p + off ||
			    data + dlen > p + off + used)
				abort();
			memcpy(body + blen, data, dlen);
			blen += dlen;
		}
		off += used;
	}
	if (c.total > lim->max_body || blen > c.total)
		abort();
	if (r == HTTP_OK && blen != c.total)
		abort();
	if (r != HTTP_NEED_MORE) {
		/* Finished or failed for good: nothing more is consumed. */
		if (http_chunked_feed(&c, p, n, &used, &data, &dlen) != r ||
		    used != 0 || dlen != 0)
			abort();
	}

	http_chunked_init(&c, lim);
	while (r2 == HTTP_NEED_MORE && off2 < n) {
		size_t end = off2 + fuzz_piece(&seed, n - off2);

		while (r2 == HTTP_NEED_MORE && off2 < end) {
			r2 = http_chunked_feed(&c, p + off2, end - off2, &used,
			    &data, &dlen);
			if (used == 0 || used > end - off2)
				abort();
			if (dlen > 0) {
				if (data < p + off2 ||
				    data + dlen > p + off2 + used ||
				    blen2 + dlen > blen ||
				    memcmp(body + blen2, data, dlen) != 0)
					abort();
				blen2 += dlen;
			}
			off2 += used;
		}
	}
	if (r != r2 || off != off2 || blen != blen2)
		abort();
	free(body);
}

static void
fuzz_check_req(const struct http_req *req, const uint8_t *head, size_t hl,
    const struct http_limits *lim)
{
	static const char *const methods[] = {
		"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
	};
	size_t i, j, maxf;
	bool known = false;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		known |= strcmp(req->method, methods[i]) == 0;
	if (!known || (req->minor != 0 && req->minor != 1))
		abort();
	if (strlen(req->path) != req->path_len ||
	    !path_is_canonical(req->path, req->path_len))
		abort();
	if (req->query_len > KH_QUERY_MAX ||
	    strlen(req->query) != req->query_len ||
	    (!req->has_query && req->query_len != 0) ||
	    !query_is_valid((const uint8_t *)req->query, req->query_len))
		abort();
	maxf = lim->max_fields < KH_HEADERS_MAX ? lim->max_fields :
	    KH_HEADERS_MAX;
	if (req->nfields > maxf)
		abort();
	for (i = 0; i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];

		if (f->nlen == 0 || f->nlen > KH_HNAME_MAX ||
		    f->vlen > KH_HVALUE_MAX || f->name < head ||
		    f->name + f->nlen > head + hl || f->value < head ||
		    f->value + f->vlen > head + hl)
			abort();
		for (j = 0; j < f->vlen; j++)
			if (f->value[j] == '\0' || f->value[j] == '\r' ||
			    f->value[j] == '\n')
				abort();
	}
	if (req->body == HTTP_BODY_LENGTH && req->content_length >
	    lim->max_body)
		abort();
	if (req->body == HTTP_BODY_CHUNKED && req->minor != 1)
		abort();
	if (req->body != HTTP_BODY_NONE && req->content_length > 0 &&
	    (strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "HEAD") == 0))
		abort();
	if (req->minor == 1 && http_req_field(req, "host") == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t heads[] = { 64, 512, KH_DEF_HEAD, KH_HEAD_MAX };
	static const size_t fields[] = {
		1, 4, KH_DEF_HEADERS, KH_HEADERS_MAX + 8,
	};
	static const uint64_t bodies[] = { 0, 16, 4096, KH_BODY_MAX };
	struct http_limits lim;
	const uint8_t *p;
	size_t n, hl = 0, hl2 = 0, pos = 0;
	uint64_t seed;
	int r, r2 = HTTP_NEED_MORE;

	if (size < 1)
		return 0;
	lim.max_head = heads[(data[0] >> 1) & 3];
	lim.max_fields = fields[(data[0] >> 3) & 3];
	lim.max_body = bodies[(data[0] >> 5) & 3];
	p = data + 1;
	n = size - 1;
	seed = fuzz_seed(data, size);

	if (data[0] & 1) {
		fuzz_chunked(p, n, &lim, seed);
		return 0;
	}

	/* The head parser on raw bytes: it must agree with http_head_end
	 * about where a head ends whenever it accepts. */
	if (http_head_parse(p, n, &lim, &fuzz_req) == HTTP_OK) {
		if (http_head_end(p, n, &lim, &hl) != HTTP_OK || hl != n)
			abort();
		fuzz_check_req(&fuzz_req, p, n, &lim);
	}

	r = http_head_end(p, n, &lim, &hl);
	while (pos < n) {
		pos += fuzz_piece(&seed, n - pos);
		r2 = http_head_end(p, pos, &lim, &hl2);
		if (r2 != HTTP_NEED_MORE)
			break;
	}
	if (n == 0)
		r2 = http_head_end(p, 0, &lim, &hl2);
	if (r != r2 || (r == HTTP_OK && hl != hl2))
		abort();
	if (r != HTTP_OK)
		return 0;
	if (hl < 4 || hl > lim.max_head || memcmp(p + hl - 4, "\r\n\r\n", 4))
		abort();
	if (http_head_parse(p, hl, &lim, &fuzz_req) != HTTP_OK)
		return 0;
	fuzz_check_req(&fuzz_req, p, hl, &lim);
	if (fuzz_req.body == HTTP_BODY_CHUNKED)
		fuzz_chunked(p + hl, n - hl, &lim, seed);
	return 0;
}
