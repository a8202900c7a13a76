/*
 * keyhole compiled route policy: matcher, allowlists, and the MSG_POLICY
 * encoder/decoder.  Linked into both processes.  policy_decode() is the
 * parent's view of a table built by a child that may be compromised, so
 * it re-checks every count, enum and string and trusts nothing the
 * compiler already checked.  The encoding is documented in policy_table.h.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "policy_table.h"

/* NULL-terminated, in the order Paperclip's bridge lists them. */
const char *const policy_default_req_hdrs[] = {
	"accept", "content-type", "if-match", "if-none-match", NULL
};
const char *const policy_default_resp_hdrs[] = {
	"content-type", "etag", "last-modified", NULL
};

/*
 * Never allowlistable, in either direction.  Each line says why.
 */
static const char *const forbidden_hdrs[] = {
	/* credentials: only the parent sets them, from its own secret */
	"authorization", "proxy-authorization", "cookie", "set-cookie",
	/* the parent chooses the upstream and its framing */
	"host", "content-length", "transfer-encoding", "connection",
	"keep-alive", "upgrade", "te", "trailer", "expect",
	"proxy-connection", "http2-settings",
	/* Paperclip gzips when asked; the parent never decodes bodies */
	"accept-encoding", "content-encoding",
	/* the parent sets the run id; a sandbox must not pick another run */
	"x-paperclip-run-id",
	/* client-address and proxy claims the upstream might trust */
	"forwarded", "x-forwarded-for", "x-forwarded-host",
	"x-forwarded-proto", "x-forwarded-port", "x-forwarded-prefix",
	"x-forwarded-server", "x-real-ip", "via",
	/* frameworks honour these to change the method or route after the
	 * policy matched */
	"x-http-method-override", "x-http-method", "x-method-override",
	"x-original-url", "x-rewrite-url",
	NULL
};

static const char *const methods[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", NULL
};

void
policy_init(struct policy *p)
{
	memset(p, 0, sizeof(*p));
}

void
policy_free(struct policy *p)
{
	free(p->rules);
	policy_init(p);
}

static unsigned char
ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive (ASCII only, locale-free) compare of s[0..len) with a
 * lower-case C string. */
static bool
name_eq(const char *s, size_t len, const char *lower)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (lower[i] == '\0' ||
		    ascii_lower((unsigned char)s[i]) != (unsigned char)lower[i])
			return false;
	}
	return lower[i] == '\0';
}

bool
policy_header_forbidden(const char *name, size_t len)
{
	for (size_t i = 0; forbidden_hdrs[i] != NULL; i++)
		if (name_eq(name, len, forbidden_hdrs[i]))
			return true;
	return false;
}

bool
policy_method_valid(const char *m, size_t len)
{
	for (size_t i = 0; methods[i] != NULL; i++)
		if (strlen(methods[i]) == len && memcmp(methods[i], m, len) == 0)
			return true;
	return false;
}

static bool
hdr_in(const char list[][KH_HNAME_MAX + 1], size_t n, const char *name,
    size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (name_eq(name, len, list[i]))
			return true;
	return false;
}

bool
policy_req_header_allowed(const struct policy *p, const char *name,
    size_t len)
{
	/* Re-checked here so a table can never widen the forbidden set. */
	if (policy_header_forbidden(name, len))
		return false;
	return hdr_in(p->req_hdrs, p->nreq_hdrs, name, len);
}

bool
policy_resp_header_allowed(const struct policy *p, const char *name,
    size_t len)
{
	if (policy_header_forbidden(name, len))
		return false;
	return hdr_in(p->resp_hdrs, p->nresp_hdrs, name, len);
}

/* A dot segment in any spelling a canonical path could still carry.  '*'
 * never matches one, even if a non-canonical path slipped through. */
static bool
seg_is_dot(const char *s, size_t len)
{
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return true;
	if (len >= 2 && s[0] == '.' && s[1] == ';')
		return true;
	return len >= 3 && s[0] == '.' && s[1] == '.' && s[2] == ';';
}

