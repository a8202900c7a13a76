/*
 * keyhole canonical request path and query.
 *
 * path_canonicalize() is the ONE function that decides the path matched
 * against the policy and the path forwarded upstream: they are the same
 * bytes.  The parent re-checks the result with path_is_canonical() before
 * it builds a URL.
 *
 * Canonical form: starts with '/'; segments separated by single '/'; no
 * empty segment except a trailing one (a path ending in '/'); no segment
 * that is '.' or '..' (checked after percent-decoding and before any ';'
 * parameter); bytes only from RFC 3986 pchar (unreserved, sub-delims, ':',
 * '@') or '%' followed by two UPPER-case hex digits; percent-encoded
 * unreserved characters are decoded; %2F, %5C, %00, and any encoded byte
 * >= 0x80 are rejected, as are raw bytes >= 0x80, controls, '\\' and '//'.
 */
#ifndef KH_PATH_H
#define KH_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Canonicalize in[0..len) (the path part of an origin-form target, without
 * '?query').  On success returns 0 and writes a NUL-terminated result of
 * *outlen bytes into out[outcap].  On reject returns 400 (or 414 when the
 * result would not fit). */
int path_canonicalize(const uint8_t *in, size_t len, char *out,
    size_t outcap, size_t *outlen);

/* True when p[0..len) is already canonical (the parent's re-check). */
bool path_is_canonical(const char *p, size_t len);

/* Query string (without '?'): bytes from pchar, '/', '?', or %XX with hex
 * digits; no raw byte >= 0x80, no control, no space, no '#'. */
bool query_is_valid(const uint8_t *q, size_t len);

#endif
