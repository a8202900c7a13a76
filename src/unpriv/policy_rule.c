/*
 * keyhole route policy compiler: one `allow METHOD PATTERN [CONSTRAINT
 * VALUE]...` line.  Every check here must accept no more than the
 * parent's decoder (policy_table.c) does: the compiler's self-check and
 * fuzz_policy_compile hold them together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "policy_compile_int.h"

static bool
is_unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
	    ch == '~';
}

int
pc_var(struct compiler *c, uint32_t line, const char *name, size_t len)
{
	struct policy *p = c->p;
	size_t i;

	for (i = 0; i < p->nvars; i++)
		if (strlen(p->vars[i].name) == len &&
		    memcmp(p->vars[i].name, name, len) == 0)
			return (int)i;
	if (p->nvars == KH_POLICY_VARS_MAX) {
		pc_error(c, line, name, "more than %u distinct variables",
		    KH_POLICY_VARS_MAX);
		return -1;
	}
	struct pol_var *v = &p->vars[p->nvars++];
	memset(v, 0, sizeof(*v));
	memcpy(v->name, name, len);
	const struct pol_binding *b = policy_binding_find(c->bind, name, len);
	if (b != NULL) {
		v->bound = true;
		memcpy(v->value, b->value, b->vlen + 1);
		v->vlen = b->vlen;
	}
	return (int)i;
}

/*
 * One literal pattern segment, checked against exactly what
 * path_canonicalize() can emit, with a message saying what to write
 * instead.  Must accept no more than policy_segment_valid().
 */
static bool
pc_literal(struct compiler *c, uint32_t line, const struct field *pat,
    const char *s, size_t len)
{
	int pl = (int)pat->len, sl = (int)len;

	if (memchr(s, '*', len) != NULL) {
		pc_error(c, line, s, "segment '%.*s' in pattern '%.*s' mixes "
		    "'*' with other characters ('*' and '**' must be whole "
		    "segments; there are no partial wildcards)", sl, s, pl,
		    pat->s);
		return false;
	}
	if (memchr(s, '{', len) != NULL || memchr(s, '}', len) != NULL) {
		pc_error(c, line, s, "segment '%.*s' in pattern '%.*s': a "
		    "variable must be a whole segment, '{name}'", sl, s, pl,
		    pat->s);
		return false;
	}
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' &&
	    s[1] == '.') || (len >= 2 && s[0] == '.' && s[1] == ';') ||
	    (len >= 3 && s[0] == '.' && s[1] == '.' && s[2] == ';')) {
		pc_error(c, line, s, "dot segment '%.*s' in pattern '%.*s' can "
		    "never match (keyhole refuses such paths); name the target "
		    "path directly", sl, s, pl, pat->s);
		return false;
	}
	if (len > KH_POLICY_SEG_MAX) {
		pc_error(c, line, s, "a segment of pattern '%.*s' is longer "
		    "than %u bytes", pl, pat->s, KH_POLICY_SEG_MAX);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '%') {
			int hi = i + 2 < len ? hex_value((uint8_t)s[i + 1]) : -1;
			int lo = i + 2 < len ? hex_value((uint8_t)s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				pc_error(c, line, s + i, "bad percent-escape in "
				    "pattern '%.*s' (write '%%' as %%25 and "
				    "escapes as %%XX with two hex digits)",
				    pl, pat->s);
				return false;
			}
			unsigned char d = (unsigned char)(hi << 4 | lo);
			if (d == '/' || d == '\\' || d < 0x20 || d == 0x7f) {
				pc_error(c, line, s + i, "'%.3s' in pattern "
				    "'%.*s' can never match (keyhole refuses "
				    "%%2F, %%5C and encoded controls in paths)",
				    s + i, pl, pat->s);
				return false;
			}
			if (is_unreserved(d)) {
				pc_error(c, line, s + i, "'%.3s' in pattern "
				    "'%.*s' encodes '%c', which keyhole decodes "
				    "in paths; write '%c'", s + i, pl, pat->s,
				    d, d);
				return false;
			}
			if (s[i + 1] >= 'a' || s[i + 2] >= 'a') {
				pc_error(c, line, s + i, "'%.3s' in pattern "
				    "'%.*s' must use upper-case hex: '%%%02X'",
				    s + i, pl, pat->s, d);
				return false;
			}
			i += 2;
			continue;
		}
		if (is_unreserved(ch) || strchr("!$&'()+,;=:@", ch) != NULL)
			continue;
		if (ch == '\\')
			pc_error(c, line, s + i, "'\\' in pattern '%.*s' can "
			    "never match (keyhole refuses it in paths)", pl,
			    pat->s);
		else
			pc_error(c, line, s + i, "character '%c' in pattern "
			    "'%.*s' is not allowed in a path segment "
			    "(percent-encode it as '%%%02X')", ch, pl, pat->s,
			    ch);
		return false;
	}
	/* What is left for path.c alone to refuse (the decoder in the
	 * parent asks it too): non-ASCII that is not UTF-8 or is a C1
	 * control or a Unicode form of '/' or '\\', a dot segment or an
	 * empty name in a Unicode spelling, an empty name before ';'. */
	if (!policy_segment_valid(s, len)) {
		pc_error(c, line, s, "segment '%.*s' in pattern '%.*s' can "
		    "never match: keyhole refuses it in paths (non-ASCII must "
		    "be UTF-8 percent-encoded, e.g. caf%%C3%%A9, and not a C1 "
		    "control or a Unicode form of '/', '\\' or of a '.' or "
		    "'..' segment; a name may not be empty before ';')", sl,
		    s, pl, pat->s);
		return false;
	}
	return true;
}

