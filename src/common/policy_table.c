/*
 * keyhole compiled route policy: names, variable bindings, and the
 * MSG_POLICY encoder/decoder.  Linked into both processes.
 * policy_decode() is the parent's view of a table built by a child that
 * may be compromised, so it re-checks every count, enum, flag and string
 * and trusts nothing the compiler already checked.  The encoding is
 * documented in policy_table.h; matching is in policy_match.c, the text
 * form in policy_print.c.
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
 * Never allowlistable, in either direction, globally or per rule.  Each
 * line says why.
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

/* A dot segment in any spelling a canonical path could still carry. */
static bool
seg_is_dot(const char *s, size_t len)
{
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return true;
	if (len >= 2 && s[0] == '.' && s[1] == ';')
		return true;
	return len >= 3 && s[0] == '.' && s[1] == '.' && s[2] == ';';
}

/*
 * A literal segment exactly as path_canonicalize() could emit it, so a
 * rule (or a bound value) can only name a path that can actually arrive:
 * pchar bytes, or %XX with upper-case hex for a byte that is not
 * unreserved (those are decoded), not '/', '\\', NUL or >= 0x80 (those
 * are refused).  Not a dot segment, and not "*" or "**" (the wildcards).
 */
bool
policy_segment_valid(const char *s, size_t len)
{
	if (len == 0 || len > KH_POLICY_SEG_MAX || seg_is_dot(s, len))
		return false;
	if ((len == 1 && s[0] == '*') || (len == 2 && s[0] == '*' &&
	    s[1] == '*'))
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

bool
policy_var_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > KH_POLICY_VAR_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
			continue;
		if (i > 0 && c >= '0' && c <= '9')
			continue;
		return false;
	}
	return true;
}

bool
policy_key_valid(const char *s, size_t len)
{
	if (len == 0 || len > KH_POLICY_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (c != '\0' && strchr("_.$@-", c) != NULL))
			continue;
		return false;
	}
	return true;
}

/* RFC 9110 tchar, upper-case letters excluded: tables hold names folded. */
static bool
is_lower_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

bool
policy_hname_valid(const char *s, size_t len)
{
	if (len == 0 || len > KH_HNAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_lower_tchar((unsigned char)s[i]))
			return false;
	return true;
}

bool
policy_ctype_valid(const char *s, size_t len)
{
	const char *slash = len ? memchr(s, '/', len) : NULL;

	if (len == 0 || len > KH_POLICY_CTYPE_MAX || slash == NULL ||
	    slash == s || slash == s + len - 1 || memchr(s, '*', len) != NULL)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s + i != slash && !is_lower_tchar((unsigned char)s[i]))
			return false;
	return true;
}

const struct pol_binding *
policy_binding_find(const struct pol_bindings *b, const char *name,
    size_t len)
{
	if (b == NULL)
		return NULL;
	for (size_t i = 0; i < b->n; i++)
		if (strlen(b->b[i].name) == len &&
		    memcmp(b->b[i].name, name, len) == 0)
			return &b->b[i];
	return NULL;
}

int
policy_binding_add(struct pol_bindings *b, const char *arg, char *why,
    size_t whylen)
{
	const char *eq = strchr(arg, '=');
	size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
	const char *v = eq ? eq + 1 : "";
	size_t vlen = strlen(v);

	if (eq == NULL) {
		snprintf(why, whylen, "'%s' is not NAME=VALUE", arg);
		return -1;
	}
	if (!policy_var_name_valid(arg, nlen)) {
		snprintf(why, whylen, "'%.*s' is not a variable name (letters, "
		    "digits and '_', not starting with a digit, at most %u "
		    "bytes)", (int)nlen, arg, KH_POLICY_VAR_MAX);
		return -1;
	}
	if (!policy_segment_valid(v, vlen)) {
		snprintf(why, whylen, "value '%s' of '%.*s' is not one path "
		    "segment as keyhole matches it (non-empty, no '/', not "
		    "'.', '..', '*' or '**'; bytes other than letters, digits "
		    "and -._~!$&'()*+,;=:@ percent-encoded with upper-case hex; "
		    "at most %u bytes)", v, (int)nlen, arg, KH_POLICY_SEG_MAX);
		return -1;
	}
	if (policy_binding_find(b, arg, nlen) != NULL) {
		snprintf(why, whylen, "variable '%.*s' is bound twice",
		    (int)nlen, arg);
		return -1;
	}
	if (b->n == KH_POLICY_VARS_MAX) {
		snprintf(why, whylen, "more than %u variables",
		    KH_POLICY_VARS_MAX);
		return -1;
	}
	struct pol_binding *e = &b->b[b->n++];
	memcpy(e->name, arg, nlen);
	e->name[nlen] = '\0';
	memcpy(e->value, v, vlen + 1);
	e->vlen = vlen;
	return 0;
}

