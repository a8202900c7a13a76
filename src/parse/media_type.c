/* keyhole-net: a client's Content-Type, parsed strictly (media_type.h). */
#include <stdbool.h>
#include <string.h>

#include "media_type.h"

/* RFC 9110 tchar. */
static bool
mt_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static unsigned char
mt_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static size_t
mt_ows(const char *v, size_t n, size_t i)
{
	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	return i;
}

static size_t
mt_token(const char *v, size_t n, size_t i)
{
	while (i < n && mt_tchar((unsigned char)v[i]))
		i++;
	return i;
}

/* s[0..len) equals the lower-case word w, ASCII case-insensitively. */
static bool
mt_is(const char *s, size_t len, const char *w)
{
	if (strlen(w) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (mt_lower((unsigned char)s[i]) != (unsigned char)w[i])
			return false;
	return true;
}

/* One parameter at v[i] (after "; " and OWS).  Returns the index after
 * it, or 0 when it is refused. */
static size_t
mt_param(const char *v, size_t n, size_t i, struct media_type *m)
{
	size_t ns = i, ne = mt_token(v, n, i), vs, ve;
	bool quoted = false;

	if (ne == ns || ne == n || v[ne] != '=')
		return 0;
	vs = ne + 1;
	if (vs < n && v[vs] == '"') {
		quoted = true;
		vs++;
		for (ve = vs; ve < n && v[ve] != '"' && v[ve] != '\\'; ve++)
			;
		if (ve == n || v[ve] != '"')
			return 0;	/* unterminated, or a quoted-pair */
		i = ve + 1;
	} else {
		ve = mt_token(v, n, vs);
		i = ve;
	}
	if (ve == vs)
		return 0;
	if (mt_is(v + ns, ne - ns, "charset")) {
		if (quoted || (m->flags & MEDIA_CHARSET_UTF8) ||
		    !mt_is(v + vs, ve - vs, "utf-8"))
			return 0;
		m->flags |= MEDIA_CHARSET_UTF8;
		return i;
	}
	if (mt_is(v + ns, ne - ns, "boundary")) {
		if (m->blen != 0 || !media_is_multipart(m->type, m->tlen) ||
		    !media_boundary_valid(v + vs, ve - vs))
			return 0;
		memcpy(m->boundary, v + vs, ve - vs);
		m->blen = ve - vs;
		m->boundary[m->blen] = '\0';
		return i;
	}
	return 0;
}

enum media_parse
media_type_parse(const char *v, size_t n, struct media_type *m)
{
	size_t i = mt_ows(v, n, 0), ts = i, slash;

	memset(m, 0, sizeof(*m));
	i = mt_token(v, n, i);
	if (i == ts || i == n || v[i] != '/')
		return MEDIA_BAD_TYPE;
	slash = i++;
	i = mt_token(v, n, i);
	if (i == slash + 1 || i - ts > KH_POLICY_CTYPE_MAX)
		return MEDIA_BAD_TYPE;
	for (size_t k = ts; k < i; k++)
		m->type[k - ts] = (char)mt_lower((unsigned char)v[k]);
	m->tlen = i - ts;
	m->type[m->tlen] = '\0';
	/* After the type: OWS to the end, or parameters. */
	for (;;) {
		size_t j = mt_ows(v, n, i);
		if (j == n)
			return MEDIA_OK;
		if (v[j] != ';' && i != ts + m->tlen)
			return MEDIA_BAD_PARAM;
		if (v[j] != ';') {
			/* not a media type at all: "a/b c", "a/b, c/d" */
			m->tlen = 0;
			m->type[0] = '\0';
			return MEDIA_BAD_TYPE;
		}
		if ((i = mt_param(v, n, mt_ows(v, n, j + 1), m)) == 0)
			return MEDIA_BAD_PARAM;
	}
}
