/*
 * keyhole route policy compiler (child only): the driver.  The language
 * is documented in policy_compile.h and docs/policy.md.  The text is the
 * operator's, but it is parsed in the child so the parent never parses
 * it: the parent re-validates the binary table with policy_decode().
 * Every message names the line, the column and the fix, and every error
 * is reported, so one run shows an operator all of them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_compile_int.h"

uint32_t
pc_col(const struct compiler *c, const char *at)
{
	if (at == NULL || c->lstart == NULL || at < c->lstart)
		return 1;
	return (uint32_t)(at - c->lstart) + 1;
}

static void pc_emit(struct compiler *, bool, uint32_t, uint32_t,
    const char *, va_list) __attribute__((format(printf, 5, 0)));

static void
pc_emit(struct compiler *c, bool warning, uint32_t line, uint32_t col,
    const char *fmt, va_list ap)
{
	char msg[3 * POLICY_LINE_MAX];
	int n;

	if (c->diag == NULL)
		return;
	n = snprintf(msg, sizeof(msg), "%s:%u:%u: %s", c->file, line, col,
	    warning ? "warning: " : "");
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	c->diag(c->arg, warning, msg);
}

void
pc_error(struct compiler *c, uint32_t line, const char *at, const char *fmt,
    ...)
{
	va_list ap;

	c->nerr++;
	va_start(ap, fmt);
	pc_emit(c, false, line, pc_col(c, at), fmt, ap);
	va_end(ap);
}

void
pc_warn(struct compiler *c, uint32_t line, uint32_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pc_emit(c, true, line, col, fmt, ap);
	va_end(ap);
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
			pc_error(c, line, f[0].s, "'%s' needs one header name, "
			    "e.g. '%s content-type'", dir, dir);
		else
			pc_error(c, line, f[2].s, "unexpected '%.*s' after the "
			    "header name (one name per '%s' line)",
			    (int)f[2].len, f[2].s, dir);
		return;
	}
	/* Names are case-insensitive; the table holds them folded. */
	for (size_t i = 0; i < f[1].len; i++) {
		char ch = f[1].s[i];
		name[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
	}
	name[f[1].len] = '\0';
	if (f[1].len > KH_HNAME_MAX) {
		pc_error(c, line, f[1].s, "header name '%s' is longer than %u "
		    "bytes", name, KH_HNAME_MAX);
		return;
	}
	if (!policy_hname_valid(name, f[1].len)) {
		pc_error(c, line, f[1].s, "invalid header name '%s' (a token "
		    "of letters, digits and !#$%%&'*+-.^_`|~, without ':')",
		    name);
		return;
	}
	if (policy_header_forbidden(name, f[1].len)) {
		pc_error(c, line, f[1].s, "header '%s' may never be "
		    "allowlisted (keyhole sets, strips or frames it itself%s); "
		    "remove this line", name,
		    policy_header_builtin_forbidden(name, f[1].len) ? "" :
		    ": this keyhole's --auth, --run-id-header or "
		    "--upstream-header");
		return;
	}
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(list[i], name) == 0) {
			pc_error(c, line, f[1].s, "duplicate %s '%s' (first at "
			    "line %u); remove one", dir, name, lines[i]);
			return;
		}
	}
	if (*n == KH_POLICY_HDRS_MAX) {
		pc_error(c, line, f[0].s, "more than %u '%s' lines",
		    KH_POLICY_HDRS_MAX, dir);
		return;
	}
	memcpy(list[*n], name, f[1].len + 1);
	lines[(*n)++] = line;
}