/* ---- encoding ---- */

static void
put_list(struct wbuf *w, size_t n, size_t max, const char *base, size_t stride)
{
	if (n > max) {
		w->failed = true;
		return;
	}
	msg_put_u16(w, (uint16_t)n);
	for (size_t i = 0; i < n; i++)
		msg_put_cstr(w, base + i * stride);
}

static void
encode_rule(const struct pol_rule *r, struct wbuf *w)
{
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
	msg_put_u8(w, r->flags);
	msg_put_u64(w, r->max_body);
	put_list(w, r->nkeys, KH_POLICY_KEYS_MAX, r->keys[0], sizeof(r->keys[0]));
	put_list(w, r->nctypes, KH_POLICY_CTYPES_MAX, r->ctypes[0],
	    sizeof(r->ctypes[0]));
	put_list(w, r->nhdrs, KH_POLICY_RHDRS_MAX, r->hdrs[0],
	    sizeof(r->hdrs[0]));
	msg_put_u32(w, r->rate_count);
	msg_put_u32(w, r->rate_period_s);
}

void
policy_encode(const struct policy *p, struct wbuf *w)
{
	/* A table the decoder would refuse is never written. */
	if (p->nrules > KH_POLICY_RULES_MAX) {
		w->failed = true;
		return;
	}
	msg_put_u64(w, p->max_body);
	msg_put_u32(w, p->max_mutations);
	msg_put_u16(w, (uint16_t)p->nrules);
	for (size_t i = 0; i < p->nrules; i++)
		encode_rule(&p->rules[i], w);
	put_list(w, p->nreq_hdrs, KH_POLICY_HDRS_MAX, p->req_hdrs[0],
	    sizeof(p->req_hdrs[0]));
	put_list(w, p->nresp_hdrs, KH_POLICY_HDRS_MAX, p->resp_hdrs[0],
	    sizeof(p->resp_hdrs[0]));
}

/* ---- decoding: every byte is hostile ---- */

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

enum list_kind { L_HDR, L_KEY, L_CTYPE };

/* A list of distinct names into base[i * stride]; returns NULL or why it
 * is refused. */
static const char *
decode_list(struct msg_reader *r, enum list_kind kind, size_t max,
    size_t maxlen, char *base, size_t stride, size_t *n)
{
	uint16_t cnt;
	const char *s;
	size_t len;

	if (msg_get_u16(r, &cnt) < 0)
		return "truncated count";
	if (cnt > max)
		return "too many names";
	for (size_t i = 0; i < cnt; i++) {
		if (msg_get_str(r, &s, &len, maxlen) < 0)
			return "truncated or oversized name";
		switch (kind) {
		case L_HDR:
			if (!policy_hname_valid(s, len))
				return "header name is not a lower-case token";
			if (policy_header_forbidden(s, len))
				return "forbidden header name";
			break;
		case L_KEY:
			if (!policy_key_valid(s, len))
				return "invalid key";
			break;
		case L_CTYPE:
			if (!policy_ctype_valid(s, len))
				return "invalid media type";
			break;
		}
		for (size_t k = 0; k < i; k++)
			if (strlen(base + k * stride) == len &&
			    memcmp(base + k * stride, s, len) == 0)
				return "duplicate name";
		memcpy(base + i * stride, s, len);
		base[i * stride + len] = '\0';
	}
	*n = cnt;
	return NULL;
}

/* Register a {name} segment: resolve it against this process's bindings. */
static const char *
decode_var(struct policy *out, const struct pol_bindings *bind,
    struct pol_seg *g)
{
	size_t i;

