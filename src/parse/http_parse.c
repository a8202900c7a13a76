/*
 * keyhole strict HTTP/1.1 request parser (child only; see http_parse.h).
 *
 * Every byte here comes from the sandbox.  The parser accepts one spelling
 * of each construct and answers anything else with a status, because the
 * request-smuggling bugs this replaces all came from two parsers reading
 * the same bytes differently.  Nothing is normalized silently except OWS
 * around field values, which RFC 9112 defines as not part of the value.
 *
 * Status chosen for each class of reject:
 *   400  malformed syntax of any kind: bare CR/LF, NUL, spacing in the
 *        request line, a version that is not HTTP/<digit>.<digit>
 *        (HTTP/1.01, http/1.1, HTTP/1), '*' and authority-form targets,
 *        absolute-form not matching Host, fragments, bad paths/queries,
 *        obs-fold, bad field names/values, Host problems, any
 *        Content-Length / Transfer-Encoding problem (including unknown
 *        codings such as gzip: the connection is closed either way, so one
 *        status keeps the rule simple), a body on GET/HEAD, Upgrade,
 *        HTTP2-Settings, malformed chunks and trailers;
 *   405  CONNECT, TRACE (known methods keyhole will never forward);
 *   413  Content-Length or the chunk sizes so far above lim->max_body;
 *   414  canonical path longer than KH_PATH_MAX or query longer than
 *        KH_QUERY_MAX;
 *   417  Expect other than a single "100-continue";
 *   431  head above lim->max_head, more fields than lim->max_fields, a
 *        name above KH_HNAME_MAX or a value above KH_HVALUE_MAX (same
 *        limits for trailers);
 *   501  any other method, including lower-case "get" (methods are
 *        case-sensitive) and tokens longer than KH_METHOD_MAX;
 *   505  a well-formed HTTP/<digit>.<digit> other than 1.0 and 1.1
 *        (HTTP/0.9, HTTP/1.2, HTTP/2.0).
 * Field values may not hold obs-text (bytes >= 0x80): RFC 9110 calls it
 * obsolete, none of the headers keyhole forwards needs it, and refusing
 * it means no later stage has to decide what charset it is.  Every such
 * deliberate refusal of something RFC 9110/9112 allows is listed, with
 * its reason, in SECURITY.md ("What the strict parser refuses").
 *
 * Tolerated as RFC 9112 2.2 recommends: KH_HEAD_EMPTY_LINES_MAX empty
 * lines (CRLF) before the request line, part of the head and its limit.
 */
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "http_parse.h"
#include "util.h"
#include "path.h"

/* Chunked decoder states.  Values at or above 100 are the status the
 * decoder failed with, so a failure is sticky without another field. */
enum {
	CH_SIZE = 0,	/* hex digits of chunk-size (line_len = digits) */
	CH_EXT_NAME0,	/* after ';': first byte of an extension name */
	CH_EXT_NAME,
	CH_EXT_VAL0,	/* after '=': token or quoted-string */
	CH_EXT_TOKEN,
	CH_EXT_QUOTED,
	CH_EXT_QPAIR,	/* after '\' inside a quoted-string */
	CH_EXT_QEND,	/* after the closing '"' */
	CH_SIZE_LF,	/* CR ending the size line seen */
	CH_DATA,	/* remaining bytes of chunk data */
	CH_DATA_CR,	/* CRLF after chunk data */
	CH_DATA_LF,
	CH_TR_START,	/* start of a trailer field or of the final CRLF */
	CH_TR_NAME,	/* line_len = name bytes */
	CH_TR_VALUE,	/* remaining = value bytes */
	CH_TR_LF,
	CH_TR_END_LF,	/* CR of the empty line ending the trailers seen */
	CH_DONE,
	CH_FAILED = 100,
};

/* What the request line said about the target's authority, compared
 * with Host once the fields are parsed. */
struct http_target {
	const uint8_t *authority;	/* absolute-form only */
	size_t alen;
	bool absolute;
};

/* RFC 9110 tchar. */
static bool
http_is_tchar(uint8_t ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return true;
	switch (ch) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '.': case '^': case '_':
	case '`': case '|': case '~':
		return true;
	}
	return false;
}

/* field-content without obs-text: VCHAR, SP, HTAB. */
static bool
http_is_value_byte(uint8_t ch)
{
	return ch == '\t' || (ch >= 0x20 && ch <= 0x7e);
}