bool
pc_size(struct compiler *c, uint32_t line, const struct field *f,
    const char *what, uint64_t *out)
{
	uint64_t v = 0, unit = 1;
	size_t i;
	int fl = (int)f->len;

	for (i = 0; i < f->len && f->s[i] >= '0' && f->s[i] <= '9'; i++)
		if (v <= KH_BODY_MAX)	/* saturate: stays over the limit */
			v = v * 10 + (uint64_t)(f->s[i] - '0');
	size_t ndigits = i;
	if (ndigits > 0 && i + 1 == f->len) {
		char u = f->s[i];
		unit = (u == 'k' || u == 'K') ? 1024 :
		    (u == 'm' || u == 'M') ? 1024 * 1024 : 0;
		i += unit != 0;
	}
	if (ndigits == 0 || i != f->len) {
		pc_error(c, line, f->s, "bad size '%.*s' (expected bytes, or a "
		    "whole number with a k or m suffix, e.g. '%s 1m')", fl,
		    f->s, what);
		return false;
	}
	v *= unit;		/* v <= 10 * KH_BODY_MAX + 9: no overflow */
	if (v == 0) {
		pc_error(c, line, f->s, "%s must be at least 1 byte (remove it "
		    "for the default)", what);
		return false;
	}
	if (v > KH_BODY_MAX) {
		pc_error(c, line, f->s, "%s '%.*s' is over the limit of %um",
		    what, fl, f->s, KH_BODY_MAX / (1024 * 1024));
		return false;
	}
	*out = v;
	return true;
}

static void
pc_max_body(struct compiler *c, uint32_t line, const struct field *f,
    size_t nf)
{
	uint64_t v;

	if (nf != 2) {
		pc_error(c, line, nf > 2 ? f[2].s : f[0].s, "'max-body' needs "
		    "one size, e.g. 'max-body 1m'");
		return;
	}
	if (!pc_size(c, line, &f[1], "max-body", &v))
		return;
	if (c->max_body_line != 0) {
		pc_error(c, line, f[0].s, "max-body given twice (first at line "
		    "%u); remove one", c->max_body_line);
		return;
	}
	c->max_body_line = line;
	c->p->max_body = v;
}

/* `max N`: the run's mutation budget. */
static void
pc_max(struct compiler *c, uint32_t line, const struct field *f, size_t nf)
{
	uint64_t v = 0;
	size_t i;

	if (nf != 2) {
		pc_error(c, line, nf > 2 ? f[2].s : f[0].s, "'max' needs one "
		    "number: the mutations (POST, PUT, PATCH, DELETE) allowed "
		    "per run, e.g. 'max 200'");
		return;
	}
	for (i = 0; i < f[1].len && f[1].s[i] >= '0' && f[1].s[i] <= '9'; i++)
		if (v <= KH_POLICY_BUDGET_MAX)
			v = v * 10 + (uint64_t)(f[1].s[i] - '0');
	if (i == 0 || i != f[1].len || v == 0 || v > KH_POLICY_BUDGET_MAX) {
		pc_error(c, line, f[1].s, "bad budget '%.*s' (a whole number "
		    "from 1 to %u)", (int)f[1].len, f[1].s,
		    KH_POLICY_BUDGET_MAX);
		return;
	}
	if (c->max_line != 0) {
		pc_error(c, line, f[0].s, "'max' given twice (first at line "
		    "%u); remove one", c->max_line);
		return;
	}
	c->max_line = line;
	c->p->max_mutations = (uint32_t)v;
}

static void
pc_optional_var(struct compiler *c, uint32_t line, const struct field *f,
    size_t nf)
{
	if (nf != 2) {
		pc_error(c, line, nf > 2 ? f[2].s : f[0].s, "'optional-var' "
		    "needs one variable name, e.g. 'optional-var issue'");
		return;
	}
	if (!policy_var_name_valid(f[1].s, f[1].len)) {
		pc_error(c, line, f[1].s, "'%.*s' is not a variable name "
		    "(letters, digits and '_', not starting with a digit, at "
		    "most %u bytes)", (int)f[1].len, f[1].s, KH_POLICY_VAR_MAX);
		return;
	}
	int i = pc_var(c, line, f[1].s, f[1].len);
	if (i < 0)
		return;
	struct pol_var *v = &c->p->vars[i];
	if (v->optional) {
		pc_error(c, line, f[1].s, "'optional-var %s' given twice (first "
		    "at line %u); remove one", v->name, v->line);
		return;
	}
	v->optional = true;
	v->line = line;
}

/* Checks the raw bytes of one line; false (after one message) when the
 * line must not be parsed. */