/* One segment into g; false after one error. */
static bool
pc_segment(struct compiler *c, uint32_t line, const struct field *pat,
    const char *seg, size_t slen, bool last, struct pol_seg *g)
{
	int pl = (int)pat->len;

	memset(g, 0, sizeof(*g));
	g->var = -1;
	g->col = pc_col(c, seg);
	if (slen == 1 && seg[0] == '*') {
		g->kind = SEG_STAR;
		return true;
	}
	if (slen == 2 && seg[0] == '*' && seg[1] == '*') {
		if (!last) {
			pc_error(c, line, seg, "'**' in pattern '%.*s' must be "
			    "the last segment (it matches all the rest of the "
			    "path); use '*' for one segment", pl, pat->s);
			return false;
		}
		g->kind = SEG_GLOB;
		return true;
	}
	if (slen >= 2 && seg[0] == '{' && seg[slen - 1] == '}') {
		const char *name = seg + 1;
		size_t nlen = slen - 2;
		if (!policy_var_name_valid(name, nlen)) {
			pc_error(c, line, seg, "'%.*s' in pattern '%.*s' is not "
			    "a variable: write '{name}' with letters, digits "
			    "and '_', not starting with a digit, at most %u "
			    "bytes", (int)slen, seg, pl, pat->s,
			    KH_POLICY_VAR_MAX);
			return false;
		}
		int v = pc_var(c, line, name, nlen);
		if (v < 0)
			return false;
		g->kind = SEG_VAR;
		memcpy(g->lit, name, nlen);
		g->lit[nlen] = '\0';
		g->len = nlen;
		g->var = v;
		return true;
	}
	if (!pc_literal(c, line, pat, seg, slen))
		return false;
	g->kind = SEG_LIT;
	memcpy(g->lit, seg, slen);
	g->lit[slen] = '\0';
	g->len = slen;
	return true;
}

/* Parse PATTERN into r->segs; one error per pattern (the first). */
static bool
pc_pattern(struct compiler *c, uint32_t line, const struct field *pat,
    struct pol_rule *r)
{
	const char *s = pat->s;
	size_t len = pat->len;
	int pl = (int)len;

	if (s[0] != '/') {
		pc_error(c, line, s, "pattern '%.*s' must start with '/' (a "
		    "path below the upstream base URL)", pl, s);
		return false;
	}
	const char *q = memchr(s, '?', len);
	if (q != NULL) {
		pc_error(c, line, q, "'?' in pattern '%.*s': a pattern matches "
		    "the path only (use the constraint 'query none' to refuse "
		    "query strings)", pl, s);
		return false;
	}
	const char *h = memchr(s, '#', len);
	if (h != NULL) {
		pc_error(c, line, h, "'#' in pattern '%.*s' (a comment needs a "
		    "space before '#')", pl, s);
		return false;
	}
	r->nsegs = 0;
	if (len == 1)
		return true;		/* the root "/" */
	if (s[len - 1] == '/') {
		pc_error(c, line, s + len - 1, "trailing '/' in pattern '%.*s' "
		    "(write '%.*s'; only the root pattern '/' may end in '/')",
		    pl, s, pl - 1, s);
		return false;
	}
	for (size_t i = 1; i < len; i++) {
		if (s[i] == '/' && s[i - 1] == '/') {
			pc_error(c, line, s + i, "empty segment ('//') in "
			    "pattern '%.*s'", pl, s);
			return false;
		}
	}
	size_t start = 1;
	for (size_t i = 1; i <= len; i++) {
		if (i < len && s[i] != '/')
			continue;
		const char *seg = s + start;
		size_t slen = i - start;
		start = i + 1;
		if (r->nsegs == KH_POLICY_SEGS_MAX) {
			pc_error(c, line, seg, "pattern '%.*s' has more than %u "
			    "segments", pl, s, KH_POLICY_SEGS_MAX);
			return false;
		}
		if (!pc_segment(c, line, pat, seg, slen, i == len,
		    &r->segs[r->nsegs]))
			return false;
		r->nsegs++;
	}
	return true;
}

