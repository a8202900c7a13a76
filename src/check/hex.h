/* keyhole: one hexadecimal digit's value (percent escapes, chunk sizes,
 * \u escapes), for every parser and validator; and bytes written as
 * lower-case hex (digests: the parent's sha256.c, keyhole-audit). */
#ifndef KH_HEX_H
#define KH_HEX_H

#include <stddef.h>
#include <stdint.h>

/* 0..15 for [0-9A-Fa-f], else -1. */
static inline int
hex_value(uint8_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* n bytes as lower-case hex into out[2n + 1]. */
static inline void
hex_lower(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

#endif