static bool
http_is_digit(uint8_t ch)
{
	return ch >= '0' && ch <= '9';
}

static uint8_t
http_lower(uint8_t ch)
{
	return (ch >= 'A' && ch <= 'Z') ? (uint8_t)(ch + 32) : ch;
}

/* ASCII case-insensitive comparison of a[0..n) and b[0..n). */
static bool
http_case_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_lower(a[i]) != http_lower(b[i]))
			return false;
	return true;
}

/* a[0..n) equals the lower-case string literal lit, ignoring ASCII case
 * (a macro so the literal's length is known at compile time). */
#define http_case_is(a, n, lit) ((n) == sizeof(lit) - 1 && \
	http_case_eq((a), (const uint8_t *)(lit), sizeof(lit) - 1))

int
http_head_end(const uint8_t *buf, size_t len, const struct http_limits *lim,
    size_t *head_len)
{
	return http_head_end_from(buf, len, 0, lim, head_len);
}

/*
 * Bytes of the empty lines before the request line that RFC 9112 2.2 lets
 * a server ignore: up to KH_HEAD_EMPTY_LINES_MAX complete CRLFs at the
 * start of buf[0..len).  Bounded work, so every call may recompute it.
 */
static size_t
http_leading_empty(const uint8_t *buf, size_t len)
{
	size_t lead = 0;

	while (lead / 2 < KH_HEAD_EMPTY_LINES_MAX && len - lead >= 2 &&
	    buf[lead] == '\r' && buf[lead + 1] == '\n')
		lead += 2;
	return lead;
}

int
http_head_end_from(const uint8_t *buf, size_t len, size_t from,
    const struct http_limits *lim, size_t *head_len)
{
	/* Only the first max_head bytes are ever looked at, including the
	 * CR lookahead, so the answer for a prefix never contradicts the
	 * answer for the whole input. */
	size_t scan = len < lim->max_head ? len : lim->max_head;
	size_t lead = http_leading_empty(buf, scan);
	size_t i;

	/* Every look-back (buf[i-1], buf[i-2]) stays inside buf, and `lead`
	 * at a position depends only on the bytes before it, so starting at
	 * `from` gives the same answer as starting at 0. */
	for (i = from; i < scan; i++) {
		uint8_t ch = buf[i];

		if (ch > '\r')
			continue;	/* nearly every byte: one comparison */
		if (ch == '\0')
			return 400;
		if (ch == '\r') {
			if (i + 1 < scan && buf[i + 1] != '\n')
				return 400;	/* bare CR */
			continue;
		}
		if (ch != '\n')
			continue;
		if (i == 0 || buf[i - 1] != '\r')
			return 400;		/* bare LF */
		if (i < lead)
			continue;		/* an ignored empty line */
		if (i == lead + 1)
			return 400;		/* one empty line too many */
		if (i >= lead + 3 && buf[i - 2] == '\n') {
			*head_len = i + 1;
			return HTTP_OK;
		}
	}
	if (len >= lim->max_head)
		return 431;
	return HTTP_NEED_MORE;
}

/*
 * Next CRLF-terminated line starting at *pos.  http_head_end already
 * rejected bare CR/LF and NUL, but the parser is also fed arbitrary bytes
 * by its fuzzer and must not depend on its caller for safety.
 */
static int
http_line_next(const uint8_t *buf, size_t len, size_t *pos,
    const uint8_t **line, size_t *llen)
{
	size_t i;

	for (i = *pos; i < len; i++) {
		if (buf[i] > '\r')
			continue;
		if (buf[i] == '\0' || buf[i] == '\n')
			return 400;
		if (buf[i] != '\r')
			continue;
		if (i + 1 >= len || buf[i + 1] != '\n')
			return 400;
		*line = buf + *pos;
		*llen = i - *pos;
		*pos = i + 2;
		return HTTP_OK;
	}
	return 400;		/* head not terminated */
}

/*
 * HTTP-version is exactly "HTTP/1.0" or "HTTP/1.1".  Other well-formed
 * versions get 505 so a client can tell "wrong version" from "garbage";
 * everything else (HTTP/1.01, lower case, missing minor) is 400.
 */
