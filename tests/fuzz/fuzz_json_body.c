/*
 * libFuzzer harness for the child's request-body checks:
 * decide_ctype_is_json() (src/unpriv/decide.c) on a content-type value and
 * json_check() (src/unpriv/json_check.c) on a body.  A body the gate lets through as JSON reaches the upstream
 * (DESIGN.md invariant 4: "valid JSON where the rule requires it").
 *
 * Input: a content-type value, a '\n', then the body.  (No '\n': the
 * whole input is the body.)  The body is copied to a buffer of exactly its
 * length, so ASan sees a read one byte past it.
 *
 * Properties (abort() when broken), against independent judges written
 * from the specifications:
 *  - decide_ctype_is_json(v) exactly when the media type of v (up to ';',
 *    trailing SP/HTAB dropped) is "application/json" in any case;
 *  - json_check(b) exactly when b is one JSON text (RFC 8259): one
 *    value with only SP/HTAB/CR/LF around it, strict numbers (no leading
 *    zero, no bare '.', no '+'), strings without raw control bytes and
 *    with only the defined escapes, valid UTF-8 (no overlong form, no
 *    surrogate, nothing above U+10FFFF), nesting at most KH_JSON_DEPTH_MAX.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decide.h"
#include "json_check.h"
#include "net.h"

/* ------------------------------------------------------------------ */
/* RFC 8259, as a recursive-descent judge (the code under test is not). */

struct jp {
	const uint8_t *p;
	size_t n, i;
	unsigned depth;
};

static void
jp_ws(struct jp *j)
{
	while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\t' ||
	    j->p[j->i] == '\n' || j->p[j->i] == '\r'))
		j->i++;
}

static bool
jp_lit(struct jp *j, const char *w)
{
	size_t l = strlen(w);

	if (j->n - j->i < l || memcmp(j->p + j->i, w, l) != 0)
		return false;
	j->i += l;
	return true;
}

static bool
jp_digits(struct jp *j)
{
	size_t s = j->i;

	while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9')
		j->i++;
	return j->i > s;
}

static bool
jp_number(struct jp *j)
{
	if (j->i < j->n && j->p[j->i] == '-')
		j->i++;
	if (j->i < j->n && j->p[j->i] == '0')
		j->i++;
	else if (!(j->i < j->n && j->p[j->i] >= '1' && j->p[j->i] <= '9') ||
	    !jp_digits(j))
		return false;
	if (j->i < j->n && j->p[j->i] == '.') {
		j->i++;
		if (!jp_digits(j))
			return false;
	}
	if (j->i < j->n && (j->p[j->i] == 'e' || j->p[j->i] == 'E')) {
		j->i++;
		if (j->i < j->n && (j->p[j->i] == '+' || j->p[j->i] == '-'))
			j->i++;
		if (!jp_digits(j))
			return false;
	}
	return true;
}

/* One UTF-8 sequence of 2..4 bytes starting at p[i] (>= 0x80). */
static bool
jp_utf8(struct jp *j)
{
	uint8_t b = j->p[j->i];
	size_t len;
	uint32_t cp, min;

	if (b >= 0xc2 && b <= 0xdf) {
		len = 2; cp = b & 0x1f; min = 0x80;
	} else if (b >= 0xe0 && b <= 0xef) {
		len = 3; cp = b & 0x0f; min = 0x800;
	} else if (b >= 0xf0 && b <= 0xf4) {
		len = 4; cp = b & 0x07; min = 0x10000;
	} else {
		return false;
	}
	if (j->n - j->i < len)
		return false;
	for (size_t k = 1; k < len; k++) {
		uint8_t c = j->p[j->i + k];
		if ((c & 0xc0) != 0x80)
			return false;
		cp = cp << 6 | (c & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	j->i += len;
	return true;
}

static bool
jp_string(struct jp *j)
{
	j->i++;		/* the opening quote */
	while (j->i < j->n) {
		uint8_t c = j->p[j->i];
		if (c == '"') {
			j->i++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (++j->i >= j->n)
				return false;
			c = j->p[j->i++];
			if (c == 'u') {
				for (int k = 0; k < 4; k++, j->i++)
					if (j->i >= j->n ||
					    !((j->p[j->i] >= '0' &&
					    j->p[j->i] <= '9') ||
					    (j->p[j->i] >= 'a' &&
					    j->p[j->i] <= 'f') ||
					    (j->p[j->i] >= 'A' &&
					    j->p[j->i] <= 'F')))
						return false;
			} else if (strchr("\"\\/bfnrt", c) == NULL || c == 0) {
				return false;
			}
			continue;
		}
		if (c >= 0x80) {
			if (!jp_utf8(j))
				return false;
			continue;
		}
		j->i++;
	}
	return false;
}

static bool jp_value(struct jp *j);

static bool
jp_container(struct jp *j, uint8_t close, bool object)
{
	if (++j->depth > KH_JSON_DEPTH_MAX)
		return false;
	j->i++;
	jp_ws(j);
	if (j->i < j->n && j->p[j->i] == close) {
		j->i++;
		j->depth--;
		return true;
	}
	for (;;) {
		if (object) {
			if (j->i >= j->n || j->p[j->i] != '"' || !jp_string(j))
				return false;
			jp_ws(j);
			if (j->i >= j->n || j->p[j->i] != ':')
				return false;
			j->i++;
			jp_ws(j);
		}
		if (!jp_value(j))
			return false;
		jp_ws(j);
		if (j->i >= j->n)
			return false;
		if (j->p[j->i] == ',') {
			j->i++;
			jp_ws(j);
			continue;
		}
		if (j->p[j->i] != close)
			return false;
		j->i++;
		j->depth--;
		return true;
	}
}

static bool
jp_value(struct jp *j)
{
	if (j->i >= j->n)
		return false;
	switch (j->p[j->i]) {
	case '{': return jp_container(j, '}', true);
	case '[': return jp_container(j, ']', false);
	case '"': return jp_string(j);
	case 't': return jp_lit(j, "true");
	case 'f': return jp_lit(j, "false");
	case 'n': return jp_lit(j, "null");
	default: return jp_number(j);
	}
}

static bool
fuzz_json_text(const uint8_t *p, size_t n)
{
	struct jp j = { p, n, 0, 0 };

	jp_ws(&j);
	if (!jp_value(&j))
		return false;
	jp_ws(&j);
	return j.i == n;
}

/* ------------------------------------------------------------------ */

static bool
fuzz_ct_json(const uint8_t *v, size_t n)
{
	/* The media type: up to ';', trailing SP/HTAB dropped. */
	const uint8_t *semi = memchr(v, ';', n);
	if (semi != NULL)
		n = (size_t)(semi - v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return n == 16 && strncasecmp((const char *)v, "application/json",
	    16) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t vlen = nl ? (size_t)(nl - data) : 0;
	size_t off = nl ? vlen + 1 : 0;
	size_t blen = size - off;
	uint8_t *body = malloc(blen ? blen : 1);

	if (body == NULL)
		abort();
	if (nl != NULL) {
		if (decide_ctype_is_json((const char *)data, vlen) !=
		    fuzz_ct_json(data, vlen))
			abort();
	}
	memcpy(body, data + off, blen);
	if (json_check(body, blen) != fuzz_json_text(body, blen))
		abort();
	free(body);
	return 0;
}
