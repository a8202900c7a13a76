/*
 * libFuzzer harness for keyhole-gateway's response-file parser
 * (src/parse/gateway_response.c): the JSON in responses/<id>.json, a
 * directory the sandbox can write too.
 *
 * Input: one configuration byte, then the file's bytes.
 *   bits 0-1   max_body { 0, 16, 4096, KH_BODY_MAX }
 *
 * Properties (abort() when broken):
 *  - the same bytes give the same answer; a refusal names a reason;
 *  - an accepted file gives a final status 200..599 (409 exactly when the
 *    headers say x-paperclip-bridge-outcome: indeterminate), at most
 *    KH_FWD_HEADERS_MAX headers that can go into an HTTP head as they are
 *    (checked here byte by byte, not with keyhole's own helpers: token
 *    names, values without CR, LF, NUL or other controls but HTAB), none
 *    of them a framing or hop-by-hop field, and a body of at most max_body
 *    bytes;
 *  - the status is the file's (409 when indeterminate, 200 when it has
 *    no numeric status); each kept header is the file's, name and value,
 *    and every string header the file has that is not a framing field is
 *    kept;
 *  - the body is the file's "body" string itself, or with bodyEncoding
 *    base64 the bytes whose canonical base64 is exactly that string;
 *  - a file holding an escaped NUL (\u0000, found by a tokenizer written
 *    here) is refused: cJSON would cut the string there;
 *  - an accepted file is one JSON object: first and last non-blank bytes
 *    are '{' and '}';
 *  - the duplicate-key check agrees with the pairwise loop on every object
 *    of the file and stays within n log n comparisons (keys_property.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "gateway_response.h"
#include "qcodec.h"
#include "keys_property.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
fuzz_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static bool
fuzz_is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
fuzz_check_object_text(const uint8_t *p, size_t n)
{
	size_t a = 0, b = n;

	while (a < b && fuzz_is_blank(p[a]))
		a++;
	while (b > a && fuzz_is_blank(p[b - 1]))
		b--;
	if (b - a < 2 || p[a] != '{' || p[b - 1] != '}')
		abort();
}

static void
fuzz_check_headers(const struct gw_response *r)
{
	static const char *const framing[] = { "content-length",
	    "transfer-encoding", "connection", "keep-alive", "upgrade",
	    "proxy-connection", "trailer", NULL };

	if (r->nh > KH_FWD_HEADERS_MAX)
		abort();
	for (size_t i = 0; i < r->nh; i++) {
		const char *name = r->names[i];
		const unsigned char *v = (const unsigned char *)r->values[i];
		if (name == NULL || v == NULL || name[0] == '\0' ||
		    strlen((const char *)v) != r->vlens[i])
			abort();
		for (const char *s = name; *s != '\0'; s++)
			if (!fuzz_tchar((unsigned char)*s))
				abort();
		for (const char *const *f = framing; *f != NULL; f++)
			if (strcasecmp(name, *f) == 0)
				abort();
		for (size_t k = 0; k < r->vlens[i]; k++)
			if ((v[k] < 0x20 && v[k] != '\t') || v[k] == 0x7f)
				abort();
	}
}

/* True when a JSON string in p[0..n) holds the escape \u0000. */
static bool
fuzz_has_escaped_nul(const uint8_t *p, size_t n)
{
	bool in = false;

	for (size_t i = 0; i < n; i++) {
		if (!in) {
			in = p[i] == '"';
			continue;
		}
		if (p[i] == '"') {
			in = false;
		} else if (p[i] == '\\' && i + 1 < n) {
			if (p[i + 1] == 'u' && i + 5 < n &&
			    memcmp(p + i + 2, "0000", 4) == 0)
				return true;
			i++;	/* the escaped character */
		}
	}
	return false;
}

