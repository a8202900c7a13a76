/*
 * keyhole top-level JSON keys (see json_keys.h).  Walks the text once:
 * at depth 1 each key is decoded into a fixed buffer and looked up, each
 * value is skipped by counting brackets outside strings.
 */
#include <stdbool.h>
#include <string.h>

#include "hex.h"
#include "json_check.h"
#include "json_keys.h"

/* p[i] is a quote.  The string's value into key[0..cap) while it is
 * plain ASCII (no NUL) and fits; *plain false otherwise.  Returns the
 * index after the closing quote, or 0. */
static size_t
jk_key(const uint8_t *p, size_t n, size_t i, char *key, size_t cap,
    size_t *klen, bool *plain)
{
	size_t k = 0;

	*plain = true;
	for (i++; i < n;) {
		unsigned v = p[i];
		if (v == '"') {
			*klen = k;
			return i + 1;
		}
		if (v == '\\') {
			if (n - i < 2)
				return 0;
			switch (p[i + 1]) {
			case '"': case '\\': case '/':
				v = p[i + 1];
				break;
			case 'b': v = '\b'; break;
			case 'f': v = '\f'; break;
			case 'n': v = '\n'; break;
			case 'r': v = '\r'; break;
			case 't': v = '\t'; break;
			case 'u':
				if (n - i < 6)
					return 0;
				v = 0;
				for (size_t h = 2; h < 6; h++) {
					int d = hex_value(p[i + h]);
					if (d < 0)
						return 0;
					v = v << 4 | (unsigned)d;
				}
				i += 4;
				break;
			default:
				return 0;
			}
			i += 2;
		} else {
			i++;
		}
		if (v == 0 || v >= 0x80 || k == cap)
			*plain = false;
		else
			key[k++] = (char)v;
	}
	return 0;
}

/* p[i] is a quote: the index after the closing one, or 0. */
static size_t
jk_skip_string(const uint8_t *p, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (p[i] == '\\')
			i++;
		else if (p[i] == '"')
			return i + 1;
	}
	return 0;
}

/* The value at p[i]: the index after it (after the closing bracket of a
 * container, the quote of a string, or at the ',' / '}' ending a
 * scalar), or 0. */
static size_t
jk_skip_value(const uint8_t *p, size_t n, size_t i)
{
	size_t depth = 0;

	while (i < n) {
		uint8_t c = p[i];
		if (c == '"') {
			if ((i = jk_skip_string(p, n, i)) == 0)
				return 0;
			if (depth == 0)
				return i;
		} else if (c == '{' || c == '[') {
			depth++;
			i++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return i;
			i++;
			if (--depth == 0)
				return i;
		} else if (c == ',' && depth == 0) {
			return i;
		} else {
			i++;
		}
	}
	return depth == 0 ? i : 0;
}

static bool
jk_listed(const char *key, size_t len,
    const char (*keys)[KH_POLICY_KEY_MAX + 1], size_t nkeys)
{
	for (size_t k = 0; k < nkeys; k++)
		if (strlen(keys[k]) == len && memcmp(keys[k], key, len) == 0)
			return true;
	return false;
}

enum json_keys_verdict
json_keys_check(const uint8_t *p, size_t n,
    const char (*keys)[KH_POLICY_KEY_MAX + 1], size_t nkeys)
{
	char key[KH_POLICY_KEY_MAX];
	size_t i = json_ws(p, n, 0), klen;
	bool plain;

	if (i == n || p[i] != '{')
		return JSON_KEYS_NOT_OBJECT;
	i = json_ws(p, n, i + 1);
	if (i < n && p[i] == '}')
		return JSON_KEYS_OK;
	for (;;) {
		if (i == n || p[i] != '"' ||
		    (i = jk_key(p, n, i, key, sizeof(key), &klen, &plain)) == 0 ||
		    !plain || !jk_listed(key, klen, keys, nkeys))
			return JSON_KEYS_OTHER;
		i = json_ws(p, n, i);
		if (i == n || p[i] != ':')
			return JSON_KEYS_OTHER;
		if ((i = jk_skip_value(p, n, json_ws(p, n, i + 1))) == 0)
			return JSON_KEYS_OTHER;
		i = json_ws(p, n, i);
		if (i < n && p[i] == ',') {
			i = json_ws(p, n, i + 1);
			continue;
		}
		return i < n && p[i] == '}' ? JSON_KEYS_OK : JSON_KEYS_OTHER;
	}
}
