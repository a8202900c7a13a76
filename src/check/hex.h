/* keyhole: one hexadecimal digit's value (percent escapes, chunk sizes,
 * \u escapes), for every parser and validator. */
#ifndef KH_HEX_H
#define KH_HEX_H

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

#endif
