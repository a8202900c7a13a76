/*
 * keyhole compiled route policy: the MSG_POLICY encoder/decoder.  Linked
 * into both processes.
 * policy_decode() is the parent's view of a table built by a child that
 * may be compromised, so it re-checks every count, enum, flag and string
 * and trusts nothing the compiler already checked.  The encoding is
 * documented in policy_table.h; matching is in policy_match.c, the text
 * form in policy_print.c, the name rules and bindings in policy_names.c.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "policy_table.h"

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
