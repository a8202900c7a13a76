/*
 * keyhole canonical request path and query.
 *
 * path_canonicalize() is the ONE function that decides the path matched
 * against the policy and the path forwarded upstream: they are the same
 * bytes.  The parent re-checks the result with path_is_canonical() before
 * it builds a URL.
 *
 * Canonical form (what path_canonicalize writes, and all it accepts):
 *  - it starts with '/'; segments are separated by single '/'; no segment
 *    is empty except a trailing one (a path ending in '/'), so no '//';
 *  - raw bytes only from RFC 3986 pchar: unreserved (ALPHA DIGIT - . _ ~),
 *    sub-delims (! $ & ' ( ) * + , ; =), ':' and '@'.  Everything else is
 *    refused: controls, SP, DEL, bytes >= 0x80, '"' '<' '>' '\\' '^' '`'
 *    '{' '|' '}' '[' ']' '#' '?';
 *  - '%' must be followed by two hex digits (else refused); a
 *    percent-encoded unreserved byte is decoded, any other is kept
 *    encoded with upper-case hex ('%c3%a9' becomes '%C3%A9'); refused
 *    when encoded: '/' (%2F), '\\' (%5C), every control (%00-%1F, %7F);
 *  - encoded bytes >= 0x80 (never decoded) must spell UTF-8 within the
 *    segment (RFC 3629: no overlong form such as %C0%AE for '.', no
 *    surrogate, nothing above U+10FFFF, no stray or missing continuation
 *    byte), and not a C1 control (U+0080-U+009F) nor a code point whose
 *    compatibility form is a separator (U+FF0F fullwidth '/', U+FF3C,
 *    U+FE68, U+2100 'a/c', ...); so '/api/issues/X/documents/caf%C3%A9'
 *    is accepted as it is;
 *  - a segment's name is its bytes before the first ';' or "%3B" (path
 *    parameters, which some servers strip before or after decoding) or a
 *    code point that normalizes to ';' (U+FF1B ...); no name may be '.'
 *    or '..' in any spelling ('.', '%2e', '..;x', '%2E%2e%3Bx', U+FF0E
 *    U+FF0E, U+2025 ...), and a segment whose name is empty but which has
 *    parameters ('/;x/', '/%3Bx/') is refused, because a server that
 *    strips parameters turns it into '//';
 *  - '...' and longer runs of dots, and names that merely contain dots
 *    ('..a', ' ..'), are ordinary names; '%25' stays encoded, so a
 *    double-encoded '%252e' is the text "%2e", never a dot.
 * Every refusal is 400; a canonical result longer than the caller's
 * buffer (KH_PATH_MAX for a request) is 414.
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

/* True when s[0..len) is one non-empty segment exactly as
 * path_canonicalize writes it: what a policy literal and a bound variable
 * value must be, so a rule names only segments a request can carry. */
bool path_segment_is_canonical(const char *s, size_t len);

/* Query string (without '?'): raw bytes from pchar, '/' and '?', or '%'
 * with two hex digits (either case); so no raw byte >= 0x80, control, SP,
 * '#', '"', '<', '>', '\\', '^', '`', '{', '|', '}', '[' or ']'.  Encoded
 * bytes are not judged: keyhole never decodes the query, the upstream gets
 * it byte for byte. */
bool query_is_valid(const uint8_t *q, size_t len);

#endif