static bool
pc_method(struct compiler *c, uint32_t line, const struct field *m,
    struct pol_rule *r)
{
	if (policy_method_valid(m->s, m->len)) {
		memcpy(r->method, m->s, m->len);
		r->method[m->len] = '\0';
		return true;
	}
	char up[KH_METHOD_MAX + 1];
	size_t n = m->len <= KH_METHOD_MAX ? m->len : 0;
	for (size_t i = 0; i < n; i++) {
		char ch = m->s[i];
		up[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
	}
	up[n] = '\0';
	if (n > 0 && policy_method_valid(up, n))
		pc_error(c, line, m->s, "method '%.*s' must be upper-case: "
		    "'%s'", (int)m->len, m->s, up);
	else
		pc_error(c, line, m->s, "unknown method '%.*s' (expected GET, "
		    "HEAD, POST, PUT, PATCH, DELETE or OPTIONS)", (int)m->len,
		    m->s);
	return false;
}

enum list_kind { LK_KEY, LK_CTYPE, LK_HDR };

/*
 * A comma-separated list (no spaces) into base[i * stride]; content-type
 * and header names are folded to lower case.  False after one error.
 */
static bool
pc_list(struct compiler *c, uint32_t line, const struct field *kw,
    const struct field *v, enum list_kind kind, char *base, size_t stride,
    size_t max, uint16_t *n)
{
	const char *what = kind == LK_KEY ? "key" : kind == LK_CTYPE ?
	    "media type" : "header name";
	size_t pos = 0;

	*n = 0;
	while (pos <= v->len) {
		const char *item = v->s + pos;
		const char *comma = memchr(item, ',', v->len - pos);
		size_t ilen = comma ? (size_t)(comma - item) : v->len - pos;
		char buf[KH_POLICY_CTYPE_MAX + 1];
		int il = (int)ilen;

		pos += ilen + 1;
		if (ilen == 0) {
			pc_error(c, line, item, "empty %s in '%.*s %.*s' (a "
			    "comma-separated list without spaces)", what,
			    (int)kw->len, kw->s, (int)v->len, v->s);
			return false;
		}
		if (ilen >= stride || ilen > KH_POLICY_CTYPE_MAX) {
			pc_error(c, line, item, "%s '%.*s' is longer than %zu "
			    "bytes", what, il, item, stride - 1);
			return false;
		}
		for (size_t i = 0; i < ilen; i++) {
			char ch = item[i];
			buf[i] = (kind != LK_KEY && ch >= 'A' && ch <= 'Z') ?
			    (char)(ch + 32) : ch;
		}
		buf[ilen] = '\0';
		bool ok = kind == LK_KEY ? policy_key_valid(buf, ilen) :
		    kind == LK_CTYPE ? policy_ctype_valid(buf, ilen) :
		    policy_hname_valid(buf, ilen);
		if (!ok) {
			pc_error(c, line, item, "invalid %s '%.*s' (%s)", what, il,
			    item, kind == LK_KEY ? "letters, digits and _.$@-" :
			    kind == LK_CTYPE ? "type/subtype, e.g. "
			    "multipart/form-data; no parameters, no '*'" :
			    "a token of letters, digits and !#$%&'*+-.^_`|~");
			return false;
		}
		if (kind == LK_HDR && policy_header_forbidden(buf, ilen)) {
			pc_error(c, line, item, "header '%s' may never be "
			    "allowlisted (keyhole sets, strips or frames it "
			    "itself)", buf);
			return false;
		}
		for (size_t k = 0; k < *n; k++) {
			if (strcmp(base + k * stride, buf) == 0) {
				pc_error(c, line, item, "%s '%s' listed twice",
				    what, buf);
				return false;
			}
		}
		if (*n == max) {
			pc_error(c, line, item, "more than %zu entries in '%.*s'",
			    max, (int)kw->len, kw->s);
			return false;
		}
		memcpy(base + (*n)++ * stride, buf, ilen + 1);
	}
	return true;
}

static bool
pc_rate(struct compiler *c, uint32_t line, const struct field *v,
    struct pol_rule *r)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < v->len && v->s[i] >= '0' && v->s[i] <= '9'; i++)
		if (n <= KH_POLICY_RATE_MAX)
			n = n * 10 + (uint64_t)(v->s[i] - '0');
	const char *unit = v->s + i;
	size_t ulen = v->len - i;
	bool per_s = ulen == 2 && memcmp(unit, "/s", 2) == 0;
	bool per_min = ulen == 4 && memcmp(unit, "/min", 4) == 0;
	if (i == 0 || (!per_s && !per_min) || n == 0 ||
	    n > KH_POLICY_RATE_MAX) {
		pc_error(c, line, v->s, "bad rate '%.*s' (N/s or N/min with N "
		    "from 1 to %u, e.g. 'rate 30/min')", (int)v->len, v->s,
		    KH_POLICY_RATE_MAX);
		return false;
	}
	r->rate_count = (uint32_t)n;
	r->rate_period_s = per_s ? 1 : 60;
	return true;
}

