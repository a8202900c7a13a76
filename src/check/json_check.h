/* keyhole JSON check (json_check.c): the child's body check, repeated by
 * the parent (request_check.c; SECURITY.md says why it may). */
#ifndef KH_JSON_CHECK_H
#define KH_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The index of the first byte at or after p[i] that is not JSON
 * whitespace (SP, HTAB, LF, CR: RFC 8259 ws), or n. */
static inline size_t
json_ws(const uint8_t *p, size_t n, size_t i)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' ||
	    p[i] == '\r'))
		i++;
	return i;
}

/* True when p[0..n) is exactly one JSON text (RFC 8259) nested at most
 * KH_JSON_DEPTH_MAX deep.  Reads nothing outside p[0..n). */
bool json_check(const uint8_t *p, size_t n);

#endif
