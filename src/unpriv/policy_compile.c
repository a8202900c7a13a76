/*
 * keyhole route policy compiler (child only).  The language is documented
 * in policy_compile.h.  The text is the operator's, but it is parsed in the
 * child so the parent never parses it: the parent re-validates the binary
 * table with policy_decode().  Every message names the line and the fix,
 * and every error is reported, so one run shows an operator all of them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_compile.h"

/* Longest line, bytes without the newline.  A directive is a few dozen
 * bytes; anything near this is a mistake (or not a policy file). */
#define POLICY_LINE_MAX		1024u
/* Fields looked at per line: enough to see one too many. */
#define POLICY_FIELDS_MAX	4

struct field {
	const char *s;
	size_t len;
};

struct compiler {
	const char *file;
	policy_diag_fn diag;
	void *arg;
	int nerr;
	struct policy *p;
	size_t cap;			/* rules allocated */
	bool saw_allow;			/* even an invalid one: no "empty" error */
	bool rules_full;		/* limit reported once */
	uint32_t max_body_line;
	uint32_t req_line[KH_POLICY_HDRS_MAX];
	uint32_t resp_line[KH_POLICY_HDRS_MAX];
	struct pol_rule rule;		/* the rule being parsed */
};

static void pc_error(struct compiler *, uint32_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
pc_error(struct compiler *c, uint32_t line, const char *fmt, ...)
{
	char msg[3 * POLICY_LINE_MAX];
	va_list ap;
	int n;

	c->nerr++;
	if (c->diag == NULL)
		return;
	n = snprintf(msg, sizeof(msg), "%s:%u: ", c->file, line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	c->diag(c->arg, msg);
}

static bool
is_unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
	    ch == '~';
}

static int
hex_val(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/*
 * One pattern segment (not "*"), checked against exactly what
 * path_canonicalize() can emit, with a message saying what to write
 * instead.  Must accept no more than policy_table.c's seg_literal_valid():
 * the compiler's self-check and fuzz_policy_compile hold them together.
 */
static bool
pc_segment(struct compiler *c, uint32_t line, const struct field *pat,
    const char *s, size_t len)
{
	int pl = (int)pat->len, sl = (int)len;

	if (len == 2 && s[0] == '*' && s[1] == '*') {
		pc_error(c, line, "'**' in pattern '%.*s' is not supported in "
		    "v1 (use one '*' per path segment)", pl, pat->s);
		return false;
	}
	if (memchr(s, '*', len) != NULL) {
		pc_error(c, line, "segment '%.*s' in pattern '%.*s' mixes '*' "
		    "with other characters ('*' must be a whole segment; v1 "
		    "has no partial wildcards)", sl, s, pl, pat->s);
		return false;
	}
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' &&
	    s[1] == '.') || (len >= 2 && s[0] == '.' && s[1] == ';') ||
	    (len >= 3 && s[0] == '.' && s[1] == '.' && s[2] == ';')) {
		pc_error(c, line, "dot segment '%.*s' in pattern '%.*s' can "
		    "never match (keyhole refuses such paths); name the target "
		    "path directly", sl, s, pl, pat->s);
		return false;
	}
	if (len > KH_POLICY_SEG_MAX) {
		pc_error(c, line, "a segment of pattern '%.*s' is longer than "
		    "%u bytes", pl, pat->s, KH_POLICY_SEG_MAX);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '%') {
			int hi = i + 2 < len ? hex_val((unsigned char)s[i + 1]) : -1;
			int lo = i + 2 < len ? hex_val((unsigned char)s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				pc_error(c, line, "bad percent-escape in "
				    "pattern '%.*s' (write '%%' as %%25 and "
				    "escapes as %%XX with two hex digits)",
				    pl, pat->s);
				return false;
			}
			unsigned char d = (unsigned char)(hi << 4 | lo);
			if (d == '/' || d == '\\' || d == 0 || d >= 0x80) {
				pc_error(c, line, "'%.3s' in pattern '%.*s' can "
				    "never match (keyhole refuses %%2F, %%5C, "
				    "%%00 and non-ASCII bytes in paths)",
				    s + i, pl, pat->s);
				return false;
			}
			if (is_unreserved(d)) {
				pc_error(c, line, "'%.3s' in pattern '%.*s' "
				    "encodes '%c', which keyhole decodes in "
				    "paths; write '%c'", s + i, pl, pat->s, d, d);
				return false;
			}
			if (s[i + 1] >= 'a' || s[i + 2] >= 'a') {
				pc_error(c, line, "'%.3s' in pattern '%.*s' "
				    "must use upper-case hex: '%%%02X'", s + i,
				    pl, pat->s, d);
				return false;
			}
			i += 2;
			continue;
		}
		if (is_unreserved(ch) || strchr("!$&'()+,;=:@", ch) != NULL)
			continue;
		if (ch == '{' || ch == '}')
			pc_error(c, line, "'%c' in pattern '%.*s': variables are "
			    "not supported in v1 (use '*')", ch, pl, pat->s);
		else if (ch == '\\')
			pc_error(c, line, "'\\' in pattern '%.*s' can never "
			    "match (keyhole refuses it in paths)", pl, pat->s);
		else
			pc_error(c, line, "character '%c' in pattern '%.*s' is "
			    "not allowed in a path segment (percent-encode it "
			    "as '%%%02X')", ch, pl, pat->s, ch);
		return false;
	}
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
		pc_error(c, line, "pattern '%.*s' must start with '/' (a path "
		    "below the upstream base URL)", pl, s);
		return false;
	}
	if (memchr(s, '?', len) != NULL) {
		pc_error(c, line, "'?' in pattern '%.*s': a policy matches the "
		    "path only, never the query", pl, s);
		return false;
	}
	if (memchr(s, '#', len) != NULL) {
		pc_error(c, line, "'#' in pattern '%.*s' (a comment needs a "
		    "space before '#')", pl, s);
		return false;
	}
	r->nsegs = 0;
	if (len == 1)
		return true;		/* the root "/" */
	if (s[len - 1] == '/') {
		pc_error(c, line, "trailing '/' in pattern '%.*s' (write "
		    "'%.*s'; only the root pattern '/' may end in '/')", pl, s,
		    pl - 1, s);
		return false;
	}
	for (size_t i = 1; i < len; i++) {
		if (s[i] == '/' && s[i - 1] == '/') {
			pc_error(c, line, "empty segment ('//') in pattern "
			    "'%.*s'", pl, s);
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
			pc_error(c, line, "pattern '%.*s' has more than %u "
			    "segments", pl, s, KH_POLICY_SEGS_MAX);
			return false;
		}
		struct pol_seg *g = &r->segs[r->nsegs++];
		if (slen == 1 && seg[0] == '*') {
			g->kind = SEG_STAR;
			g->lit[0] = '\0';
			g->len = 0;
			continue;
		}
		if (!pc_segment(c, line, pat, seg, slen))
			return false;
		g->kind = SEG_LIT;
		memcpy(g->lit, seg, slen);
		g->lit[slen] = '\0';
		g->len = slen;
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
pc_allow(struct compiler *c, uint32_t line, const struct field *f, size_t nf)
{
	struct pol_rule *r = &c->rule;
	bool ok = true;

	c->saw_allow = true;
	if (nf < 3) {
		pc_error(c, line, "'allow' needs a method and a pattern, e.g. "
		    "'allow GET /api/agents/me'");
		return;
	}
	if (nf > 3) {
		pc_error(c, line, "unexpected '%.*s' after the pattern ('allow' "
		    "takes only METHOD PATTERN in v1)", (int)f[3].len, f[3].s);
		ok = false;
	}
	memset(r, 0, sizeof(*r));
	r->line = line;
	if (!policy_method_valid(f[1].s, f[1].len)) {
		char up[KH_METHOD_MAX + 1];
		size_t n = f[1].len <= KH_METHOD_MAX ? f[1].len : 0;
		for (size_t i = 0; i < n; i++) {
			char ch = f[1].s[i];
			up[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
		}
		up[n] = '\0';
		if (n > 0 && policy_method_valid(up, n))
			pc_error(c, line, "method '%.*s' must be upper-case: "
			    "'%s'", (int)f[1].len, f[1].s, up);
		else
			pc_error(c, line, "unknown method '%.*s' (expected "
			    "GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)",
			    (int)f[1].len, f[1].s);
		ok = false;
	} else {
		memcpy(r->method, f[1].s, f[1].len);
	}
	if (!pc_pattern(c, line, &f[2], r) || !ok)
		return;
	for (size_t i = 0; i < c->p->nrules; i++) {
		if (rule_same_route(&c->p->rules[i], r)) {
			pc_error(c, line, "duplicate rule 'allow %s %.*s' (first "
			    "at line %u); remove one", r->method, (int)f[2].len,
			    f[2].s, c->p->rules[i].line);
			return;
		}
	}
	if (c->p->nrules == KH_POLICY_RULES_MAX) {
		if (!c->rules_full)
			pc_error(c, line, "more than %u allow rules; merge "
			    "routes with '*'", KH_POLICY_RULES_MAX);
		c->rules_full = true;
		return;
	}
	if (c->p->nrules == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		if (ncap > KH_POLICY_RULES_MAX)
			ncap = KH_POLICY_RULES_MAX;
		struct pol_rule *nr = realloc(c->p->rules, ncap * sizeof(*nr));
		if (nr == NULL) {
			pc_error(c, line, "out of memory");
			return;
		}
		c->p->rules = nr;
		c->cap = ncap;
	}
	c->p->rules[c->p->nrules++] = *r;
}

static void
pc_header(struct compiler *c, uint32_t line, const struct field *f, size_t nf,
    bool req)
{
	const char *dir = req ? "request-header" : "response-header";
	char (*list)[KH_HNAME_MAX + 1] = req ? c->p->req_hdrs : c->p->resp_hdrs;
	size_t *n = req ? &c->p->nreq_hdrs : &c->p->nresp_hdrs;
	uint32_t *lines = req ? c->req_line : c->resp_line;
	char name[POLICY_LINE_MAX + 1];

	if (req)
		c->p->req_hdrs_set = true;
	else
		c->p->resp_hdrs_set = true;
	if (nf != 2) {
		if (nf < 2)
			pc_error(c, line, "'%s' needs one header name, e.g. "
			    "'%s content-type'", dir, dir);
		else
			pc_error(c, line, "unexpected '%.*s' after the header "
			    "name (one name per '%s' line)", (int)f[2].len,
			    f[2].s, dir);
		return;
	}
	/* Names are case-insensitive; the table holds them folded. */
	for (size_t i = 0; i < f[1].len; i++) {
		char ch = f[1].s[i];
		name[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
	}
	name[f[1].len] = '\0';
	if (f[1].len > KH_HNAME_MAX) {
		pc_error(c, line, "header name '%s' is longer than %u bytes",
		    name, KH_HNAME_MAX);
		return;
	}
	if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789"
	    "!#$%&'*+-.^_`|~") != f[1].len) {
		pc_error(c, line, "invalid header name '%s' (a token of letters, "
		    "digits and !#$%%&'*+-.^_`|~, without ':')", name);
		return;
	}
	if (policy_header_forbidden(name, f[1].len)) {
		pc_error(c, line, "header '%s' may never be allowlisted (keyhole "
		    "sets, strips or frames it itself); remove this line", name);
		return;
	}
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(list[i], name) == 0) {
			pc_error(c, line, "duplicate %s '%s' (first at line %u); "
			    "remove one", dir, name, lines[i]);
			return;
		}
	}
	if (*n == KH_POLICY_HDRS_MAX) {
		pc_error(c, line, "more than %u '%s' lines", KH_POLICY_HDRS_MAX,
		    dir);
		return;
	}
	memcpy(list[*n], name, f[1].len + 1);
	lines[(*n)++] = line;
}