static bool
seg_eq(const struct pol_seg *g, const char *s, size_t len)
{
	if (g->kind == SEG_STAR)
		return len > 0 && !seg_is_dot(s, len);
	return g->kind == SEG_LIT && g->len == len && memcmp(g->lit, s, len) == 0;
}

int
policy_match(const struct policy *p, const char *method, const char *path,
    size_t pathlen)
{
	/* Segment offsets of the path, split once for all rules. */
	size_t off[KH_POLICY_SEGS_MAX], len[KH_POLICY_SEGS_MAX];
	size_t n = 0, start = 1;
	bool root;

	if (method == NULL || path == NULL || pathlen == 0 || path[0] != '/')
		return -1;
	root = (pathlen == 1);
	if (!root) {
		for (size_t i = 1; i <= pathlen; i++) {
			if (i < pathlen && path[i] != '/')
				continue;
			if (n == KH_POLICY_SEGS_MAX)
				return -1;	/* longer than any pattern */
			off[n] = start;
			len[n] = i - start;
			n++;
			start = i + 1;
		}
	}
	size_t mlen = strlen(method);
	for (size_t r = 0; r < p->nrules; r++) {
		const struct pol_rule *rule = &p->rules[r];
		if (strlen(rule->method) != mlen ||
		    memcmp(rule->method, method, mlen) != 0)
			continue;
		if (root) {
			if (rule->nsegs == 0)
				return (int)r;
			continue;
		}
		if (rule->nsegs != n)
			continue;
		size_t i;
		for (i = 0; i < n; i++)
			if (!seg_eq(&rule->segs[i], path + off[i], len[i]))
				break;
		if (i == n)
			return (int)r;
	}
	return -1;
}

static bool
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static int
hex_upper(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A literal segment exactly as path_canonicalize() could emit it, so a
 * rule can only name a path that can actually arrive: pchar bytes, or
 * %XX with upper-case hex for a byte that is not unreserved (those are
 * decoded), not '/', '\\', NUL or >= 0x80 (those are refused).  Not a dot
 * segment, and not "*", which is always the wildcard.
 */
static bool
seg_literal_valid(const char *s, size_t len)
{
	if (len == 0 || len > KH_POLICY_SEG_MAX || seg_is_dot(s, len))
		return false;
	if (len == 1 && s[0] == '*')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (len - i < 3)
				return false;
			int hi = hex_upper((unsigned char)s[i + 1]);
			int lo = hex_upper((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			unsigned char d = (unsigned char)(hi << 4 | lo);
			if (is_unreserved(d) || d == '/' || d == '\\' || d == 0 ||
			    d >= 0x80)
				return false;
			i += 2;
			continue;
		}
		if (is_unreserved(c) ||
		    (c != '\0' && strchr("!$&'()*+,;=:@", c) != NULL))
			continue;
		return false;
	}
	return true;
}

/* RFC 9110 tchar, upper-case letters excluded: tables hold names folded. */
static bool
hname_valid(const char *s, size_t len)
{
	if (len == 0 || len > KH_HNAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL)
			continue;
		return false;
	}
	return true;
}

void
policy_encode(const struct policy *p, struct wbuf *w)
{
	/* A table the decoder would refuse is never written. */
	if (p->nrules > KH_POLICY_RULES_MAX || p->nreq_hdrs > KH_POLICY_HDRS_MAX ||
	    p->nresp_hdrs > KH_POLICY_HDRS_MAX) {
		w->failed = true;
		return;
	}
	msg_put_u64(w, p->max_body);
	msg_put_u16(w, (uint16_t)p->nrules);
	for (size_t i = 0; i < p->nrules; i++) {
		const struct pol_rule *r = &p->rules[i];
		if (r->nsegs > KH_POLICY_SEGS_MAX) {
			w->failed = true;
			return;
		}
		msg_put_cstr(w, r->method);
		msg_put_u32(w, r->line);
		msg_put_u16(w, r->nsegs);
		for (size_t j = 0; j < r->nsegs; j++) {
			msg_put_u8(w, r->segs[j].kind);
			msg_put_str(w, r->segs[j].lit, r->segs[j].len);
		}
	}
	msg_put_u16(w, (uint16_t)p->nreq_hdrs);
	for (size_t i = 0; i < p->nreq_hdrs; i++)
		msg_put_cstr(w, p->req_hdrs[i]);
	msg_put_u16(w, (uint16_t)p->nresp_hdrs);
	for (size_t i = 0; i < p->nresp_hdrs; i++)
		msg_put_cstr(w, p->resp_hdrs[i]);
}