	if (!policy_var_name_valid(g->lit, g->len))
		return "invalid variable name";
	for (i = 0; i < out->nvars; i++)
		if (strcmp(out->vars[i].name, g->lit) == 0)
			break;
	if (i == out->nvars) {
		if (out->nvars == KH_POLICY_VARS_MAX)
			return "too many variables";
		struct pol_var *v = &out->vars[out->nvars++];
		const struct pol_binding *b = policy_binding_find(bind, g->lit,
		    g->len);
		memcpy(v->name, g->lit, g->len + 1);
		if (b != NULL) {
			v->bound = true;
			memcpy(v->value, b->value, b->vlen + 1);
			v->vlen = b->vlen;
		}
	}
	g->var = (int)i;
	return NULL;
}

static const char *
decode_segs(struct msg_reader *r, const struct pol_bindings *bind,
    struct policy *out, struct pol_rule *rule)
{
	const char *s, *why;
	size_t len;

	if (msg_get_u16(r, &rule->nsegs) < 0)
		return "truncated";
	if (rule->nsegs > KH_POLICY_SEGS_MAX)
		return "too many segments";
	for (size_t j = 0; j < rule->nsegs; j++) {
		struct pol_seg *g = &rule->segs[j];
		if (msg_get_u8(r, &g->kind) < 0 ||
		    msg_get_str(r, &s, &len, KH_POLICY_SEG_MAX) < 0)
			return "truncated or oversized segment";
		memcpy(g->lit, s, len);
		g->lit[len] = '\0';
		g->len = len;
		g->var = -1;
		switch (g->kind) {
		case SEG_LIT:
			if (!policy_segment_valid(s, len))
				return "invalid literal segment";
			break;
		case SEG_STAR:
			if (len != 0)
				return "'*' with text";
			break;
		case SEG_GLOB:
			if (len != 0 || j + 1 != rule->nsegs)
				return "'**' with text or not last";
			break;
		case SEG_VAR:
			if ((why = decode_var(out, bind, g)) != NULL)
				return why;
			break;
		default:
			return "unknown segment kind";
		}
	}
	return NULL;
}

/* Everything after the segments; NULL or why the rule is refused. */
static const char *
decode_constraints(struct msg_reader *r, struct pol_rule *rule)
{
	size_t n;
	const char *why;

	if (msg_get_u8(r, &rule->flags) < 0 ||
	    msg_get_u64(r, &rule->max_body) < 0)
		return "truncated";
	if ((rule->flags & ~POL_FLAGS_ALL) != 0 ||
	    ((rule->flags & POL_BODY_JSON) && (rule->flags & POL_BODY_NONE)))
		return "invalid flags";
	if (rule->max_body > KH_BODY_MAX)
		return "max_body over limit";
	if ((why = decode_list(r, L_KEY, KH_POLICY_KEYS_MAX, KH_POLICY_KEY_MAX,
	    rule->keys[0], sizeof(rule->keys[0]), &n)) != NULL)
		return why;
	rule->nkeys = (uint16_t)n;
	if ((why = decode_list(r, L_CTYPE, KH_POLICY_CTYPES_MAX,
	    KH_POLICY_CTYPE_MAX, rule->ctypes[0], sizeof(rule->ctypes[0]),
	    &n)) != NULL)
		return why;
	rule->nctypes = (uint16_t)n;
	if ((why = decode_list(r, L_HDR, KH_POLICY_RHDRS_MAX, KH_HNAME_MAX,
	    rule->hdrs[0], sizeof(rule->hdrs[0]), &n)) != NULL)
		return why;
	rule->nhdrs = (uint16_t)n;
	if (msg_get_u32(r, &rule->rate_count) < 0 ||
	    msg_get_u32(r, &rule->rate_period_s) < 0)
		return "truncated";
	if (rule->rate_count == 0 ? rule->rate_period_s != 0 :
	    (rule->rate_count > KH_POLICY_RATE_MAX ||
	    (rule->rate_period_s != 1 && rule->rate_period_s != 60)))
		return "invalid rate";
	/* A body rule on a method that never carries one: the compiler
	 * refuses it, so a table holding one was not compiled. */
	bool bodyless = strcmp(rule->method, "GET") == 0 ||
	    strcmp(rule->method, "HEAD") == 0;
	if (bodyless && (rule->flags & (POL_BODY_JSON | POL_BODY_NONE) ||
	    rule->nkeys || rule->nctypes || rule->max_body))
		return "body constraint on GET or HEAD";
	return NULL;
}

/* Smallest encoding of one rule: empty method str, line, nsegs, flags,
 * max_body, three list counts, rate.  Used to refuse a count the payload
 * cannot hold before allocating for it. */