static bool
pc_line_bytes(struct compiler *c, uint32_t line, const uint8_t *s, size_t len)
{
	if (len > POLICY_LINE_MAX) {
		pc_error(c, line, NULL, "line is %zu bytes; the limit is %u",
		    len, POLICY_LINE_MAX);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		uint8_t ch = s[i];
		const char *at = (const char *)s + i;
		if (ch == 0)
			pc_error(c, line, at, "NUL byte (a policy is plain "
			    "ASCII text)");
		else if (ch >= 0x80)
			pc_error(c, line, at, "non-ASCII byte 0x%02x (a policy "
			    "is plain ASCII; percent-encode path bytes)", ch);
		else if (ch == '\r')
			pc_error(c, line, at, "carriage return (save the file "
			    "with LF line endings)");
		else if (ch < 0x20 && ch != '\t')
			pc_error(c, line, at, "control byte 0x%02x", ch);
		else if (ch == 0x7f)
			pc_error(c, line, at, "DEL byte");
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

	c->lstart = (const char *)s;
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
	else if (IS("max"))
		pc_max(c, line, f, nf);
	else if (IS("optional-var"))
		pc_optional_var(c, line, f, nf);
	else
		pc_error(c, line, f[0].s, "unknown directive '%.*s' (expected "
		    "allow, request-header, response-header, max-body, max or "
		    "optional-var)", (int)f[0].len, f[0].s);
#undef IS
}

static void
pc_defaults(char list[][KH_HNAME_MAX + 1], size_t *n,
    const char *const *defaults)
{
	/* A default that the configuration makes keyhole write itself
	 * (--upstream-header accept: ...) is left out. */
	*n = 0;
	for (size_t i = 0; defaults[i] != NULL; i++)
		if (!policy_header_forbidden(defaults[i], strlen(defaults[i])))
			snprintf(list[(*n)++], KH_HNAME_MAX + 1, "%s",
			    defaults[i]);
}

/* The child must never send a table the parent refuses: run the parent's
 * own decoder over the result (with the same bindings). */
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
		pc_error(c, line, NULL, "internal error: cannot encode the "
		    "table");
	} else {
		msg_reader_init(&r, w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR);
		if (policy_decode(&r, c->bind, &back, err, sizeof(err)) < 0)
			pc_error(c, line, NULL, "internal error: the compiled "
			    "table fails the parent's check (%s)", err);
		else if (!policy_equal(c->p, &back))
			pc_error(c, line, NULL, "internal error: the compiled "
			    "table does not survive encoding");
		policy_free(&back);
	}
	wbuf_free(&w);
}

int
policy_compile(const char *filename, const uint8_t *text, size_t len,
    const struct pol_bindings *bind, unsigned flags, struct policy *out,
    policy_diag_fn diag, void *arg)
{
	struct compiler c;
	uint32_t line = 0;
	size_t pos = 0;

	memset(&c, 0, sizeof(c));
	c.file = filename ? filename : "(policy)";
	c.diag = diag;
	c.arg = arg;
	c.bind = bind;
	c.flags = flags;
	c.p = out;
	policy_init(out);
	if (len > KH_POLICY_TEXT_MAX) {
		pc_error(&c, 1, NULL, "policy is %zu bytes; the limit is %u",
		    len, KH_POLICY_TEXT_MAX);
		return c.nerr;
	}
	while (pos < len) {
		const uint8_t *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		pc_line(&c, ++line, text + pos, end - pos);
		pos = end + 1;
	}
	c.lstart = NULL;
	if (line == 0)
		line = 1;
	if (!c.saw_allow)
		pc_error(&c, line, NULL, "no 'allow' rule: this policy would "
		    "refuse every request (add one, e.g. 'allow GET "
		    "/api/agents/me')");
	if (!out->req_hdrs_set)
		pc_defaults(out->req_hdrs, &out->nreq_hdrs,
		    policy_default_req_hdrs);
	if (!out->resp_hdrs_set)
		pc_defaults(out->resp_hdrs, &out->nresp_hdrs,
		    policy_default_resp_hdrs);
	pc_lint(&c);
	if (c.nerr == 0)
		pc_selfcheck(&c, line);
	if (c.nerr != 0)
		policy_free(out);
	return c.nerr;
}