/* Status and headers against the file's, read again with cJSON here. */
static void
fuzz_check_against_file(const cJSON *j, const struct gw_response *r)
{
	static const char *const framing[] = { "content-length",
	    "transfer-encoding", "connection", "keep-alive", "upgrade",
	    "proxy-connection", "trailer", NULL };
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "headers");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
	const cJSON *o = cJSON_IsObject(h) ?
	    cJSON_GetObjectItemCaseSensitive(h, "x-paperclip-bridge-outcome") :
	    NULL;
	int want = cJSON_IsString(o) && strcmp(o->valuestring,
	    "indeterminate") == 0 ? 409 : cJSON_IsNumber(st) ?
	    (int)st->valuedouble : 200;	/* in range: it was accepted */
	size_t kept = 0;

	if (r->status != want)
		abort();
	for (size_t i = 0; i < r->nh; i++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(h, r->names[i]);
		if (!cJSON_IsString(f) || strcmp(f->valuestring, r->values[i]) != 0)
			abort();
	}
	if (cJSON_IsObject(h))
		for (const cJSON *f = h->child; f != NULL; f = f->next) {
			bool skip = !cJSON_IsString(f);
			for (const char *const *x = framing; *x != NULL && !skip; x++)
				skip = strcasecmp(f->string, *x) == 0;
			kept += !skip;
		}
	if (kept != r->nh)
		abort();
}

/* The body against the file's own "body"/"bodyEncoding", read again with
 * cJSON here (the parser under test already accepted the text). */
static void
fuzz_check_body(const uint8_t *text, size_t len, const struct gw_response *r)
{
	cJSON *j = cJSON_ParseWithLength((const char *)text, len);
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "body");
	const cJSON *enc = cJSON_GetObjectItemCaseSensitive(j, "bodyEncoding");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "headers");
	const cJSON *o = cJSON_IsObject(h) ?
	    cJSON_GetObjectItemCaseSensitive(h, "x-paperclip-bridge-outcome") :
	    NULL;
	bool indeterminate = cJSON_IsString(o) &&
	    strcmp(o->valuestring, "indeterminate") == 0;

	if (j == NULL || !cJSON_IsString(b) || (r->blen > 0 && r->body == NULL))
		abort();
	if ((r->status == 409) != (indeterminate ||
	    (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "status")) &&
	    cJSON_GetObjectItemCaseSensitive(j, "status")->valuedouble == 409)))
		abort();
	fuzz_check_against_file(j, r);
	if (cJSON_IsString(enc) && strcmp(enc->valuestring, "base64") == 0) {
		struct sbuf s;
		sbuf_init(&s, qc_b64_len(r->blen) + 1);
		sbuf_add_b64(&s, r->body, r->blen);
		if (s.failed || s.len != strlen(b->valuestring) ||
		    (s.len > 0 && memcmp(s.buf, b->valuestring, s.len) != 0))
			abort();
		sbuf_free(&s);
	} else if (r->blen != strlen(b->valuestring) ||
	    (r->blen > 0 && memcmp(r->body, b->valuestring, r->blen) != 0)) {
		abort();
	}
	cJSON_Delete(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t bodies[] = { 0, 16, 4096, KH_BODY_MAX };
	struct gw_response r1, r2;
	const char *e1, *e2;

	if (size < 1)
		return 0;
	uint64_t max_body = bodies[data[0] & 3];
	data++;
	size--;
	fuzz_keys_property_text(data, size);
	e1 = gw_response_parse(data, size, max_body, &r1);
	e2 = gw_response_parse(data, size, max_body, &r2);
	if ((e1 == NULL) != (e2 == NULL) ||
	    (e1 != NULL && (e1[0] == '\0' || strcmp(e1, e2) != 0)))
		abort();
	if (e1 == NULL && fuzz_has_escaped_nul(data, size))
		abort();
	if (e1 != NULL) {
		/* a refusal leaves nothing to free */
		if (r1.json != NULL || r1.body != NULL || r1.nh != 0)
			abort();
		return 0;
	}
	if (r1.status < 200 || r1.status > 599 || r1.status != r2.status ||
	    r1.blen > max_body || r1.blen != r2.blen || r1.nh != r2.nh)
		abort();
	fuzz_check_object_text(data, size);
	fuzz_check_headers(&r1);
	fuzz_check_body(data, size, &r1);
	gw_response_free(&r1);
	gw_response_free(&r2);
	return 0;
}
