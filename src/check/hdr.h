/*
 * keyhole header-field validators (hdr.c): yes/no, one pass, no
 * allocation.  Both processes run them on what is forwarded: the child
 * before it sends a header to the parent or writes one to a client, the
 * parent on every header of a child's MSG_REQUEST (a violation kills the
 * child) and of an upstream response.
 */
#ifndef KH_HDR_H
#define KH_HDR_H

#include <stdbool.h>
#include <stddef.h>

/* A header value keyhole forwards: bytes 0x20..0x7e and HTAB only (no NUL,
 * CR, LF, other controls or obs-text), at most KH_HVALUE_MAX bytes. */
bool hdr_value_forwardable(const char *v, size_t len);
/* RFC 9110 token, lower-case only, 1..KH_HNAME_MAX bytes (header names
 * on the wire). */
bool hdr_lower_token(const char *s, size_t len);

#endif
