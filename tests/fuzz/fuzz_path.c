/*
 * libFuzzer harness for the canonical path (src/check/path.c).
 *
 * Input: the raw path part of a request target.
 *
 * Properties (abort() when broken):
 *  - a successful result is canonical (path_is_canonical) and
 *    re-canonicalizing it returns identical bytes;
 *  - path_is_canonical(x) holds exactly when canonicalizing x returns x;
 *  - an independent decoder finds nothing dangerous in a result: it
 *    decodes each segment (%XX, then UTF-8, which must be valid: no
 *    overlong form, surrogate or code point above U+10FFFF), maps the
 *    code points that Unicode compatibility normalization turns into
 *    ASCII punctuation (U+FF0F -> '/', U+2025 -> '..', U+FF1B -> ';' ...)
 *    to that ASCII, and then finds no '/', '\\' or control (C0, DEL,
 *    C1), no empty segment but a trailing one, and no '.' or '..' name
 *    (the part before ';'); encoded bytes are upper-case, unreserved ones
 *    never encoded, bytes >= 0x80 never raw;
 *  - a smaller output buffer gives 414 or the same bytes, never an
 *    overflow or a different path;
 *  - query_is_valid never accepts a control, space, '#' or non-ASCII.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kh_limits.h"
#include "path.h"

static int
fuzz_hex(uint8_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;		/* lower case is not canonical */
}

static bool
fuzz_unreserved(uint8_t ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
	    ch == '~';
}

/* What NFKC makes of the code points that become ASCII punctuation a
 * path parser cares about (Unicode 14; written out here independently of
 * path.c's table, from unicodedata.normalize("NFKC", ...)). */
static const struct {
	uint32_t cp;
	const char *ascii;
} fuzz_nfkc[] = {
	{ 0x037e, ";" }, { 0x2024, "." }, { 0x2025, ".." }, { 0x2026, "..." },
	{ 0x2100, "a/c" }, { 0x2101, "a/s" }, { 0x2105, "c/o" },
	{ 0x2106, "c/u" }, { 0xfe14, ";" }, { 0xfe19, "..." },
	{ 0xfe30, ".." }, { 0xfe52, "." }, { 0xfe54, ";" }, { 0xfe68, "\\" },
	{ 0xff0e, "." }, { 0xff0f, "/" }, { 0xff1b, ";" }, { 0xff3c, "\\" },
};

/* Append to out[*o] what code point cp reads as after NFKC, as far as
 * the checks below care: its ASCII form, or 'x' for any other letter. */
static void
fuzz_put_cp(uint8_t *out, size_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (uint8_t)cp;
		return;
	}
	if (cp < 0xa0)
		abort();		/* C1 control let through */
	for (size_t k = 0; k < sizeof(fuzz_nfkc) / sizeof(fuzz_nfkc[0]); k++)
		if (fuzz_nfkc[k].cp == cp) {
			for (const char *a = fuzz_nfkc[k].ascii; *a; a++)
				out[(*o)++] = (uint8_t)*a;
			return;
		}
	out[(*o)++] = 'x';
}

/* Decode one canonical segment s[0..n) fully and judge it. */
static void
fuzz_check_segment(const char *s, size_t n, bool last)
{
	uint8_t raw[KH_PATH_MAX], dec[3 * KH_PATH_MAX];
	size_t i, r = 0, d = 0, name;

	if (n == 0) {
		if (!last)
			abort();
		return;
	}
	/* 1. percent-decoding */
	for (i = 0; i < n; i++) {
		uint8_t ch = (uint8_t)s[i];

		if (ch >= 0x80)
			abort();		/* raw non-ASCII */
		if (ch == '%') {
			int hi, lo;

			if (i + 2 >= n)
				abort();
			hi = fuzz_hex((uint8_t)s[i + 1]);
			lo = fuzz_hex((uint8_t)s[i + 2]);
			if (hi < 0 || lo < 0)
				abort();
			ch = (uint8_t)(hi * 16 + lo);
			if (fuzz_unreserved(ch))
				abort();	/* should have been decoded */
			i += 2;
		}
		raw[r++] = ch;
	}
	/* 2. UTF-8 (RFC 3629), then what NFKC makes of it */
	for (i = 0; i < r;) {
		uint8_t b = raw[i];
		uint32_t cp;
		size_t k;

		if (b < 0x80) {
			fuzz_put_cp(dec, &d, b);
			i++;
			continue;
		}
		k = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : 0;
		if (k == 0 || b >= 0xf8 || r - i <= k)
			abort();		/* stray continuation, cut short */
		cp = b & (0x3f >> k);
		for (size_t j = 1; j <= k; j++) {
			if ((raw[i + j] & 0xc0) != 0x80)
				abort();
			cp = cp << 6 | (raw[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
		    (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp < 0xe000))
			abort();		/* overlong, beyond, surrogate */
		fuzz_put_cp(dec, &d, cp);
		i += k + 1;
	}
	/* 3. the ASCII rules on the result */
	for (i = 0; i < d; i++)
		if (dec[i] == '/' || dec[i] == '\\' || dec[i] < 0x20 ||
		    dec[i] == 0x7f)
			abort();
	for (name = 0; name < d && dec[name] != ';'; name++)
		;
	if (name == 0)
		abort();
	if (dec[0] == '.' && (name == 1 || (name == 2 && dec[1] == '.')))
		abort();
}

static void
fuzz_check_result(const char *out, size_t len)
{
	size_t i, seg = 1;

	if (len == 0 || out[0] != '/')
		abort();
	for (i = 1; i <= len; i++) {
		if (i == len || out[i] == '/') {
			fuzz_check_segment(out + seg, i - seg, i == len);
			seg = i + 1;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[KH_PATH_MAX + 1], again[KH_PATH_MAX + 1];
	char small[64];
	size_t olen = 0, alen = 0, slen = 0, cap, i;
	int r, rs;

	r = path_canonicalize(data, size, out, sizeof(out), &olen);
	if (r != 0 && r != 400 && r != 414)
		abort();
	if (r == 0) {
		if (olen > size || olen > KH_PATH_MAX || out[olen] != '\0' ||
		    strlen(out) != olen)
			abort();
		if (!path_is_canonical(out, olen))
			abort();
		if (path_canonicalize((const uint8_t *)out, olen, again,
		    sizeof(again), &alen) != 0 || alen != olen ||
		    memcmp(again, out, olen) != 0)
			abort();
		fuzz_check_result(out, olen);
	}
	if (path_is_canonical((const char *)data, size) !=
	    (r == 0 && olen == size && memcmp(out, data, size) == 0))
		abort();

	cap = size == 0 ? 1 : (size_t)data[0] % sizeof(small) + 1;
	rs = path_canonicalize(data, size, small, cap, &slen);
	if (rs == 0 && (r != 0 || slen != olen || memcmp(small, out, olen)))
		abort();
	if (rs != 0 && rs != 414 && rs != r)
		abort();

	if (query_is_valid(data, size)) {
		for (i = 0; i < size; i++)
			if (data[i] <= 0x20 || data[i] >= 0x7f ||
			    data[i] == '#')
				abort();
	}
	return 0;
}