static void
pc_max_body(struct compiler *c, uint32_t line, const struct field *f,
    size_t nf)
{
	uint64_t v = 0, unit = 1;
	size_t i;

	if (nf != 2) {
		pc_error(c, line, "'max-body' needs one size, e.g. 'max-body "
		    "1m'");
		return;
	}
	int fl = (int)f[1].len;
	for (i = 0; i < f[1].len && f[1].s[i] >= '0' && f[1].s[i] <= '9'; i++)
		if (v <= KH_BODY_MAX)	/* saturate: stays over the limit */
			v = v * 10 + (uint64_t)(f[1].s[i] - '0');
	size_t ndigits = i;
	if (ndigits > 0 && i + 1 == f[1].len) {
		char u = f[1].s[i];
		unit = (u == 'k' || u == 'K') ? 1024 :
		    (u == 'm' || u == 'M') ? 1024 * 1024 : 0;
		i += unit != 0;
	}
	if (ndigits == 0 || i != f[1].len) {
		pc_error(c, line, "bad size '%.*s' (expected bytes, or a whole "
		    "number with a k or m suffix, e.g. 'max-body 1m')", fl,
		    f[1].s);
		return;
	}
	v *= unit;		/* v <= 10 * KH_BODY_MAX + 9: no overflow */
	if (v == 0) {
		pc_error(c, line, "max-body must be at least 1 byte (remove the "
		    "line for the operator's default)");
		return;
	}
	if (v > KH_BODY_MAX) {
		pc_error(c, line, "max-body '%.*s' is over the limit of %um",
		    fl, f[1].s, KH_BODY_MAX / (1024 * 1024));
		return;
	}
	if (c->max_body_line != 0) {
		pc_error(c, line, "max-body given twice (first at line %u); "
		    "remove one", c->max_body_line);
		return;
	}
	c->max_body_line = line;
	c->p->max_body = v;
}

