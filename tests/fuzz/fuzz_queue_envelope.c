/*
 * libFuzzer harness for the queue_v1 request envelope parser
 * (src/parse/queue_envelope.c): the JSON a sandbox writes into
 * requests/<id>.json.
 *
 * Input: one configuration byte, then the file's bytes.
 *   bits 0-1   lim.max_body    { 0, 16, 4096, KH_BODY_MAX }
 *   bits 2-3   lim.max_headers { 0, 2, KH_DEF_HEADERS, KH_HEADERS_MAX + 8 }
 *
 * Properties (abort() when broken):
 *  - the status is 0, 400 or 413, and the same bytes give the same answer;
 *  - an accepted envelope only holds what keyhole may forward: a valid id,
 *    a method keyhole forwards, a canonical path (what the parent
 *    re-checks), a valid query, lower-case token header names without
 *    duplicates, forwardable values (no CR, LF, NUL or other control),
 *    at most max_headers of them, a body within max_body;
 *  - the response codec round-trips the accepted body through base64;
 *  - the duplicate-key check agrees with the pairwise loop on every object
 *    of the file and stays within n log n comparisons (keys_property.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hdr.h"
#include "path.h"
#include "policy_table.h"
#include "qcodec.h"
#include "queue_envelope.h"
#include "util.h"
#include "keys_property.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check(const struct qenv *e, const struct qenv_limits *lim)
{
	if (!qc_id_valid(e->id, strlen(e->id)) ||
	    !policy_method_valid(e->method, strlen(e->method)) ||
	    strlen(e->path) != e->path_len ||
	    !path_is_canonical(e->path, e->path_len) ||
	    (!e->has_query && e->query_len != 0) ||
	    !query_is_valid((const uint8_t *)e->query, e->query_len) ||
	    e->nheaders > lim->max_headers || e->body_len > lim->max_body ||
	    (e->body_len > 0 && e->body == NULL))
		abort();
	for (size_t i = 0; i < e->nheaders; i++) {
		const struct qenv_header *h = &e->headers[i];
		if (strlen(h->name) != h->nlen || strlen(h->value) != h->vlen ||
		    !hdr_lower_token(h->name, h->nlen) ||
		    !hdr_value_forwardable(h->value, h->vlen))
			abort();
		for (size_t k = 0; k < i; k++)
			if (strcmp(e->headers[k].name, h->name) == 0)
				abort();
	}
	struct sbuf s;
	sbuf_init(&s, qc_b64_len(e->body_len) + 1);
	sbuf_add_b64(&s, e->body, e->body_len);
	if (s.failed)
		abort();
	uint8_t *back = malloc(e->body_len + 1);
	if (back == NULL ||
	    qc_b64_decode(s.buf ? s.buf : "", s.len, back, e->body_len) !=
	    (long long)e->body_len ||
	    (e->body_len > 0 && memcmp(back, e->body, e->body_len) != 0))
		abort();
	free(back);
	sbuf_free(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t bodies[] = { 0, 16, 4096, KH_BODY_MAX };
	static const size_t headers[] = { 0, 2, KH_DEF_HEADERS, KH_HEADERS_MAX + 8 };
	struct qenv_limits lim;
	struct qenv e1, e2;
	const char *why;
	int r1, r2;

	if (size < 1)
		return 0;
	lim.max_body = bodies[data[0] & 3];
	lim.max_headers = headers[(data[0] >> 2) & 3];
	r1 = qenv_parse(data + 1, size - 1, &lim, &e1, &why);
	r2 = qenv_parse(data + 1, size - 1, &lim, &e2, &why);
	if ((r1 != 0 && r1 != 400 && r1 != 413) || r1 != r2)
		abort();
	if (r1 == 0) {
		struct qenv_limits eff = lim;
		if (eff.max_headers > KH_HEADERS_MAX)
			eff.max_headers = KH_HEADERS_MAX;
		fuzz_check(&e1, &eff);
		if (e1.body_len != e2.body_len || strcmp(e1.path, e2.path) != 0)
			abort();
	} else if (r1 != 400 && r1 != 413) {
		abort();
	}
	qenv_free(&e1);
	qenv_free(&e2);
	fuzz_keys_property_text(data + 1, size - 1);
	return 0;
}
