/*
 * keyhole JSON check: is a request body exactly one JSON text?  The child
 * runs it before cJSON; the parent runs it again on what it forwards.
 *
 * RFC 8259, strictly, because the gate's answer is what reaches the
 * upstream (SECURITY.md I4, I8).  cJSON, used before, is a parser, not
 * a validator: it skips any byte <= 0x20 as whitespace, stops after the
 * first value (so "{}garbage" passed), takes numbers through strtod
 * ("01", "1.", "-.5") and lets raw control bytes and invalid UTF-8 into
 * strings (tests/fuzz/fuzz_json_body.c found each).  This check:
 *
 *   - whitespace is SP, HTAB, CR, LF only, and only around tokens;
 *   - numbers: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
 *   - strings: no byte < 0x20, escapes \" \\ \/ \b \f \n \r \t \uXXXX
 *     only, UTF-8 without overlong forms, surrogates or code points above
 *     U+10FFFF (an escaped lone surrogate is grammatical and passes, as in
 *     JavaScript's JSON.parse);
 *   - nesting at most KH_JSON_DEPTH_MAX, tracked with one bit per level:
 *     no recursion, no allocation, one pass.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hex.h"
#include "json_check.h"
#include "kh_limits.h"
#include "utf8.h"

enum { JS_VALUE, JS_KEY, JS_AFTER };

static bool
json_digit(const uint8_t *p, size_t n, size_t i)
{
	return i < n && p[i] >= '0' && p[i] <= '9';
}

/* Returns the index after the number at p[i], or 0 if there is none. */
static size_t
json_number(const uint8_t *p, size_t n, size_t i)
{
	if (i < n && p[i] == '-')
		i++;
	if (!json_digit(p, n, i))
		return 0;
	if (p[i++] != '0')
		while (json_digit(p, n, i))
			i++;
	if (i < n && p[i] == '.') {
		if (!json_digit(p, n, ++i))
			return 0;
		while (json_digit(p, n, i))
			i++;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (!json_digit(p, n, i))
			return 0;
		while (json_digit(p, n, i))
			i++;
	}
	return i;
}

/* p[i] is the opening quote.  Returns the index after the closing quote,
 * or 0. */
static size_t
json_string(const uint8_t *p, size_t n, size_t i)
{
	for (i++; i < n;) {
		uint8_t c = p[i];
		if (c == '"')
			return i + 1;
		if (c < 0x20)
			return 0;
		if (c == '\\') {
			if (n - i < 2)
				return 0;
			c = p[i + 1];
			if (c == 'u') {
				if (n - i < 6 || hex_value(p[i + 2]) < 0 ||
				    hex_value(p[i + 3]) < 0 || hex_value(p[i + 4]) < 0 ||
				    hex_value(p[i + 5]) < 0)
					return 0;
				i += 6;
			} else if (c == '"' || c == '\\' || c == '/' ||
			    c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
			    c == 't') {
				i += 2;
			} else {
				return 0;
			}
			continue;
		}
		if (c >= 0x80) {
			size_t l = utf8_seq_len(p, n, i);
			if (l == 0)
				return 0;
			i += l;
			continue;
		}
		i++;
	}
	return 0;
}

static void
json_level_set(uint8_t *bits, size_t level, bool object)
{
	if (object)
		bits[level / 8] |= (uint8_t)(1u << level % 8);
	else
		bits[level / 8] &= (uint8_t)~(1u << level % 8);
}

static bool
json_level_is_obj(const uint8_t *bits, size_t level)
{
	return bits[level / 8] >> (level % 8) & 1;
}

bool
json_check(const uint8_t *p, size_t n)
{
	/* Bit set = the open container at that level is an object. */
	uint8_t obj[(KH_JSON_DEPTH_MAX + 7) / 8];
	size_t depth = 0, i = json_ws(p, n, 0), e;
	int st = JS_VALUE;

	for (;;) {
		if (st == JS_AFTER) {
			i = json_ws(p, n, i);
			if (depth == 0)
				return i == n;
			if (i == n)
				return false;
			bool in_obj = json_level_is_obj(obj, depth - 1);
			if (p[i] == ',') {
				i = json_ws(p, n, i + 1);
				st = in_obj ? JS_KEY : JS_VALUE;
			} else if (p[i] == (in_obj ? '}' : ']')) {
				i++;
				depth--;
			} else {
				return false;
			}
			continue;
		}
		if (i == n)
			return false;
		if (st == JS_KEY) {
			if (p[i] != '"' || (e = json_string(p, n, i)) == 0)
				return false;
			i = json_ws(p, n, e);
			if (i == n || p[i] != ':')
				return false;
			i = json_ws(p, n, i + 1);
			st = JS_VALUE;
			continue;
		}
		/* JS_VALUE */
		switch (p[i]) {
		case '{':
		case '[': {
			bool o = p[i] == '{';
			if (depth == KH_JSON_DEPTH_MAX)
				return false;
			json_level_set(obj, depth++, o);
			i = json_ws(p, n, i + 1);
			if (i < n && p[i] == (o ? '}' : ']')) {
				i++;	/* empty */
				depth--;
				st = JS_AFTER;
			} else {
				st = o ? JS_KEY : JS_VALUE;
			}
			continue;
		}
		case '"':
			e = json_string(p, n, i);
			break;
		case 't':
			e = n - i >= 4 && memcmp(p + i, "true", 4) == 0 ? i + 4 : 0;
			break;
		case 'f':
			e = n - i >= 5 && memcmp(p + i, "false", 5) == 0 ? i + 5 : 0;
			break;
		case 'n':
			e = n - i >= 4 && memcmp(p + i, "null", 4) == 0 ? i + 4 : 0;
			break;
		default:
			e = json_number(p, n, i);
		}
		if (e == 0)
			return false;
		i = e;
		st = JS_AFTER;
	}
}
