/*
 * keyhole-net: a client's Content-Type, parsed strictly (media_type.c).
 *
 * Accepted (RFC 9110 section 8.3.1, narrowed to what keyhole can check
 * and write back):
 *
 *   OWS type "/" subtype *( OWS ";" OWS parameter ) OWS
 *
 * type and subtype tokens (any case; lower-cased here), at most
 * KH_POLICY_CTYPE_MAX bytes together, and only these parameters, each at
 * most once, names in any case:
 *
 *   charset=utf-8     the value a token, utf-8 in any case, not quoted;
 *                     no other charset: body-parser honours utf-7 and
 *                     utf-16 (issue 11), keyhole checks UTF-8 only
 *   boundary=B        on a multipart/ type only; B a token or a
 *                     quoted-string without '\' escapes, 1..70 of RFC
 *                     2046's bcharsnospace
 *
 * Anything else (another parameter, a repeated one, a quoted charset, an
 * empty parameter, a list, bytes outside the grammar) is refused.  The
 * result goes to the parent as MSG_REQUEST's media fields, and the
 * parent writes the header from them (media.h): what the upstream reads
 * is what keyhole checked.
 */
#ifndef KH_MEDIA_TYPE_H
#define KH_MEDIA_TYPE_H

#include <stddef.h>

#include "kh_limits.h"
#include "media.h"

struct media_type {
	char type[KH_POLICY_CTYPE_MAX + 1];	/* type/subtype, lower-case */
	size_t tlen;
	unsigned flags;				/* MEDIA_CHARSET_UTF8 */
	char boundary[KH_BOUNDARY_MAX + 1];	/* unquoted; "" for none */
	size_t blen;
};

enum media_parse {
	MEDIA_OK = 0,
	MEDIA_BAD_TYPE,		/* no type/subtype (m->tlen 0) */
	MEDIA_BAD_PARAM,	/* the type is in m; a parameter is refused */
};

enum media_parse media_type_parse(const char *v, size_t n,
    struct media_type *m);

#endif
