/* keyhole media types (see media.h). */
#include <stdio.h>
#include <string.h>

#include "media.h"

bool
media_is_json(const char *t, size_t len)
{
	return (len == 16 && memcmp(t, "application/json", 16) == 0) ||
	    (len > 5 && memcmp(t + len - 5, "+json", 5) == 0 &&
	    memchr(t, '/', len - 5) != NULL);
}

bool
media_is_multipart(const char *t, size_t len)
{
	return len > 10 && memcmp(t, "multipart/", 10) == 0;
}

/* RFC 2046 bcharsnospace. */
static bool
media_bchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != 0 && strchr("'()+_,-./:=?", c));
}

/* ... that is also an RFC 9110 tchar (may stand unquoted). */
static bool
media_bchar_token(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != 0 && strchr("'+_-.", c));
}

bool
media_boundary_valid(const char *b, size_t len)
{
	if (len == 0 || len > KH_BOUNDARY_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!media_bchar((unsigned char)b[i]))
			return false;
	return true;
}

int
media_format(char *out, size_t cap, const char *t, size_t tlen,
    unsigned flags, const char *b, size_t blen)
{
	bool quote = false;
	int n;

	for (size_t i = 0; i < blen; i++)
		if (!media_bchar_token((unsigned char)b[i]))
			quote = true;
	n = snprintf(out, cap, "%.*s%s%s%s%.*s%s", (int)tlen, t,
	    (flags & MEDIA_CHARSET_UTF8) ? "; charset=utf-8" : "",
	    blen > 0 ? "; boundary=" : "", quote ? "\"" : "", (int)blen,
	    blen > 0 ? b : "", quote ? "\"" : "");
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}
