/* keyhole queue_v1 request envelope parser: see queue_envelope.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hdr.h"
#include "path.h"
#include "policy_table.h"
#include "qcodec.h"
#include "queue_envelope.h"
#include "util.h"

/* Raw bytes cJSON must never see: NUL (it would end the text early) and
 * controls outside strings' legal whitespace; and an escaped NUL, which
 * cJSON decodes into a C string that then silently ends there. */
bool
qenv_raw_ok(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return false;
		if (c == 'u' && i + 4 < len && memcmp(buf + i + 1, "0000", 4) == 0) {
			size_t bs = 0;
			while (bs < i && buf[i - 1 - bs] == '\\')
				bs++;
			if (bs % 2 == 1)
				return false;
		}
	}
	return true;
}

/*
 * Merge the sorted runs k[lo..mid) and k[mid..hi) into out[lo..hi).
 * Ties take the left run first; *cmps counts the comparisons.
 */
static void
qenv_keys_merge(const char **k, size_t lo, size_t mid, size_t hi,
    const char **out, unsigned long *cmps)
{
	size_t a = lo, b = mid, o = lo;

	while (a < mid && b < hi) {
		(*cmps)++;
		out[o++] = strcmp(k[b], k[a]) < 0 ? k[b++] : k[a++];
	}
	while (a < mid)
		out[o++] = k[a++];
	while (b < hi)
		out[o++] = k[b++];
}

/*
 * No key twice in obj: two "path" keys would let two readers see two
 * requests.  Sorted (a bottom-up merge sort: n log n comparisons whatever
 * the order, no recursion, no randomness to seed), then neighbours
 * compared: a file of 150,000 keys took 23.6 s with the pairwise loop
 * this replaces.  Out of memory is "not unique": the caller refuses.
 */
bool
qenv_keys_unique_count(const cJSON *obj, unsigned long *compares)
{
	const char **k, **tmp, **from, **to;
	unsigned long cmps = 0;
	size_t n = 0, i;
	bool unique = true;

	for (const cJSON *c = obj->child; c != NULL; c = c->next) {
		if (c->string == NULL)
			return false;
		n++;
	}
	if (compares != NULL)
		*compares = 0;
	if (n < 2)
		return true;
	if (n > SIZE_MAX / 2 / sizeof(*k) ||
	    (k = malloc(2 * n * sizeof(*k))) == NULL)
		return false;
	tmp = k + n;
	i = 0;
	for (const cJSON *c = obj->child; c != NULL; c = c->next)
		k[i++] = c->string;
	from = k;
	to = tmp;
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n;
			size_t hi = mid + w < n ? mid + w : n;
			qenv_keys_merge(from, lo, mid, hi, to, &cmps);
		}
		const char **t = from;
		from = to;
		to = t;
	}
	for (i = 1; i < n && unique; i++) {
		cmps++;
		unique = strcmp(from[i - 1], from[i]) != 0;
	}
	free(k);
	if (compares != NULL)
		*compares = cmps;
	return unique;
}

bool
qenv_keys_unique(const cJSON *obj)
{
	return qenv_keys_unique_count(obj, NULL);
}