static int
http_version_parse(const uint8_t *v, size_t n, int *minor)
{
	if (n == 8 && memcmp(v, "HTTP/1.1", 8) == 0) {
		*minor = 1;
		return HTTP_OK;
	}
	if (n == 8 && memcmp(v, "HTTP/1.0", 8) == 0) {
		*minor = 0;
		return HTTP_OK;
	}
	if (n == 8 && memcmp(v, "HTTP/", 5) == 0 && http_is_digit(v[5]) &&
	    v[6] == '.' && http_is_digit(v[7]))
		return 505;
	return 400;
}

/* Methods are case-sensitive (RFC 9110 9.1): "get" is not GET. */
static int
http_method_check(const uint8_t *m, size_t n, struct http_req *req)
{
	static const char *const allowed[] = {
		"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
	};
	size_t i;

	if (n > KH_METHOD_MAX)
		return 501;
	memcpy(req->method, m, n);
	req->method[n] = '\0';
	/* CONNECT would tunnel, TRACE would echo the bridge token back. */
	if (strcmp(req->method, "CONNECT") == 0 ||
	    strcmp(req->method, "TRACE") == 0)
		return 405;
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(req->method, allowed[i]) == 0)
			return HTTP_OK;
	return 501;
}

/*
 * absolute-form: "http://" or "https://" (any case), an authority without
 * userinfo, then a path that starts with '/'.  The authority is only
 * recorded here; http_host_check compares it with Host.  Anything else
 * that is not origin-form ('*', authority-form "host:port", other schemes,
 * relative references) is refused.
 */
static int
http_target_absolute(const uint8_t *p, size_t n, struct http_target *t,
    size_t *path_off)
{
	size_t skip, end;

	if (n > 7 && http_case_eq(p, (const uint8_t *)"http://", 7))
		skip = 7;
	else if (n > 8 && http_case_eq(p, (const uint8_t *)"https://", 8))
		skip = 8;
	else
		return 400;
	for (end = skip; end < n && p[end] != '/' && p[end] != '?'; end++)
		if (p[end] == '@')
			return 400;	/* userinfo */
	if (end == skip || end == n || p[end] != '/')
		return 400;
	t->authority = p + skip;
	t->alen = end - skip;
	t->absolute = true;
	*path_off = end;
	return HTTP_OK;
}

static int
http_target_parse(const uint8_t *p, size_t n, struct http_req *req,
    struct http_target *t)
{
	const uint8_t *path, *q;
	size_t i, plen, off = 0;
	int r;

	for (i = 0; i < n; i++) {
		/* A fragment is never sent by a real client, and servers
		 * disagree on whether '#' ends the path. */
		if (p[i] == '#' || p[i] <= 0x20 || p[i] >= 0x7f)
			return 400;
	}
	if (p[0] != '/' && (r = http_target_absolute(p, n, t, &off)) !=
	    HTTP_OK)
		return r;
	path = p + off;
	plen = n - off;
	q = memchr(path, '?', plen);
	if (q != NULL) {
		size_t qlen = plen - (size_t)(q + 1 - path);

		if (qlen > KH_QUERY_MAX)
			return 414;
		if (!query_is_valid(q + 1, qlen))
			return 400;
		memcpy(req->query, q + 1, qlen);
		req->query[qlen] = '\0';
		req->query_len = qlen;
		req->has_query = true;
		plen = (size_t)(q - path);
	}
	/* path_canonicalize answers 400, or 414 when too long. */
	r = path_canonicalize(path, plen, req->path, sizeof(req->path),
	    &req->path_len);
	return r == 0 ? HTTP_OK : r;
}

/* request-line = method SP request-target SP HTTP-version, single SPs. */
static int
http_request_line(const uint8_t *l, size_t n, struct http_req *req,
    struct http_target *t)
{
	size_t i, mlen, ts, te;
	int r;

	for (i = 0; i < n && l[i] != ' '; i++)
		if (!http_is_tchar(l[i]))
			return 400;
	mlen = i;
	if (mlen == 0 || i == n)
		return 400;
	ts = ++i;
	while (i < n && l[i] != ' ')
		i++;
	if (i == ts || i == n)
		return 400;		/* empty target (double SP) or no version */
	te = i++;
	if ((r = http_version_parse(l + i, n - i, &req->minor)) != HTTP_OK)
		return r;
	if ((r = http_method_check(l, mlen, req)) != HTTP_OK)
		return r;
	return http_target_parse(l + ts, te - ts, req, t);
}

