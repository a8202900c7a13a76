/* keyhole: UTF-8 as RFC 3629 defines it, for every check of text. */
#ifndef KH_UTF8_H
#define KH_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length (2..4) of the UTF-8 sequence whose lead byte (>= 0x80) is
 * p[i], or 0 when it is not one: a continuation byte, C0/C1, F5..FF, a
 * sequence cut by n, an overlong form, a surrogate, or beyond U+10FFFF. */
static inline size_t
utf8_seq_len(const uint8_t *p, size_t n, size_t i)
{
	uint8_t b = p[i];
	size_t len;
	uint32_t cp;

	if (b >= 0xc2 && b <= 0xdf) {
		len = 2;
		cp = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		len = 3;
		cp = b & 0x0f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		len = 4;
		cp = b & 0x07;
	} else {
		return 0;
	}
	if (n - i < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[i + k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i + k] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

#endif