/* Constraint keywords, in canonical order (the bit is its index). */
static const char *const constraint_names[] = {
	"body", "keys", "content-type", "request-header", "max-body", "query",
	"rate", NULL
};

static int
pc_constraint_index(const struct field *f)
{
	for (int i = 0; constraint_names[i] != NULL; i++)
		if (strlen(constraint_names[i]) == f->len &&
		    memcmp(constraint_names[i], f->s, f->len) == 0)
			return i;
	return -1;
}

/* Parse one `KEYWORD VALUE` pair; false after an error. */
static bool
pc_constraint(struct compiler *c, uint32_t line, int k, const struct field *kw,
    const struct field *v, struct pol_rule *r)
{
	int vl = (int)v->len;

	switch (k) {
	case 0:		/* body json|none */
		if (v->len == 4 && memcmp(v->s, "json", 4) == 0)
			r->flags |= POL_BODY_JSON;
		else if (v->len == 4 && memcmp(v->s, "none", 4) == 0)
			r->flags |= POL_BODY_NONE;
		else {
			pc_error(c, line, v->s, "'body %.*s': expected 'body "
			    "json' (a body is required and must be one JSON "
			    "value) or 'body none'", vl, v->s);
			return false;
		}
		return true;
	case 1:
		return pc_list(c, line, kw, v, LK_KEY, r->keys[0],
		    sizeof(r->keys[0]), KH_POLICY_KEYS_MAX, &r->nkeys);
	case 2:
		return pc_list(c, line, kw, v, LK_CTYPE, r->ctypes[0],
		    sizeof(r->ctypes[0]), KH_POLICY_CTYPES_MAX, &r->nctypes);
	case 3:
		return pc_list(c, line, kw, v, LK_HDR, r->hdrs[0],
		    sizeof(r->hdrs[0]), KH_POLICY_RHDRS_MAX, &r->nhdrs);
	case 4:
		return pc_size(c, line, v, "max-body", &r->max_body);
	case 5:		/* query none|any */
		if (v->len == 4 && memcmp(v->s, "none", 4) == 0)
			r->flags |= POL_QUERY_NONE;
		else if (!(v->len == 3 && memcmp(v->s, "any", 3) == 0)) {
			pc_error(c, line, v->s, "'query %.*s': expected 'query "
			    "none' or 'query any'", vl, v->s);
			return false;
		}
		return true;
	default:
		return pc_rate(c, line, v, r);
	}
}

/* Combinations that could never be satisfied or never apply.  at[k] is
 * where constraint k was written (NULL: absent). */
static bool
pc_constraints_agree(struct compiler *c, uint32_t line, struct pol_rule *r,
    const char *const *at)
{
	bool bodyless = strcmp(r->method, "GET") == 0 ||
	    strcmp(r->method, "HEAD") == 0;

	for (int k = 0; k <= 4; k++) {
		if (k == 3 || at[k] == NULL)
			continue;	/* request-header applies to any method */
		if (bodyless) {
			pc_error(c, line, at[k], "%s requests carry no body "
			    "(keyhole refuses one), so '%s' can never apply; "
			    "remove it", r->method, constraint_names[k]);
			return false;
		}
		if (k != 0 && (r->flags & POL_BODY_NONE)) {
			pc_error(c, line, at[k], "'%s' contradicts 'body none' "
			    "on the same rule; remove one", constraint_names[k]);
			return false;
		}
	}
	if ((r->nkeys > 0 || (r->flags & POL_BODY_JSON)) && r->nctypes > 0 &&
	    !policy_rule_ctype_allowed(r, "application/json", 16)) {
		pc_error(c, line, at[2], "'%s' checks a JSON body, but "
		    "'content-type' does not list application/json",
		    r->nkeys ? "keys" : "body json");
		return false;
	}
	return true;
}