/*
 * field-line = field-name ":" OWS field-value OWS.  A line starting with
 * SP/HTAB is obs-fold (or whitespace before the first field); whitespace
 * before the colon is a non-token byte.  Both are classic smuggling
 * vectors and are refused rather than repaired.
 */
static int
http_field_parse(const uint8_t *l, size_t n, struct http_field *f)
{
	size_t i, vs, ve;

	for (i = 0; i < n && l[i] != ':'; i++)
		if (!http_is_tchar(l[i]))
			return 400;
	if (i == 0 || i == n)
		return 400;		/* empty name, or no colon */
	if (i > KH_HNAME_MAX)
		return 431;
	f->name = l;
	f->nlen = i;
	for (vs = i + 1; vs < n; vs++)
		if (!http_is_value_byte(l[vs]))
			return 400;	/* controls, DEL, obs-text */
	for (vs = i + 1; vs < n && (l[vs] == ' ' || l[vs] == '\t'); vs++)
		;
	for (ve = n; ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'); ve--)
		;
	if (ve - vs > KH_HVALUE_MAX)
		return 431;
	f->value = l + vs;
	f->vlen = ve - vs;
	return HTTP_OK;
}

/* Number of fields named name[0..nlen) (lower-case); *first is the first
 * one.  http_count() passes a literal's length. */
static size_t
http_field_count(const struct http_req *req, const char *name, size_t nlen,
    const struct http_field **first)
{
	size_t i, count = 0;

	*first = NULL;
	for (i = 0; i < req->nfields; i++) {
		if (req->fields[i].nlen != nlen ||
		    !http_case_eq(req->fields[i].name, (const uint8_t *)name,
		    nlen))
			continue;
		if (count++ == 0)
			*first = &req->fields[i];
	}
	return count;
}

#define http_count(req, lit, first) \
	http_field_count((req), (lit), sizeof(lit) - 1, (first))

/*
 * Host = uri-host [ ":" port ], restricted to what a client legitimately
 * sends: a DNS name or IPv4 address (ALPHA DIGIT - . _ ~), or an IPv6
 * literal in brackets; port 1-65535 without leading zeros.  This refuses
 * userinfo ('@'), lists (','), empty values and empty ports.
 */
static bool
http_host_valid(const uint8_t *v, size_t n)
{
	size_t i = 0, digits;
	uint32_t port = 0;

	if (n == 0)
		return false;
	if (v[0] == '[') {
		for (i = 1; i < n && v[i] != ']'; i++)
			if (hex_value(v[i]) < 0 && v[i] != ':' &&
			    v[i] != '.')
				return false;
		if (i == 1 || i == n)
			return false;
		i++;
	} else {
		for (; i < n && v[i] != ':'; i++) {
			uint8_t ch = v[i];

			if (!((ch >= 'a' && ch <= 'z') ||
			    (ch >= 'A' && ch <= 'Z') || http_is_digit(ch) ||
			    ch == '-' || ch == '.' || ch == '_' || ch == '~'))
				return false;
		}
		if (i == 0)
			return false;
	}
	if (i == n)
		return true;
	if (v[i++] != ':' || i == n || v[i] == '0' || n - i > 5)
		return false;
	for (digits = i; digits < n; digits++) {
		if (!http_is_digit(v[digits]))
			return false;
		port = port * 10 + (uint32_t)(v[digits] - '0');
	}
	return port <= 65535;
}

static int
http_host_check(const struct http_req *req, const struct http_target *t)
{
	const struct http_field *h;
	size_t n = http_count(req, "host", &h);

	if (n > 1)
		return 400;
	if (n == 0)
		return (req->minor == 1 || t->absolute) ? 400 : HTTP_OK;
	if (!http_host_valid(h->value, h->vlen))
		return 400;
	/* RFC 9112 says Host is ignored for absolute-form; a proxy in
	 * front of keyhole may not, so the two must say the same thing. */
	if (t->absolute && (t->alen != h->vlen ||
	    !http_case_eq(t->authority, h->value, t->alen)))
		return 400;
	return HTTP_OK;
}

/* Content-Length = 1*DIGIT; no sign, no list, no overflow. */
static int
http_length_parse(const uint8_t *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0)
		return 400;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (!http_is_digit(v[i]))
			return 400;
		d = (unsigned)(v[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return 400;
		x = x * 10 + d;
	}
	*out = x;
	return HTTP_OK;
}

/*
 * Message framing: exactly one way to find the end of the body.  Any
 * ambiguity (CL and TE, two CLs even if equal, a TE chain, TE on 1.0)
 * is what request smuggling is made of, so it is refused outright.
 */
static int
http_framing_check(struct http_req *req, const struct http_limits *lim)
{
	const struct http_field *cl, *te;
	size_t ncl = http_count(req, "content-length", &cl);
	size_t nte = http_count(req, "transfer-encoding", &te);
	bool bodyless = strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "HEAD") == 0;
	uint64_t v;
	int r;

	if (ncl > 1 || nte > 1 || (ncl == 1 && nte == 1))
		return 400;
	if (nte == 1) {
		if (req->minor == 0 || bodyless ||
		    !http_case_is(te->value, te->vlen, "chunked"))
			return 400;
		req->body = HTTP_BODY_CHUNKED;
		return HTTP_OK;
	}
	if (ncl == 0)
		return HTTP_OK;
	if ((r = http_length_parse(cl->value, cl->vlen, &v)) != HTTP_OK)
		return r;
	if (bodyless && v > 0)
		return 400;
	if (v > lim->max_body)
		return 413;
	req->body = HTTP_BODY_LENGTH;
	req->content_length = v;
	return HTTP_OK;
}

