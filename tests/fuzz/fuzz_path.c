/*
 * libFuzzer harness for the canonical path (src/common/path.c).
 *
 * Input: the raw path part of a request target.
 *
 * Properties (abort() when broken):
 *  - a successful result is canonical (path_is_canonical) and
 *    re-canonicalizing it returns identical bytes;
 *  - path_is_canonical(x) holds exactly when canonicalizing x returns x;
 *  - an independent decoder finds nothing dangerous in a result: no
 *    '/', '\\', control or non-ASCII byte hidden behind %XX, no empty
 *    segment but a trailing one, no '.' or '..' segment (before ';');
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

/* Decode one canonical segment s[0..n) fully and judge it. */
static void
fuzz_check_segment(const char *s, size_t n, bool last)
{
	uint8_t dec[KH_PATH_MAX];
	size_t i, d = 0, name;

	if (n == 0) {
		if (!last)
			abort();
		return;
	}
	for (i = 0; i < n; i++) {
		uint8_t ch = (uint8_t)s[i];

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
		if (ch == '/' || ch == '\\' || ch < 0x20 || ch >= 0x7f)
			abort();
		dec[d++] = ch;
	}
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
