/*
 * keyhole canonical request path (see path.h for the canonical form).
 *
 * The policy matcher and the upstream URL use the bytes this file writes,
 * so there is exactly one spelling of every accepted path: a request can
 * never match the policy as one path and reach the upstream as another.
 * Anything with more than one plausible reading (dot segments in any
 * spelling, encoded separators, encoded controls, raw non-ASCII) is
 * rejected rather than normalized, because "normalize" is where the reference
 * bridge let `../` through.
 *
 * Why the choices in path.h that are stricter than RFC 3986 were made:
 *  - encoded controls (%01-%1F, %7F, and C1 U+0080-U+009F) are rejected
 *    like %00: no legitimate API path carries them and an upstream that
 *    decodes a segment would get a raw CR/LF/ESC in an identifier or a
 *    log line;
 *  - encoded bytes >= 0x80 are kept encoded, never decoded (so the
 *    policy, the log and the upstream see one ASCII spelling), and must
 *    be UTF-8: names are user text (Paperclip's document keys), but an
 *    overlong '.' (%C0%AE) or a lone byte is either an attack or a
 *    request the upstream refuses anyway (Express: 400);
 *  - a server may apply Unicode compatibility normalization after
 *    decoding, so fullwidth and other forms of '/', '\\', ';' and '.'
 *    (path_cp_class) are read as what they become: a separator is
 *    refused, the others count in the dot-segment test;
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

#include "hex.h"
#include "kh_limits.h"
#include "path.h"

static const char path_hex_digits[] = "0123456789ABCDEF";

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

/* Encoded ASCII bytes that no spelling may smuggle into a segment: the
 * separators, NUL and other controls.  Bytes >= 0x80 are judged as UTF-8
 * by path_segment_check. */
static bool
path_is_forbidden_encoded(int v)
{
	return v < 0x20 || v == 0x7f || v == '/' || v == '\\';
}

/*
 * Code points that Unicode compatibility normalization (NFKC/NFKD, which
 * some servers apply to a decoded path) turns into a path separator or a
 * character the dot-segment test looks at.  The complete list for Unicode
 * 14 of the code points whose compatibility form holds '/', '\\', ';', or
 * only dots (Python: unicodedata.normalize("NFKC", chr(cp))).  Each is
 * treated as its ASCII form would be: a separator is refused (like
 * %2F, %5C), a semicolon ends the segment's name, dots count as dots.
 */
enum { CP_OTHER, CP_SEPARATOR, CP_SEMICOLON, CP_DOTS };

static int
path_cp_class(uint32_t cp, size_t *dots)
{
	switch (cp) {
	case 0x2100: case 0x2101: case 0x2105: case 0x2106:	/* a/c ... */
	case 0xfe68: case 0xff0f: case 0xff3c:		/* \\ / \\ */
		return CP_SEPARATOR;
	case 0x037e: case 0xfe14: case 0xfe54: case 0xff1b:
		return CP_SEMICOLON;
	case 0x2024: case 0xfe52: case 0xff0e:
		*dots = 1;
		return CP_DOTS;
	case 0x2025: case 0xfe30:
		*dots = 2;
		return CP_DOTS;
	case 0x2026: case 0xfe19:
		*dots = 3;
		return CP_DOTS;
	}
	return CP_OTHER;
}

/* The value of the canonical %XX at s[0..3) (upper-case hex), else -1. */
static int
path_pct_at(const char *s, size_t left)
{
	int hi, lo;

	if (left < 3 || s[0] != '%')
		return -1;
	hi = hex_value((uint8_t)s[1]);
	lo = hex_value((uint8_t)s[2]);
	return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/*
 * Decode the UTF-8 sequence spelled as %XX triplets at s[*i..n), the
 * first byte b (>= 0x80) already read, per RFC 3629: no overlong form,
 * surrogate or code point above U+10FFFF.  Returns the code point and
 * advances *i past it, or -1.
 */
static long
path_utf8_at(const char *s, size_t n, size_t *i, int b)
{
	size_t k;
	uint32_t cp, min;

	if (b >= 0xc2 && b <= 0xdf) {
		k = 1;
		cp = (uint32_t)b & 0x1f;
		min = 0x80;
	} else if (b >= 0xe0 && b <= 0xef) {
		k = 2;
		cp = (uint32_t)b & 0x0f;
		min = 0x800;
	} else if (b >= 0xf0 && b <= 0xf4) {
		k = 3;
		cp = (uint32_t)b & 0x07;
		min = 0x10000;
	} else {
		return -1;	/* continuation byte, C0, C1, F5..FF */
	}
	*i += 3;
	while (k-- > 0) {
		int c = path_pct_at(s + *i, n - *i);
		if (c < 0x80 || c > 0xbf)
			return -1;	/* missing or not a continuation */
		cp = cp << 6 | (uint32_t)(c & 0x3f);
		*i += 3;
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	return (long)cp;
}

/*
 * Judge one finished segment s[0..n) as written to the output (so already
 * canonical: '.' is raw whatever its spelling was, hex is upper-case, and
 * an encoded byte is either a reserved ASCII byte or part of UTF-8).
 * last: this is the final segment, which may be empty (trailing '/').
 *
 * The name is the part before the first ';' (raw, %3B, or a code point
 * that normalizes to ';'); it may not be empty when the segment is not,
 * nor be '.' or '..' counting every code point that normalizes to dots.
 */
static int
path_segment_check(const char *s, size_t n, bool last)
{
	size_t i = 0, dots = 0;
	bool in_name = true, only_dots = true, empty_name = true;

	if (n == 0)
		return last ? 0 : 400;	/* '//' */
	while (i < n) {
		size_t d = 0;
		int cls = CP_OTHER, v = path_pct_at(s + i, n - i);

		if (v >= 0x80) {
			long cp = path_utf8_at(s, n, &i, v);
			if (cp < 0 || cp < 0xa0)
				return 400;	/* not UTF-8, or a C1 control */
			cls = path_cp_class((uint32_t)cp, &d);
			if (cls == CP_SEPARATOR)
				return 400;
		} else {
			if (v == ';' || s[i] == ';') {
				cls = CP_SEMICOLON;
			} else if (s[i] == '.') {
				cls = CP_DOTS;
				d = 1;
			}
			i += v >= 0 ? 3 : 1;
		}
		if (!in_name)
			continue;
		if (cls == CP_SEMICOLON) {
			in_name = false;
			continue;
		}
		empty_name = false;
		if (cls == CP_DOTS)
			dots += d;
		else
			only_dots = false;
	}
	if (empty_name)
		return 400;		/* '/;param' collapses to '//' */
	if (only_dots && dots <= 2)
		return 400;		/* '.' or '..' in some spelling */
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
		hi = hex_value(in[i + 1]);
		lo = hex_value(in[i + 2]);
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
path_segment_is_canonical(const char *s, size_t len)
{
	char buf[KH_PATH_MAX + 1];

	if (len == 0 || len >= KH_PATH_MAX || memchr(s, '/', len) != NULL)
		return false;
	buf[0] = '/';
	memcpy(buf + 1, s, len);
	return path_is_canonical(buf, len + 1);
}

bool
query_is_valid(const uint8_t *q, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (q[i] == '%') {
			if (len - i < 3 || hex_value(q[i + 1]) < 0 ||
			    hex_value(q[i + 2]) < 0)
				return false;
			i += 2;
		} else if (!path_is_pchar(q[i]) && q[i] != '/' &&
		    q[i] != '?') {
			return false;
		}
	}
	return true;
}