/* Connection = #token; "close" wins over "keep-alive". */
static int
http_connection_check(struct http_req *req)
{
	bool saw_close = false, saw_keep = false;
	size_t i, j, s, e, k;

	for (i = 0; i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];

		if (!http_case_is(f->name, f->nlen, "connection"))
			continue;
		for (s = 0; s <= f->vlen; s = e + 1) {
			for (e = s; e < f->vlen && f->value[e] != ','; e++)
				;
			while (s < e && (f->value[s] == ' ' ||
			    f->value[s] == '\t'))
				s++;
			k = e;
			while (k > s && (f->value[k - 1] == ' ' ||
			    f->value[k - 1] == '\t'))
				k--;
			if (k == s)
				continue;	/* empty list element */
			for (j = s; j < k; j++)
				if (!http_is_tchar(f->value[j]))
					return 400;
			if (http_case_is(f->value + s, k - s, "close"))
				saw_close = true;
			else if (http_case_is(f->value + s, k - s,
			    "keep-alive"))
				saw_keep = true;
		}
	}
	req->keep_alive = req->minor == 1;
	if (saw_close)
		req->keep_alive = false;
	else if (saw_keep)
		req->keep_alive = true;
	return HTTP_OK;
}

static int
http_fields_check(struct http_req *req, const struct http_target *t,
    const struct http_limits *lim)
{
	const struct http_field *f;
	size_t n;
	int r;

	if ((r = http_host_check(req, t)) != HTTP_OK)
		return r;
	/* No protocol switch (websocket, h2c): keyhole speaks HTTP/1.1
	 * and nothing after the head may be read as anything else. */
	if (http_count(req, "upgrade", &f) > 0 ||
	    http_count(req, "http2-settings", &f) > 0)
		return 400;
	if ((r = http_framing_check(req, lim)) != HTTP_OK)
		return r;
	n = http_count(req, "expect", &f);
	if (n > 1 || (n == 1 && !http_case_is(f->value, f->vlen,
	    "100-continue")))
		return 417;
	/* RFC 9110 10.1.1: ignore 100-continue from an HTTP/1.0 client. */
	req->expect_continue = n == 1 && req->minor == 1;
	return http_connection_check(req);
}

/*
 * Everything the parser reads back is reset here; path, query and fields
 * are written before they are read (their lengths and nfields bound
 * them).  Clearing the whole struct (12 KiB) instead took half of the
 * parser's time per request.
 */
void
http_req_reset(struct http_req *req)
{
	req->method[0] = '\0';
	req->minor = 0;
	req->path[0] = '\0';
	req->path_len = 0;
	req->query[0] = '\0';
	req->query_len = 0;
	req->has_query = false;
	req->nfields = 0;
	req->body = HTTP_BODY_NONE;
	req->content_length = 0;
	req->keep_alive = false;
	req->expect_continue = false;
}

int
http_head_parse(const uint8_t *buf, size_t len, const struct http_limits *lim,
    struct http_req *req)
{
	struct http_target t = { NULL, 0, false };
	size_t pos = 0, llen = 0;
	size_t max_fields = lim->max_fields < KH_HEADERS_MAX ?
	    lim->max_fields : KH_HEADERS_MAX;
	const uint8_t *line = NULL;
	int r;