static int decode_fail(struct policy *, char *, size_t, const char *, ...)
    __attribute__((format(printf, 4, 5)));

static int
decode_fail(struct policy *out, char *err, size_t errlen, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	policy_free(out);
	return -1;
}

/* Returns NULL, or why the list is refused. */
static const char *
decode_hdrs(struct msg_reader *r, char list[][KH_HNAME_MAX + 1], size_t *n)
{
	uint16_t cnt;
	const char *s;
	size_t len;

	if (msg_get_u16(r, &cnt) < 0)
		return "truncated header count";
	if (cnt > KH_POLICY_HDRS_MAX)
		return "too many header names";
	for (size_t i = 0; i < cnt; i++) {
		if (msg_get_str(r, &s, &len, KH_HNAME_MAX) < 0)
			return "truncated or oversized header name";
		if (!hname_valid(s, len))
			return "header name is not a lower-case token";
		if (policy_header_forbidden(s, len))
			return "forbidden header name";
		if (hdr_in((const char (*)[KH_HNAME_MAX + 1])list, i, s, len))
			return "duplicate header name";
		memcpy(list[i], s, len);
		list[i][len] = '\0';
	}
	*n = cnt;
	return NULL;
}

/* Smallest encoding of one rule: empty method str, line, nsegs.  Used to
 * refuse a count the payload cannot hold before allocating for it. */
#define RULE_MIN_BYTES	(4 + 4 + 2)

int
policy_decode(struct msg_reader *r, struct policy *out, char *err,
    size_t errlen)
{
	uint16_t nrules;
	const char *why;

	policy_init(out);
	if (msg_get_u64(r, &out->max_body) < 0 || msg_get_u16(r, &nrules) < 0)
		return decode_fail(out, err, errlen, "policy: truncated header");
	if (out->max_body > KH_BODY_MAX)
		return decode_fail(out, err, errlen,
		    "policy: max_body %llu over limit %u",
		    (unsigned long long)out->max_body, KH_BODY_MAX);
	if (nrules == 0 || nrules > KH_POLICY_RULES_MAX)
		return decode_fail(out, err, errlen,
		    "policy: rule count %u outside 1..%u", nrules,
		    KH_POLICY_RULES_MAX);
	if ((size_t)nrules * RULE_MIN_BYTES > r->len - r->off)
		return decode_fail(out, err, errlen,
		    "policy: rule count %u exceeds payload", nrules);
	out->rules = calloc(nrules, sizeof(*out->rules));
	if (out->rules == NULL)
		return decode_fail(out, err, errlen, "policy: out of memory");
	out->nrules = nrules;

	for (size_t i = 0; i < nrules; i++) {
		struct pol_rule *rule = &out->rules[i];
		const char *s;
		size_t len;

		if (msg_get_str(r, &s, &len, KH_METHOD_MAX) < 0)
			return decode_fail(out, err, errlen,
			    "policy: rule %zu: truncated or oversized method", i);
		if (!policy_method_valid(s, len))
			return decode_fail(out, err, errlen,
			    "policy: rule %zu: invalid method", i);
		memcpy(rule->method, s, len);
		rule->method[len] = '\0';
		if (msg_get_u32(r, &rule->line) < 0 ||
		    msg_get_u16(r, &rule->nsegs) < 0)
			return decode_fail(out, err, errlen,
			    "policy: rule %zu: truncated", i);
		if (rule->nsegs > KH_POLICY_SEGS_MAX)
			return decode_fail(out, err, errlen,
			    "policy: rule %zu: %u segments over limit %u", i,
			    rule->nsegs, KH_POLICY_SEGS_MAX);
		for (size_t j = 0; j < rule->nsegs; j++) {
			struct pol_seg *g = &rule->segs[j];
			if (msg_get_u8(r, &g->kind) < 0 ||
			    msg_get_str(r, &s, &len, KH_POLICY_SEG_MAX) < 0)
				return decode_fail(out, err, errlen,
				    "policy: rule %zu seg %zu: truncated or "
				    "oversized", i, j);
			if (g->kind == SEG_STAR ? len != 0 :
			    g->kind != SEG_LIT || !seg_literal_valid(s, len))
				return decode_fail(out, err, errlen,
				    "policy: rule %zu seg %zu: invalid segment",
				    i, j);
			memcpy(g->lit, s, len);
			g->lit[len] = '\0';
			g->len = len;
		}
	}
	if ((why = decode_hdrs(r, out->req_hdrs, &out->nreq_hdrs)) != NULL)
		return decode_fail(out, err, errlen, "policy: request headers: %s",
		    why);
	if ((why = decode_hdrs(r, out->resp_hdrs, &out->nresp_hdrs)) != NULL)
		return decode_fail(out, err, errlen,
		    "policy: response headers: %s", why);
	if (msg_end(r) < 0)
		return decode_fail(out, err, errlen, "policy: trailing bytes");
	return 0;
}

