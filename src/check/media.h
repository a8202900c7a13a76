/*
 * keyhole media types: what a request body's Content-Type may be once
 * checked, and how it goes upstream.  Shared by both processes.
 *
 * The child parses the client's value strictly (src/parse/media_type.c)
 * and sends the result as typed fields of MSG_REQUEST (wire.h): which of
 * the matched rule's media types, whether `charset=utf-8` was given, and a
 * multipart boundary.  The parent checks those fields against its own copy
 * of the rule and writes the header itself with media_format(): the
 * upstream never sees a parameter keyhole did not check (issue 11: a
 * `charset=utf-7` that body-parser honoured and keyhole did not).
 */
#ifndef KH_MEDIA_H
#define KH_MEDIA_H

#include <stdbool.h>
#include <stddef.h>

#include "kh_limits.h"

/* MSG_REQUEST media field: 0 none, this for application/json, and
 * MEDIA_RULE_BASE + i for the matched rule's i-th `content-type`. */
#define MEDIA_NONE		0u
#define MEDIA_JSON		1u
#define MEDIA_RULE_BASE		2u
/* MSG_REQUEST media_flags: `charset=utf-8` follows the type.  Other bits
 * are refused. */
#define MEDIA_CHARSET_UTF8	0x01u
#define MEDIA_FLAGS_ALL		0x01u

/* Longest header value media_format() writes: type, charset, a quoted
 * boundary. */
#define MEDIA_VALUE_MAX (KH_POLICY_CTYPE_MAX + 16 + 13 + KH_BOUNDARY_MAX)

/* t[0..len) (lower-case type/subtype) is JSON to keyhole's body checks:
 * application/json, or any structured-syntax `+json` subtype. */
bool media_is_json(const char *t, size_t len);
/* t[0..len) is a multipart/ type (the only ones with a boundary). */
bool media_is_multipart(const char *t, size_t len);
/* A boundary keyhole forwards: 1..KH_BOUNDARY_MAX of RFC 2046's
 * bcharsnospace (letters, digits and '()+_,-./:=?), never a space, quote,
 * backslash or ';'. */
bool media_boundary_valid(const char *b, size_t len);
/* Write "t[; charset=utf-8][; boundary=B]" (B quoted when it holds a
 * character a token may not) and a NUL into out[cap].  t must be a
 * validated lower-case type, b valid (or blen 0).  Returns the length, or
 * -1 when it does not fit. */
int media_format(char *out, size_t cap, const char *t, size_t tlen,
    unsigned flags, const char *b, size_t blen);

#endif