	http_req_reset(req);
	if (len > lim->max_head)
		return 431;
	pos = http_leading_empty(buf, len);
	if ((r = http_line_next(buf, len, &pos, &line, &llen)) != HTTP_OK)
		return r;
	if ((r = http_request_line(line, llen, req, &t)) != HTTP_OK)
		return r;
	for (;;) {
		if ((r = http_line_next(buf, len, &pos, &line, &llen)) !=
		    HTTP_OK)
			return r;
		if (llen == 0)
			break;
		if (req->nfields == max_fields)
			return 431;
		if ((r = http_field_parse(line, llen,
		    &req->fields[req->nfields])) != HTTP_OK)
			return r;
		req->nfields++;
	}
	if (pos != len)
		return 400;	/* bytes after the blank line are not ours */
	return http_fields_check(req, &t, lim);
}

const struct http_field *
http_req_field(const struct http_req *req, const char *name)
{
	const struct http_field *f;

	(void)http_field_count(req, name, strlen(name), &f);
	return f;
}

/* ---- chunked body ---------------------------------------------------- */

void
http_chunked_init(struct http_chunked *c, const struct http_limits *lim)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE;
	c->lim = *lim;
}

/*
 * chunk = chunk-size [ chunk-ext ] CRLF, chunk-size = 1*16HEXDIG,
 * chunk-ext = *( ";" token [ "=" ( token / quoted-string ) ] ), no BWS.
 * The line is validated byte by byte as it arrives, so nothing is
 * buffered and a bad byte is refused at once.
 */
static int
http_chunked_size_byte(struct http_chunked *c, uint8_t ch)
{
	int v;

	/* line_len counts the line's bytes and its CR; the limit is on the
	 * bytes before CRLF.  In CH_SIZE it is the number of digits so far. */
	if (c->state != CH_SIZE_LF) {
		if (ch != '\r' && c->line_len >= KH_CHUNK_LINE_MAX)
			return 400;
		c->line_len++;
	}
	switch (c->state) {
	case CH_SIZE:
		if ((v = hex_value(ch)) >= 0) {
			if (c->line_len > 16)
				return 400;	/* more than 64 bits */
			c->remaining = c->remaining * 16 + (uint64_t)v;
			return HTTP_NEED_MORE;
		}
		if (c->line_len == 1)
			return 400;		/* no digits: "", "0x", "-", " " */
		break;
	case CH_EXT_NAME0:
		if (!http_is_tchar(ch))
			return 400;
		c->state = CH_EXT_NAME;
		return HTTP_NEED_MORE;
	case CH_EXT_NAME:
		if (http_is_tchar(ch))
			return HTTP_NEED_MORE;
		if (ch == '=') {
			c->state = CH_EXT_VAL0;
			return HTTP_NEED_MORE;
		}
		break;
	case CH_EXT_VAL0:
		if (ch == '"')
			c->state = CH_EXT_QUOTED;
		else if (http_is_tchar(ch))
			c->state = CH_EXT_TOKEN;
		else
			return 400;
		return HTTP_NEED_MORE;
	case CH_EXT_TOKEN:
		if (http_is_tchar(ch))
			return HTTP_NEED_MORE;
		break;
	case CH_EXT_QUOTED:
		if (ch == '"')
			c->state = CH_EXT_QEND;
		else if (ch == '\\')
			c->state = CH_EXT_QPAIR;
		else if (!http_is_value_byte(ch))
			return 400;
		return HTTP_NEED_MORE;
	case CH_EXT_QPAIR:
		if (!http_is_value_byte(ch))
			return 400;
		c->state = CH_EXT_QUOTED;
		return HTTP_NEED_MORE;
	case CH_EXT_QEND:
		break;
	case CH_SIZE_LF:
		if (ch != '\n')
			return 400;
		c->line_len = 0;
		if (c->remaining == 0) {
			c->state = CH_TR_START;
			return HTTP_NEED_MORE;
		}
		/* total <= max_body holds, so this cannot wrap. */
		if (c->remaining > c->lim.max_body - c->total)
			return 413;
		c->total += c->remaining;
		c->state = CH_DATA;
		return HTTP_NEED_MORE;
	}
	/* Where a size, name or value may end: ';' starts the next
	 * extension, CR ends the line, anything else (SP, '=', LF) is bad. */
	if (ch == ';') {
		c->state = CH_EXT_NAME0;
		return HTTP_NEED_MORE;
	}
	if (ch == '\r') {
		c->state = CH_SIZE_LF;
		return HTTP_NEED_MORE;
	}
	return 400;
}