static bool
rule_same_route(const struct pol_rule *a, const struct pol_rule *b)
{
	if (strcmp(a->method, b->method) != 0 || a->nsegs != b->nsegs)
		return false;
	for (size_t i = 0; i < a->nsegs; i++)
		if (a->segs[i].kind != b->segs[i].kind ||
		    a->segs[i].len != b->segs[i].len ||
		    memcmp(a->segs[i].lit, b->segs[i].lit, a->segs[i].len) != 0)
			return false;
	return true;
}

static void
pc_add_rule(struct compiler *c, uint32_t line, const struct field *pat)
{
	struct pol_rule *r = &c->rule;

	for (size_t i = 0; i < c->p->nrules; i++) {
		if (rule_same_route(&c->p->rules[i], r)) {
			pc_error(c, line, pat->s, "duplicate rule 'allow %s %.*s' "
			    "(first at line %u); remove one (the first matching "
			    "rule decides)", r->method, (int)pat->len, pat->s,
			    c->p->rules[i].line);
			return;
		}
	}
	if (c->p->nrules == KH_POLICY_RULES_MAX) {
		if (!c->rules_full)
			pc_error(c, line, NULL, "more than %u allow rules; "
			    "merge routes with '*' or '**'",
			    KH_POLICY_RULES_MAX);
		c->rules_full = true;
		return;
	}
	if (c->p->nrules == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		if (ncap > KH_POLICY_RULES_MAX)
			ncap = KH_POLICY_RULES_MAX;
		struct pol_rule *nr = realloc(c->p->rules, ncap * sizeof(*nr));
		if (nr == NULL) {
			pc_error(c, line, NULL, "out of memory");
			return;
		}
		c->p->rules = nr;
		c->cap = ncap;
	}
	c->p->rules[c->p->nrules++] = *r;
}

void
pc_allow(struct compiler *c, uint32_t line, const struct field *f, size_t nf)
{
	struct pol_rule *r = &c->rule;
	const char *at[8] = { NULL };
	bool ok;

	c->saw_allow = true;
	if (nf < 3) {
		pc_error(c, line, f[0].s, "'allow' needs a method and a "
		    "pattern, e.g. 'allow GET /api/agents/me'");
		return;
	}
	memset(r, 0, sizeof(*r));
	r->line = line;
	ok = pc_method(c, line, &f[1], r);
	ok = pc_pattern(c, line, &f[2], r) && ok;
	for (size_t i = 3; i < nf; i += 2) {
		int k = pc_constraint_index(&f[i]);
		if (k < 0) {
			pc_error(c, line, f[i].s, "unknown constraint '%.*s' "
			    "(expected body, keys, content-type, "
			    "request-header, max-body, query or rate)",
			    (int)f[i].len, f[i].s);
			ok = false;
			continue;
		}
		if (i + 1 == nf) {
			pc_error(c, line, f[i].s, "'%s' needs a value, e.g. "
			    "'%s'", constraint_names[k], k == 0 ? "body json" :
			    k == 1 ? "keys status,comment" : k == 2 ?
			    "content-type multipart/form-data" : k == 3 ?
			    "request-header x-request-id" : k == 4 ?
			    "max-body 64k" : k == 5 ? "query none" :
			    "rate 30/min");
			ok = false;
			break;
		}
		if (at[k] != NULL) {
			pc_error(c, line, f[i].s, "'%s' given twice on one rule; "
			    "remove one", constraint_names[k]);
			ok = false;
			continue;
		}
		at[k] = f[i].s;
		ok = pc_constraint(c, line, k, &f[i], &f[i + 1], r) && ok;
	}
	if (nf == POLICY_FIELDS_MAX) {
		pc_error(c, line, f[nf - 1].s, "too many fields on one line "
		    "(each constraint may be given once)");
		ok = false;
	}
	if (!ok || !pc_constraints_agree(c, line, r, at))
		return;
	pc_add_rule(c, line, &f[2]);
}