static const cJSON *
qenv_get(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static int
qenv_fail(const char **why, const char *what)
{
	*why = what;
	return 400;
}

static int
qenv_target(const cJSON *root, struct qenv *e, const char **why)
{
	const cJSON *m = qenv_get(root, "method");
	const cJSON *p = qenv_get(root, "path");
	const cJSON *q = qenv_get(root, "query");
	size_t n;

	if (!cJSON_IsString(m) || (n = strlen(m->valuestring)) > KH_METHOD_MAX ||
	    !policy_method_valid(m->valuestring, n))
		return qenv_fail(why, "method missing or not one keyhole forwards");
	memcpy(e->method, m->valuestring, n + 1);
	if (!cJSON_IsString(p) || p->valuestring[0] != '/')
		return qenv_fail(why, "path missing or not absolute");
	n = strlen(p->valuestring);
	if (path_canonicalize((const uint8_t *)p->valuestring, n, e->path,
	    sizeof(e->path), &e->path_len) != 0)
		return qenv_fail(why, "path rejected by the canonicalizer");
	if (q == NULL)
		return 0;
	if (!cJSON_IsString(q))
		return qenv_fail(why, "query is not a string");
	n = strlen(q->valuestring);
	if (n == 0)
		return 0;
	if (q->valuestring[0] != '?' || n - 1 > KH_QUERY_MAX ||
	    !query_is_valid((const uint8_t *)q->valuestring + 1, n - 1))
		return qenv_fail(why, "query invalid");
	e->has_query = true;
	e->query_len = n - 1;
	memcpy(e->query, q->valuestring + 1, n);
	return 0;
}

static int
qenv_headers(const cJSON *root, const struct qenv_limits *lim, struct qenv *e,
    const char **why)
{
	const cJSON *h = qenv_get(root, "headers");
	size_t max = lim->max_headers < KH_HEADERS_MAX ? lim->max_headers :
	    KH_HEADERS_MAX;

	if (h == NULL || cJSON_IsNull(h))
		return 0;
	if (!cJSON_IsObject(h))
		return qenv_fail(why, "headers is not an object");
	for (const cJSON *f = h->child; f != NULL; f = f->next) {
		size_t nl = strlen(f->string), vl;
		if (e->nheaders == max)
			return qenv_fail(why, "too many headers");
		if (!hdr_lower_token(f->string, nl))
			return qenv_fail(why, "header name not a lower-case token");
		if (!cJSON_IsString(f))
			return qenv_fail(why, "header value not a string");
		vl = strlen(f->valuestring);
		if (!hdr_value_forwardable(f->valuestring, vl))
			return qenv_fail(why, "header value with a forbidden byte");
		for (size_t k = 0; k < e->nheaders; k++)
			if (strcmp(e->headers[k].name, f->string) == 0)
				return qenv_fail(why, "duplicate header");
		e->headers[e->nheaders].name = f->string;
		e->headers[e->nheaders].nlen = nl;
		e->headers[e->nheaders].value = f->valuestring;
		e->headers[e->nheaders].vlen = vl;
		e->nheaders++;
	}
	return 0;
}

static int
qenv_body(const cJSON *root, const struct qenv_limits *lim, struct qenv *e,
    const char **why)
{
	const cJSON *b = qenv_get(root, "body");
	const cJSON *enc = qenv_get(root, "bodyEncoding");
	bool b64 = false;
	size_t n;

	if (!cJSON_IsString(b))
		return qenv_fail(why, "body missing or not a string");
	if (enc != NULL) {
		if (!cJSON_IsString(enc))
			return qenv_fail(why, "bodyEncoding not a string");
		if (strcmp(enc->valuestring, "base64") == 0)
			b64 = true;
		else if (strcmp(enc->valuestring, "utf8") != 0)
			return qenv_fail(why, "unsupported bodyEncoding");
	}
	n = strlen(b->valuestring);
	if (n == 0)
		return 0;
	if (!b64) {
		if (n > lim->max_body) {
			*why = "body too large";
			return 413;
		}
		e->body = malloc(n);
		if (e->body == NULL)
			return qenv_fail(why, "out of memory");
		memcpy(e->body, b->valuestring, n);
		e->body_len = n;
		return 0;
	}
	size_t cap = n / 4 * 3;
	if (cap > lim->max_body)
		cap = (size_t)lim->max_body;
	e->body = malloc(cap ? cap : 1);
	if (e->body == NULL)
		return qenv_fail(why, "out of memory");
	long long got = qc_b64_decode(b->valuestring, n, e->body, cap);
	if (got == -2) {
		*why = "body too large";
		return 413;
	}
	if (got < 0)
		return qenv_fail(why, "body is not canonical base64");
	e->body_len = (size_t)got;
	return 0;
}

int
qenv_parse(const uint8_t *buf, size_t len, const struct qenv_limits *lim,
    struct qenv *e, const char **why)
{
	cJSON *root;
	const cJSON *id, *created;
	const char *end = NULL;
	int st;

	memset(e, 0, sizeof(*e));
	*why = NULL;
	if (!qenv_raw_ok(buf, len))
		return qenv_fail(why, "control byte or escaped NUL in the file");
	/* cJSON wants NUL-terminated text to insist that nothing follows the
	 * value; copy once (the file buffer is len bytes). */
	char *text = malloc(len + 1);
	if (text == NULL)
		return qenv_fail(why, "out of memory");
	memcpy(text, buf, len);
	text[len] = '\0';
	root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
	free(text);
	if (root == NULL)
		return qenv_fail(why, "not valid JSON");
	e->tree = root;
	if (!cJSON_IsObject(root) || !qenv_keys_unique(root))
		return qenv_fail(why, "not an object with unique keys");
	id = qenv_get(root, "id");
	if (!cJSON_IsString(id) ||
	    !qc_id_valid(id->valuestring, strlen(id->valuestring)))
		return qenv_fail(why, "id missing or invalid");
	memcpy(e->id, id->valuestring, strlen(id->valuestring) + 1);
	created = qenv_get(root, "createdAt");
	if (created != NULL && !cJSON_IsString(created))
		return qenv_fail(why, "createdAt not a string");
	if ((st = qenv_target(root, e, why)) != 0 ||
	    (st = qenv_headers(root, lim, e, why)) != 0 ||
	    (st = qenv_body(root, lim, e, why)) != 0)
		return st;
	return 0;
}

void
qenv_free(struct qenv *e)
{
	if (e->tree != NULL)
		cJSON_Delete(e->tree);
	free(e->body);
	e->tree = NULL;
	e->body = NULL;
	e->nheaders = 0;
}