#define RULE_MIN_BYTES	(4 + 4 + 2 + 1 + 8 + 2 + 2 + 2 + 4 + 4)

int
policy_decode(struct msg_reader *r, const struct pol_bindings *bind,
    struct policy *out, char *err, size_t errlen)
{
	uint16_t nrules;
	const char *why;
	size_t n;

	policy_init(out);
	if (msg_get_u64(r, &out->max_body) < 0 ||
	    msg_get_u32(r, &out->max_mutations) < 0 ||
	    msg_get_u16(r, &nrules) < 0)
		return decode_fail(out, err, errlen, "policy: truncated header");
	if (out->max_body > KH_BODY_MAX)
		return decode_fail(out, err, errlen,
		    "policy: max_body %llu over limit %u",
		    (unsigned long long)out->max_body, KH_BODY_MAX);
	if (out->max_mutations > KH_POLICY_BUDGET_MAX)
		return decode_fail(out, err, errlen,
		    "policy: max_mutations over limit");
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
		if (msg_get_u32(r, &rule->line) < 0)
			return decode_fail(out, err, errlen,
			    "policy: rule %zu: truncated", i);
		if ((why = decode_segs(r, bind, out, rule)) != NULL ||
		    (why = decode_constraints(r, rule)) != NULL)
			return decode_fail(out, err, errlen,
			    "policy: rule %zu: %s", i, why);
	}
	if ((why = decode_list(r, L_HDR, KH_POLICY_HDRS_MAX, KH_HNAME_MAX,
	    out->req_hdrs[0], sizeof(out->req_hdrs[0]), &n)) != NULL)
		return decode_fail(out, err, errlen, "policy: request headers: %s",
		    why);
	out->nreq_hdrs = n;
	if ((why = decode_list(r, L_HDR, KH_POLICY_HDRS_MAX, KH_HNAME_MAX,
	    out->resp_hdrs[0], sizeof(out->resp_hdrs[0]), &n)) != NULL)
		return decode_fail(out, err, errlen,
		    "policy: response headers: %s", why);
	out->nresp_hdrs = n;
	if (msg_end(r) < 0)
		return decode_fail(out, err, errlen, "policy: trailing bytes");
	return 0;
}

static bool
list_equal(size_t n, const char *a, const char *b, size_t stride)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a + i * stride, b + i * stride) != 0)
			return false;
	return true;
}

static bool
rule_equal(const struct pol_rule *a, const struct pol_rule *b)
{
	if (strcmp(a->method, b->method) != 0 || a->line != b->line ||
	    a->nsegs != b->nsegs || a->flags != b->flags ||
	    a->max_body != b->max_body || a->nkeys != b->nkeys ||
	    a->nctypes != b->nctypes || a->nhdrs != b->nhdrs ||
	    a->rate_count != b->rate_count ||
	    a->rate_period_s != b->rate_period_s)
		return false;
	for (size_t j = 0; j < a->nsegs; j++) {
		const struct pol_seg *x = &a->segs[j], *y = &b->segs[j];
		if (x->kind != y->kind || x->len != y->len ||
		    memcmp(x->lit, y->lit, x->len) != 0)
			return false;
	}
	return list_equal(a->nkeys, a->keys[0], b->keys[0], sizeof(a->keys[0])) &&
	    list_equal(a->nctypes, a->ctypes[0], b->ctypes[0],
	    sizeof(a->ctypes[0])) &&
	    list_equal(a->nhdrs, a->hdrs[0], b->hdrs[0], sizeof(a->hdrs[0]));
}

bool
policy_equal(const struct policy *a, const struct policy *b)
{
	/* Everything on the wire, nothing else (bindings, the *_set flags
	 * and columns are each process's own bookkeeping). */
	if (a->max_body != b->max_body || a->max_mutations != b->max_mutations ||
	    a->nrules != b->nrules || a->nreq_hdrs != b->nreq_hdrs ||
	    a->nresp_hdrs != b->nresp_hdrs)
		return false;
	for (size_t i = 0; i < a->nrules; i++)
		if (!rule_equal(&a->rules[i], &b->rules[i]))
			return false;
	return list_equal(a->nreq_hdrs, a->req_hdrs[0], b->req_hdrs[0],
	    sizeof(a->req_hdrs[0])) &&
	    list_equal(a->nresp_hdrs, a->resp_hdrs[0], b->resp_hdrs[0],
	    sizeof(a->resp_hdrs[0]));
}
