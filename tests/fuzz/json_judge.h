/*
 * An independent judge of JSON text for the fuzz harnesses: RFC 8259 by
 * recursive descent (the code under test, json_check.c and json_keys.c,
 * is neither recursive nor shared with this), nesting at most
 * KH_JSON_DEPTH_MAX, and the top-level keys of an object as
 * JavaScript's JSON.parse sees them (escapes decoded, code unit by code
 * unit).  Static functions: each harness that includes it gets its own
 * copy.  Used by fuzz_json_body.c (validity), fuzz_parent_msgs.c and
 * fuzz_forward_agreement.c (what the upstream would parse).
 */
#ifndef KH_FUZZ_JSON_JUDGE_H
#define KH_FUZZ_JSON_JUDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kh_limits.h"

struct jp {
	const uint8_t *p;
	size_t n, i;
	unsigned depth;
	/* Top-level keys: each checked against keys[0..nkeys) when keys is
	 * not NULL; unlisted set when one is not there. */
	const char (*keys)[KH_POLICY_KEY_MAX + 1];
	size_t nkeys;
	bool unlisted;
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

static int
jp_hexval(uint8_t c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* The key p[s..e) (a valid string body), decoded as JSON.parse does, is
 * one of j->keys: ASCII code units only (a listed key is ASCII). */
static bool
jp_key_listed(const struct jp *j, size_t s, size_t e)
{
	char k[KH_POLICY_KEY_MAX + 1];
	size_t kl = 0;

	while (s < e) {
		unsigned u = j->p[s];
		if (u == '\\') {
			uint8_t c = j->p[s + 1];
			if (c == 'u') {
				u = 0;
				for (int h = 2; h < 6; h++)
					u = u << 4 | (unsigned)jp_hexval(j->p[s + h]);
				s += 6;
			} else {
				const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
				u = (unsigned char)to[strchr(from, c) - from];
				s += 2;
			}
		} else {
			s++;
		}
		if (u == 0 || u >= 0x80 || kl == KH_POLICY_KEY_MAX)
			return false;
		k[kl++] = (char)u;
	}
	for (size_t i = 0; i < j->nkeys; i++)
		if (strlen(j->keys[i]) == kl && memcmp(j->keys[i], k, kl) == 0)
			return true;
	return false;
}

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
			size_t ks = j->i;
			if (j->i >= j->n || j->p[j->i] != '"' || !jp_string(j))
				return false;
			if (j->depth == 1 && j->keys != NULL &&
			    !jp_key_listed(j, ks + 1, j->i - 1))
				j->unlisted = true;
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

/* p[0..n) is exactly one JSON text. */
static inline bool
fuzz_json_text(const uint8_t *p, size_t n)
{
	struct jp j = { .p = p, .n = n };

	jp_ws(&j);
	if (!jp_value(&j))
		return false;
	jp_ws(&j);
	return j.i == n;
}

/* p[0..n) is one JSON text, an object, and JSON.parse would give it only
 * top-level keys from keys[0..nkeys). */
static inline bool
fuzz_json_keys_listed(const uint8_t *p, size_t n,
    const char (*keys)[KH_POLICY_KEY_MAX + 1], size_t nkeys)
{
	struct jp j = { .p = p, .n = n, .keys = keys, .nkeys = nkeys };

	jp_ws(&j);
	if (j.i == n || p[j.i] != '{' || !jp_value(&j))
		return false;
	jp_ws(&j);
	return j.i == n && !j.unlisted;
}

#endif