/*
 * trailer-section = *( field-line CRLF ) CRLF, with the same rules and
 * limits as header fields, checked as the bytes arrive.  Valid trailers
 * are dropped: merging them into the head would let a body smuggle
 * headers past the checks above.
 */
static int
http_chunked_trailer_byte(struct http_chunked *c, uint8_t ch)
{
	if (++c->trailer_bytes > c->lim.max_head)
		return 431;
	switch (c->state) {
	case CH_TR_START:
		if (ch == '\r') {
			c->state = CH_TR_END_LF;
			return HTTP_NEED_MORE;
		}
		if (!http_is_tchar(ch))
			return 400;	/* obs-fold, bare LF, ':' ... */
		if (c->ntrailers >= c->lim.max_fields)
			return 431;
		c->line_len = 1;
		c->state = CH_TR_NAME;
		return HTTP_NEED_MORE;
	case CH_TR_NAME:
		if (ch == ':') {
			c->remaining = 0;
			c->state = CH_TR_VALUE;
			return HTTP_NEED_MORE;
		}
		if (!http_is_tchar(ch))
			return 400;
		if (++c->line_len > KH_HNAME_MAX)
			return 431;
		return HTTP_NEED_MORE;
	case CH_TR_VALUE:
		/* The limit counts OWS too: nothing is buffered to trim. */
		if (ch == '\r') {
			c->state = CH_TR_LF;
			return HTTP_NEED_MORE;
		}
		if (!http_is_value_byte(ch))
			return 400;
		if (++c->remaining > KH_HVALUE_MAX)
			return 431;
		return HTTP_NEED_MORE;
	case CH_TR_LF:
		if (ch != '\n')
			return 400;
		c->ntrailers++;
		c->state = CH_TR_START;
		return HTTP_NEED_MORE;
	case CH_TR_END_LF:
		if (ch != '\n')
			return 400;
		c->remaining = 0;
		c->state = CH_DONE;
		return HTTP_OK;
	}
	return 400;
}

int
http_chunked_feed(struct http_chunked *c, const uint8_t *in, size_t len,
    size_t *consumed, const uint8_t **data, size_t *data_len)
{
	size_t i = 0;
	int r = HTTP_NEED_MORE;

	*consumed = 0;
	*data = NULL;
	*data_len = 0;
	if (c->state == CH_DONE)
		return HTTP_OK;
	if (c->state >= CH_FAILED)
		return c->state;
	while (i < len && r == HTTP_NEED_MORE) {
		uint8_t ch = in[i];

		switch (c->state) {
		case CH_DATA: {
			size_t n = len - i;

			if (n > c->remaining)
				n = (size_t)c->remaining;
			*data = in + i;
			*data_len = n;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			*consumed = i + n;
			return HTTP_NEED_MORE;
		}
		case CH_DATA_CR:
			r = ch == '\r' ? HTTP_NEED_MORE : 400;
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			r = ch == '\n' ? HTTP_NEED_MORE : 400;
			c->state = CH_SIZE;
			break;
		case CH_TR_START:
		case CH_TR_NAME:
		case CH_TR_VALUE:
		case CH_TR_LF:
		case CH_TR_END_LF:
			r = http_chunked_trailer_byte(c, ch);
			break;
		default:
			r = http_chunked_size_byte(c, ch);
			break;
		}
		i++;
	}
	*consumed = i;
	if (r != HTTP_NEED_MORE && r != HTTP_OK)
		c->state = r;
	return r;
}

bool
http_req_bearer(const struct http_req *req, const char *token, size_t len)
{
	const struct http_field *auth = NULL;
	size_t count = 0;

	for (size_t i = 0; i < req->nfields; i++) {
		const struct http_field *f = &req->fields[i];
		if (f->nlen == 13 &&
		    strncasecmp((const char *)f->name, "authorization", 13) == 0) {
			auth = f;
			count++;
		}
	}
	if (count != 1 || auth->vlen < 7 ||
	    strncasecmp((const char *)auth->value, "Bearer ", 7) != 0)
		return false;
	return util_ct_equal(auth->value + 7, auth->vlen - 7,
	    (const uint8_t *)token, len);
}