/* Checks the raw bytes of one line; false (after one message) when the
 * line must not be parsed. */
static bool
pc_line_bytes(struct compiler *c, uint32_t line, const uint8_t *s, size_t len)
{
	if (len > POLICY_LINE_MAX) {
		pc_error(c, line, "line is %zu bytes; the limit is %u", len,
		    POLICY_LINE_MAX);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		uint8_t ch = s[i];
		if (ch == 0)
			pc_error(c, line, "NUL byte in column %zu (a policy is "
			    "plain ASCII text)", i + 1);
		else if (ch >= 0x80)
			pc_error(c, line, "non-ASCII byte 0x%02x in column %zu "
			    "(a policy is plain ASCII; percent-encode path "
			    "bytes)", ch, i + 1);
		else if (ch == '\r')
			pc_error(c, line, "carriage return in column %zu (save "
			    "the file with LF line endings)", i + 1);
		else if (ch < 0x20 && ch != '\t')
			pc_error(c, line, "control byte 0x%02x in column %zu",
			    ch, i + 1);
		else if (ch == 0x7f)
			pc_error(c, line, "DEL byte in column %zu", i + 1);
		else
			continue;
		return false;
	}
	return true;
}

static void
pc_line(struct compiler *c, uint32_t line, const uint8_t *s, size_t len)
{
	struct field f[POLICY_FIELDS_MAX];
	size_t nf = 0, i = 0;

	if (!pc_line_bytes(c, line, s, len))
		return;
	/* '#' starts a comment only at the start of a field, so a '#'
	 * inside a pattern is an error rather than a silent truncation. */
	while (i < len) {
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len || s[i] == '#')
			break;
		size_t start = i;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			i++;
		if (nf < POLICY_FIELDS_MAX) {
			f[nf].s = (const char *)s + start;
			f[nf].len = i - start;
		}
		nf++;
	}
	if (nf > POLICY_FIELDS_MAX)
		nf = POLICY_FIELDS_MAX;
	if (nf == 0)
		return;