static bool
rule_equal(const struct pol_rule *a, const struct pol_rule *b)
{
	if (strcmp(a->method, b->method) != 0 || a->line != b->line ||
	    a->nsegs != b->nsegs)
		return false;
	for (size_t j = 0; j < a->nsegs; j++) {
		const struct pol_seg *x = &a->segs[j], *y = &b->segs[j];
		if (x->kind != y->kind || x->len != y->len ||
		    memcmp(x->lit, y->lit, x->len) != 0)
			return false;
	}
	return true;
}

bool
policy_equal(const struct policy *a, const struct policy *b)
{
	/* Everything on the wire, nothing else (the *_set flags are the
	 * compiler's bookkeeping and never sent). */
	if (a->max_body != b->max_body || a->nrules != b->nrules ||
	    a->nreq_hdrs != b->nreq_hdrs || a->nresp_hdrs != b->nresp_hdrs)
		return false;
	for (size_t i = 0; i < a->nrules; i++)
		if (!rule_equal(&a->rules[i], &b->rules[i]))
			return false;
	for (size_t i = 0; i < a->nreq_hdrs; i++)
		if (strcmp(a->req_hdrs[i], b->req_hdrs[i]) != 0)
			return false;
	for (size_t i = 0; i < a->nresp_hdrs; i++)
		if (strcmp(a->resp_hdrs[i], b->resp_hdrs[i]) != 0)
			return false;
	return true;
}

void
policy_print(FILE *f, const struct policy *p)
{
	uint64_t mb = p->max_body;

	if (mb != 0) {
		if (mb % (1024 * 1024) == 0)
			fprintf(f, "max-body %llum\n",
			    (unsigned long long)(mb / (1024 * 1024)));
		else if (mb % 1024 == 0)
			fprintf(f, "max-body %lluk\n",
			    (unsigned long long)(mb / 1024));
		else
			fprintf(f, "max-body %llu\n", (unsigned long long)mb);
	}
	for (size_t i = 0; i < p->nreq_hdrs; i++)
		fprintf(f, "request-header %s\n", p->req_hdrs[i]);
	for (size_t i = 0; i < p->nresp_hdrs; i++)
		fprintf(f, "response-header %s\n", p->resp_hdrs[i]);
	for (size_t i = 0; i < p->nrules; i++) {
		const struct pol_rule *r = &p->rules[i];
		fprintf(f, "allow %s ", r->method);
		if (r->nsegs == 0)
			fputc('/', f);
		for (size_t j = 0; j < r->nsegs; j++)
			fprintf(f, "/%s", r->segs[j].kind == SEG_STAR ? "*" :
			    r->segs[j].lit);
		fputc('\n', f);
	}
}
