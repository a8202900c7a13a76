/*
 * keyhole route policy compiler: checks over the whole policy, after the
 * last line.  Unbound variables are errors (a run would otherwise start
 * with rules that silently match nothing); a rule that an earlier rule
 * makes unreachable is a warning (first match wins, so it can never
 * apply, and its constraints are never checked).
 */
#include <stdio.h>
#include <string.h>

#include "policy_compile_int.h"

/* The first use of variable v: rule line and segment column. */
static bool
var_first_use(const struct policy *p, int v, uint32_t *line, uint32_t *col)
{
	for (size_t i = 0; i < p->nrules; i++)
		for (size_t j = 0; j < p->rules[i].nsegs; j++) {
			const struct pol_seg *g = &p->rules[i].segs[j];
			if (g->kind == SEG_VAR && g->var == v) {
				*line = p->rules[i].line;
				*col = g->col;
				return true;
			}
		}
	return false;
}

/* pc_error() takes a pointer into the current line, which is gone by
 * now; this variant takes the column itself. */
static void
lint_error_at(struct compiler *c, uint32_t line, uint32_t col,
    const char *msg)
{
	c->nerr++;
	if (c->diag != NULL) {
		char buf[512];
		snprintf(buf, sizeof(buf), "%s:%u:%u: %s", c->file, line, col,
		    msg);
		c->diag(c->arg, false, buf);
	}
}

static void
lint_unbound(struct compiler *c)
{
	struct policy *p = c->p;

	if (c->flags & POLICY_LENIENT)
		return;
	for (size_t i = 0; i < p->nvars; i++) {
		const struct pol_var *v = &p->vars[i];
		uint32_t line, col;
		char msg[384];

		if (v->bound || v->optional ||
		    !var_first_use(p, (int)i, &line, &col))
			continue;
		snprintf(msg, sizeof(msg), "variable '%s' is not bound (start "
		    "keyhole with --var %s=VALUE or KEYHOLE_VAR_%s=VALUE, or "
		    "declare 'optional-var %s' so its rules match nothing "
		    "when it is unbound)", v->name, v->name, v->name, v->name);
		lint_error_at(c, line, col, msg);
	}
}

/* Does pattern segment a match every path segment b matches?  Variables
 * are compared by name only: whether a literal equals a bound value
 * depends on the run, and the warning must not. */
static bool
seg_covers(const struct pol_seg *a, const struct pol_seg *b)
{
	switch (a->kind) {
	case SEG_STAR:
		return b->kind != SEG_GLOB;
	case SEG_LIT:
	case SEG_VAR:
		return b->kind == a->kind && a->len == b->len &&
		    memcmp(a->lit, b->lit, a->len) == 0;
	default:
		return false;
	}
}

/* Does rule a match every request rule b matches? */
static bool
rule_covers(const struct pol_rule *a, const struct pol_rule *b)
{
	size_t na = a->nsegs, nb = b->nsegs;
	bool aglob = na > 0 && a->segs[na - 1].kind == SEG_GLOB;
	bool bglob = nb > 0 && b->segs[nb - 1].kind == SEG_GLOB;

	if (strcmp(a->method, b->method) != 0)
		return false;
	if (aglob) {
		/* a's '**' takes one or more segments: b must reach past
		 * a's fixed part with at least one segment of its own. */
		if (nb < na)
			return false;
		for (size_t i = 0; i + 1 < na; i++)
			if (!seg_covers(&a->segs[i], &b->segs[i]))
				return false;
		return true;
	}
	if (bglob || na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!seg_covers(&a->segs[i], &b->segs[i]))
			return false;
	return true;
}

/* "METHOD PATTERN" of a rule, for messages. */
static void
rule_text(const struct pol_rule *r, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "%s ", r->method);

	if (r->nsegs == 0 && n < cap)
		n += (size_t)snprintf(buf + n, cap - n, "/");
	for (size_t j = 0; j < r->nsegs && n < cap; j++) {
		const struct pol_seg *g = &r->segs[j];
		n += (size_t)snprintf(buf + n, cap - n, g->kind == SEG_VAR ?
		    "/{%s}" : "/%s", g->kind == SEG_STAR ? "*" :
		    g->kind == SEG_GLOB ? "**" : g->lit);
	}
}

static void
lint_shadowed(struct compiler *c)
{
	struct policy *p = c->p;
	char as[256], bs[256];

	for (size_t j = 1; j < p->nrules; j++) {
		const struct pol_rule *b = &p->rules[j];
		for (size_t i = 0; i < j; i++) {
			const struct pol_rule *a = &p->rules[i];
			if (!rule_covers(a, b))
				continue;
			rule_text(a, as, sizeof(as));
			rule_text(b, bs, sizeof(bs));
			pc_warn(c, b->line, 1, "rule 'allow %s' can never match: "
			    "'allow %s' (line %u) matches every request it "
			    "would, and the first matching rule decides; move "
			    "this rule above line %u or remove it", bs, as,
			    a->line, a->line);
			break;
		}
	}
}

/* A rule's own request-header that every route forwards anyway. */
static void
lint_route_headers(struct compiler *c)
{
	struct policy *p = c->p;

	for (size_t i = 0; i < p->nrules; i++) {
		const struct pol_rule *r = &p->rules[i];
		for (size_t k = 0; k < r->nhdrs; k++)
			if (policy_req_header_allowed(p, r->hdrs[k],
			    strlen(r->hdrs[k])))
				pc_warn(c, r->line, 1, "request-header '%s' is "
				    "forwarded on every route already; remove "
				    "it from this rule", r->hdrs[k]);
	}
}

static void
lint_bindings(struct compiler *c)
{
	const struct pol_bindings *b = c->bind;

	for (size_t i = 0; b != NULL && i < b->n; i++) {
		bool used = false;
		for (size_t k = 0; k < c->p->nvars && !used; k++)
			used = strcmp(c->p->vars[k].name, b->b[i].name) == 0;
		if (!used)
			pc_warn(c, 1, 1, "variable '%s' is bound but the "
			    "policy never uses {%s}", b->b[i].name,
			    b->b[i].name);
	}
}

void
pc_lint(struct compiler *c)
{
	lint_unbound(c);
	for (size_t i = 0; i < c->p->nvars; i++)
		if (c->p->vars[i].optional) {
			uint32_t l, col;
			if (!var_first_use(c->p, (int)i, &l, &col))
				pc_warn(c, c->p->vars[i].line, 1, "'optional-var "
				    "%s' is not used by any rule",
				    c->p->vars[i].name);
		}
	lint_bindings(c);
	lint_route_headers(c);
	lint_shadowed(c);
}