#define IS(word) (f[0].len == sizeof(word) - 1 && \
	memcmp(f[0].s, word, sizeof(word) - 1) == 0)
	if (IS("allow"))
		pc_allow(c, line, f, nf);
	else if (IS("request-header"))
		pc_header(c, line, f, nf, true);
	else if (IS("response-header"))
		pc_header(c, line, f, nf, false);
	else if (IS("max-body"))
		pc_max_body(c, line, f, nf);
	else
		pc_error(c, line, "unknown directive '%.*s' (expected allow, "
		    "request-header, response-header or max-body)",
		    (int)f[0].len, f[0].s);
#undef IS
}

static void
pc_defaults(char list[][KH_HNAME_MAX + 1], size_t *n,
    const char *const *defaults)
{
	for (*n = 0; defaults[*n] != NULL; (*n)++)
		snprintf(list[*n], KH_HNAME_MAX + 1, "%s", defaults[*n]);
}

/* The child must never send a table the parent refuses: run the parent's
 * own decoder over the result. */
static void
pc_selfcheck(struct compiler *c, uint32_t line)
{
	struct wbuf w;
	struct msg_reader r;
	struct policy back;
	char err[128];

	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	policy_encode(c->p, &w);
	if (msg_finish(&w) < 0) {
		pc_error(c, line, "internal error: cannot encode the table");
	} else {
		msg_reader_init(&r, w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR);
		if (policy_decode(&r, &back, err, sizeof(err)) < 0)
			pc_error(c, line, "internal error: the compiled table "
			    "fails the parent's check (%s)", err);
		else if (!policy_equal(c->p, &back))
			pc_error(c, line, "internal error: the compiled table "
			    "does not survive encoding");
		policy_free(&back);
	}
	wbuf_free(&w);
}

int
policy_compile(const char *filename, const uint8_t *text, size_t len,
    struct policy *out, policy_diag_fn diag, void *arg)
{
	struct compiler c;
	uint32_t line = 0;
	size_t pos = 0;

	memset(&c, 0, sizeof(c));
	c.file = filename ? filename : "(policy)";
	c.diag = diag;
	c.arg = arg;
	c.p = out;
	policy_init(out);
	if (len > KH_POLICY_TEXT_MAX) {
		pc_error(&c, 1, "policy is %zu bytes; the limit is %u", len,
		    KH_POLICY_TEXT_MAX);
		return c.nerr;
	}
	while (pos < len) {
		const uint8_t *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		pc_line(&c, ++line, text + pos, end - pos);
		pos = end + 1;
	}
	if (line == 0)
		line = 1;
	if (!c.saw_allow)
		pc_error(&c, line, "no 'allow' rule: this policy would refuse "
		    "every request (add one, e.g. 'allow GET /api/agents/me')");
	if (!out->req_hdrs_set)
		pc_defaults(out->req_hdrs, &out->nreq_hdrs,
		    policy_default_req_hdrs);
	if (!out->resp_hdrs_set)
		pc_defaults(out->resp_hdrs, &out->nresp_hdrs,
		    policy_default_resp_hdrs);
	if (c.nerr == 0)
		pc_selfcheck(&c, line);
	if (c.nerr != 0)
		policy_free(out);
	return c.nerr;
}
