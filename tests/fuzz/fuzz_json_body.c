/*
 * libFuzzer harness for the child's request-body checks:
 * decide_ctype_is_json() (src/unpriv/decide.c) on a content-type value and
 * json_check() (src/check/json_check.c) on a body.  A body the gate lets through as JSON reaches the upstream
 * (SECURITY.md I4: "valid JSON where the rule requires it").
 *
 * Input: a content-type value, a '\n', then the body.  (No '\n': the
 * whole input is the body.)  The body is copied to a buffer of exactly its
 * length, so ASan sees a read one byte past it.
 *
 * Properties (abort() when broken), against independent judges written
 * from the specifications:
 *  - decide_ctype_is_json(v) exactly when v is a JSON media type
 *    (application/json, or a +json subtype, any case) with no parameter
 *    but one charset=utf-8, by a judge that cuts at ';' (media_type.c
 *    walks a grammar);
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
#include "json_judge.h"
#include "net.h"

/* ------------------------------------------------------------------ */

static bool
fuzz_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

/* v[0..n) with SP/HTAB cut from both ends. */
static void
fuzz_trim(const uint8_t **v, size_t *n)
{
	while (*n > 0 && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*n)--;
	}
	while (*n > 0 && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
		(*n)--;
}

/* A JSON media type keyhole accepts (media_type.h): the value cut at each
 * ';', every piece trimmed; the first is token/token (at most
 * KH_POLICY_CTYPE_MAX) that is application/json or ends in +json, any
 * case; each other piece is exactly charset=utf-8 (any case), once.  (A
 * JSON type has no boundary, and no accepted quoted value holds ';'.) */
static bool
fuzz_ct_json(const uint8_t *v, size_t n)
{
	bool charset = false, first = true;

	while (first || n > 0) {
		const uint8_t *semi = memchr(v, ';', n);
		size_t pl = semi ? (size_t)(semi - v) : n;
		const uint8_t *piece = v;
		char low[KH_POLICY_CTYPE_MAX + 1];

		v += semi ? pl + 1 : pl;
		n -= semi ? pl + 1 : pl;
		fuzz_trim(&piece, &pl);
		if (pl == 0 || pl > KH_POLICY_CTYPE_MAX)
			return false;
		for (size_t i = 0; i < pl; i++)
			low[i] = (char)(piece[i] >= 'A' && piece[i] <= 'Z' ?
			    piece[i] + 32 : piece[i]);
		low[pl] = '\0';
		if (first) {
			const char *slash = memchr(low, '/', pl);
			if (slash == NULL || slash == low || slash == low + pl - 1)
				return false;
			for (size_t i = 0; i < pl; i++)
				if (low + i != slash && !fuzz_tchar((uint8_t)low[i]))
					return false;
			if (strcmp(low, "application/json") != 0 && (pl < 6 ||
			    strcmp(low + pl - 5, "+json") != 0 ||
			    slash > low + pl - 6))
				return false;
			first = false;
		} else {
			if (charset || pl != 13 ||
			    memcmp(low, "charset=utf-8", 13) != 0)
				return false;
			charset = true;
		}
		if (semi != NULL && n == 0)
			return false;	/* a ';' at the end */
	}
	return true;
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
