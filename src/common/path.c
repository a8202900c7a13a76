/*
 * keyhole canonical request path (see path.h for the canonical form).
 *
 * The policy matcher and the upstream URL use the bytes this file writes,
 * so there is exactly one spelling of every accepted path: a request can
 * never match the policy as one path and reach the upstream as another.
 * Anything with more than one plausible reading (dot segments in any
 * spelling, encoded separators, encoded controls, non-ASCII) is rejected
 * rather than normalized, because "normalize" is where the reference
 * bridge let `../` through.
 *
 * Why the choices in path.h that are stricter than RFC 3986 were made:
 *  - encoded controls (%01-%1F, %7F) are rejected like %00: no legitimate
 *    API path carries them and an upstream that decodes a segment would
 *    get a raw CR/LF/ESC in an identifier or a log line;
 *  - a segment's "name" ends at the first ';' or "%3B": servers that
 *    strip path parameters (Tomcat, Spring, Jetty) do so before or after
 *    decoding, so `..;x` and `..%3Bx` are both dot segments to someone;
 *  - a segment whose name is empty but which carries parameters (`/;x/`)
 *    is rejected, because those servers collapse it into `//`;
 *  - `...` and longer runs of dots are ordinary names (RFC 3986), kept.
 * Double encoding (%252e) is kept as-is: it decodes once to the text
 * "%2e", which the upstream sees as data, not as a dot.
 */
#include <string.h>

#include "kh_limits.h"
#include "path.h"

static const char path_hex_digits[] = "0123456789ABCDEF";

static int
path_hex_value(uint8_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* RFC 3986 unreserved: the bytes whose percent-encoding is decoded. */
static bool
path_is_unreserved(uint8_t ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
	    ch == '~';
}

/* RFC 3986 pchar minus pct-encoded: the bytes allowed raw in a segment. */
static bool
path_is_pchar(uint8_t ch)
{
	if (path_is_unreserved(ch))
		return true;
	switch (ch) {
	case '!': case '$': case '&': case '\'': case '(': case ')':
	case '*': case '+': case ',': case ';': case '=': case ':': case '@':
		return true;
	}
	return false;
}

/* Encoded bytes that no spelling may smuggle into a segment: the
 * separators, NUL and other controls, and anything non-ASCII (which also
 * covers overlong UTF-8 such as %C0%AE for '.'). */
static bool
path_is_forbidden_encoded(int v)
{
	return v < 0x20 || v == 0x7f || v == '/' || v == '\\' || v >= 0x80;
}

/*
 * Judge one finished segment s[0..n) as written to the output (so already
 * canonical: '.' is raw whatever its spelling was, hex is upper-case).
 * last: this is the final segment, which may be empty (trailing '/').
 */
static int
path_segment_check(const char *s, size_t n, bool last)
{
	size_t name = 0;

	if (n == 0)
		return last ? 0 : 400;	/* '//' */
	while (name < n && s[name] != ';' &&
	    !(s[name] == '%' && name + 2 < n && s[name + 1] == '3' &&
	    s[name + 2] == 'B'))
		name++;
	if (name == 0)
		return 400;		/* '/;param' collapses to '//' */
	if (s[0] == '.' && (name == 1 || (name == 2 && s[1] == '.')))
		return 400;		/* '.' or '..' */
	return 0;
}

/* Append b[0..n) to out, keeping room for the terminating NUL. */
static int
path_put(char *out, size_t outcap, size_t *o, const char *b, size_t n)
{
	if (outcap - *o <= n)
		return 414;
	memcpy(out + *o, b, n);
	*o += n;
	return 0;
}

int
path_canonicalize(const uint8_t *in, size_t len, char *out, size_t outcap,
    size_t *outlen)
{
	size_t i, o = 0, seg = 0;
	int r;

	if (outcap == 0)
		return 414;
	if (len == 0 || in[0] != '/')
		return 400;
	for (i = 0; i < len; ) {
		char enc[3];
		int hi, lo, v;

		if (in[i] == '/') {
			if (i > 0 && (r = path_segment_check(out + seg,
			    o - seg, false)) != 0)
				return r;
			if ((r = path_put(out, outcap, &o, "/", 1)) != 0)
				return r;
			seg = o;
			i++;
			continue;
		}
		if (in[i] != '%') {
			if (!path_is_pchar(in[i]))
				return 400;	/* controls, SP, '\\', >= 0x80, ... */
			if ((r = path_put(out, outcap, &o,
			    (const char *)in + i, 1)) != 0)
				return r;
			i++;
			continue;
		}
		if (len - i < 3)
			return 400;
		hi = path_hex_value(in[i + 1]);
		lo = path_hex_value(in[i + 2]);
		if (hi < 0 || lo < 0)
			return 400;
		v = hi * 16 + lo;
		if (path_is_forbidden_encoded(v))
			return 400;
		if (path_is_unreserved((uint8_t)v)) {
			enc[0] = (char)v;
			r = path_put(out, outcap, &o, enc, 1);
		} else {
			enc[0] = '%';
			enc[1] = path_hex_digits[hi];
			enc[2] = path_hex_digits[lo];
			r = path_put(out, outcap, &o, enc, 3);
		}
		if (r != 0)
			return r;
		i += 3;
	}
	if ((r = path_segment_check(out + seg, o - seg, true)) != 0)
		return r;
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/*
 * Canonical means "a fixed point of path_canonicalize".  Defining it that
 * way (rather than with a second hand-written checker) means the parent's
 * re-check can never drift from what the child produced.  Nothing longer
 * than KH_PATH_MAX is canonical: no request path can be.
 */
bool
path_is_canonical(const char *p, size_t len)
{
	char buf[KH_PATH_MAX + 1];
	size_t n;

	if (len > KH_PATH_MAX)
		return false;
	if (path_canonicalize((const uint8_t *)p, len, buf, sizeof(buf),
	    &n) != 0)
		return false;
	return n == len && memcmp(buf, p, len) == 0;
}

bool
query_is_valid(const uint8_t *q, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (q[i] == '%') {
			if (len - i < 3 || path_hex_value(q[i + 1]) < 0 ||
			    path_hex_value(q[i + 2]) < 0)
				return false;
			i += 2;
		} else if (!path_is_pchar(q[i]) && q[i] != '/' &&
		    q[i] != '?') {
			return false;
		}
	}
	return true;
}
