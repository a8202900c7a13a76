/*
 * keyhole explain: which rule allows a request, or why it is denied.
 *
 * The verdict comes from the same code the gate uses (path_canonicalize,
 * policy_match, the rule's query flag); the rest is a description of
 * what the matched rule will still check once the request arrives (its
 * body, media type, size, budgets), and for a denial the rules that came
 * closest and where they stop matching.  Stateless: budgets are described,
 * not consulted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paperclip.h"
#include "path.h"
#include "policy_explain.h"

/* Segments of a canonical path (a trailing '/' is an empty last one). */
struct segs {
	size_t n;
	const char *s[KH_PATH_SEGS_MAX];
	size_t len[KH_PATH_SEGS_MAX];
};

static bool
split(const char *path, size_t plen, struct segs *sg)
{
	size_t start = 1;

	sg->n = 0;
	if (plen == 1)
		return true;
	for (size_t i = 1; i <= plen; i++) {
		if (i < plen && path[i] != '/')
			continue;
		if (sg->n == KH_PATH_SEGS_MAX)
			return false;
		sg->s[sg->n] = path + start;
		sg->len[sg->n++] = i - start;
		start = i + 1;
	}
	return true;
}

static void
seg_text(FILE *f, const struct pol_seg *g)
{
	switch (g->kind) {
	case SEG_STAR: fputs("'*'", f); break;
	case SEG_GLOB: fputs("'**'", f); break;
	case SEG_VAR: fprintf(f, "{%s}", g->lit); break;
	default: fprintf(f, "'%s'", g->lit); break;
	}
}

/* Where rule r first fails on the path (SIZE_MAX: it matches), and how
 * close it came: three points per literal or variable segment that
 * matches, two per wildcard, minus the difference in segment counts
 * ('**' counts as whatever it needs). */
static size_t
rule_miss(const struct policy *p, const struct pol_rule *r,
    const struct segs *sg, long *score)
{
	bool glob = r->nsegs > 0 && r->segs[r->nsegs - 1].kind == SEG_GLOB;
	size_t fixed = glob ? r->nsegs - 1u : r->nsegs;
	size_t first = SIZE_MAX;
	long s = 0;

	for (size_t i = 0; i < sg->n && (i < fixed || glob); i++) {
		const struct pol_seg *g = &r->segs[i < fixed ? i : fixed];
		if (policy_seg_match(p, g, sg->s[i], sg->len[i]))
			s += (g->kind == SEG_STAR || g->kind == SEG_GLOB) ? 2 : 3;
		else if (first == SIZE_MAX)
			first = i;
	}
	if (glob) {
		if (sg->n < r->nsegs) {
			s -= (long)(r->nsegs - sg->n);
			if (first == SIZE_MAX)
				first = sg->n;
		}
	} else if (sg->n != r->nsegs) {
		s -= sg->n > r->nsegs ? (long)(sg->n - r->nsegs) :
		    (long)(r->nsegs - sg->n);
		if (first == SIZE_MAX)
			first = sg->n < r->nsegs ? sg->n : r->nsegs;
	}
	*score = s;
	return first;
}

/* One line saying where rule r stops matching. */
static void
why_not(FILE *f, const struct policy *p, const struct pol_rule *r,
    const struct segs *sg, size_t at)
{
	bool glob = r->nsegs > 0 && r->segs[r->nsegs - 1].kind == SEG_GLOB;

	fputs("            ", f);
	if (r->nsegs == 0) {
		fprintf(f, "the pattern is the root '/' only\n");
		return;
	}
	if (at >= sg->n && glob) {
		fprintf(f, "'**' needs at least one more segment\n");
		return;
	}
	if (at >= sg->n || (at >= r->nsegs && !glob)) {
		fprintf(f, "the path has %zu segment%s, the pattern %u\n",
		    sg->n, sg->n == 1 ? "" : "s", r->nsegs);
		return;
	}
	const struct pol_seg *gg = (glob && at + 1 >= r->nsegs) ?
	    &r->segs[r->nsegs - 1] : &r->segs[at];
	fprintf(f, "segment %zu '%.*s' ", at + 1, (int)sg->len[at], sg->s[at]);
	if (sg->len[at] == 0) {
		fprintf(f, "is empty (a trailing '/'); ");
		seg_text(f, gg);
		fprintf(f, " needs a non-empty segment\n");
		return;
	}
	if (gg->kind == SEG_VAR) {
		const struct pol_var *v = gg->var >= 0 &&
		    (size_t)gg->var < p->nvars ? &p->vars[gg->var] : NULL;
		if (v == NULL || !v->bound)
			fprintf(f, "cannot match {%s}: the variable is not bound "
			    "(pass --var %s=VALUE)\n", gg->lit, gg->lit);
		else
			fprintf(f, "is not {%s} (bound to '%s')\n", gg->lit,
			    v->value);
		return;
	}
	if (gg->kind == SEG_STAR || gg->kind == SEG_GLOB) {
		fputs("is a dot segment; ", f);
		seg_text(f, gg);
		fputs(" never matches one\n", f);
		return;
	}
	fputs("is not ", f);
	seg_text(f, gg);
	fputc('\n', f);
}

static void
explain_denied_route(FILE *f, const struct policy *p, const char *method,
    const char *path, size_t plen)
{
	struct segs sg;
	long best = 0;
	size_t shown = 0;
	bool any = false;

	fprintf(f, "why:      no %s rule matches %s\n", method, path);
	if (!split(path, plen, &sg)) {
		fprintf(f, "          the path has more than %u segments\n",
		    KH_PATH_SEGS_MAX);
		return;
	}
	/* The same-method rules that came closest (first three of them). */
	for (size_t i = 0; i < p->nrules; i++) {
		long score;
		if (strcmp(p->rules[i].method, method) != 0)
			continue;
		(void)rule_miss(p, &p->rules[i], &sg, &score);
		if (!any || score > best)
			best = score;
		any = true;
	}
	if (!any)
		fprintf(f, "          the policy has no %s rule at all\n", method);
	for (size_t i = 0; any && i < p->nrules && shown < 3; i++) {
		const struct pol_rule *r = &p->rules[i];
		long score;
		if (strcmp(r->method, method) != 0)
			continue;
		size_t at = rule_miss(p, r, &sg, &score);
		if (score != best)
			continue;
		fprintf(f, "%sline %u: ", shown ? "          " : "closest:  ",
		    r->line);
		policy_print_rule(f, r);
		fputc('\n', f);
		why_not(f, p, r, &sg, at);
		shown++;
	}
	/* A trailing '/' is the commonest near miss: say what would match. */
	if (plen > 1 && path[plen - 1] == '/') {
		int ri = policy_match(p, method, path, plen - 1);
		if (ri >= 0)
			fprintf(f, "hint:     without the trailing '/', line %u "
			    "allows it\n", p->rules[ri].line);
	}
	static const char *const others[] = { "GET", "HEAD", "POST", "PUT",
	    "PATCH", "DELETE", "OPTIONS" };
	bool head = true;
	for (size_t m = 0; m < sizeof(others) / sizeof(others[0]); m++) {
		if (strcmp(others[m], method) == 0)
			continue;
		int ri = policy_match(p, others[m], path, plen);
		if (ri < 0)
			continue;
		fprintf(f, "%s %s is allowed on this path by line %u\n",
		    head ? "other:   " : "         ", others[m],
		    p->rules[ri].line);
		head = false;
	}
}

static void
print_names(FILE *f, size_t n, const char *base, size_t stride)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? ", " : "", base + i * stride);
}

static void
explain_checks(FILE *f, const struct policy *p, const struct pol_rule *r,
    uint64_t op_max)
{
	bool bodyless = strcmp(r->method, "GET") == 0 ||
	    strcmp(r->method, "HEAD") == 0;
	const char *pre = "checks:   ";

	if (bodyless) {
		fprintf(f, "%sno body (keyhole refuses one on %s)\n", pre,
		    r->method);
		pre = "          ";
	} else if (r->flags & POL_BODY_NONE) {
		fprintf(f, "%sno body (else 400)\n", pre);
		pre = "          ";
	} else {
		if (r->nkeys > 0) {
			fprintf(f, "%sbody required: a JSON object whose "
			    "top-level keys are among ", pre);
			print_names(f, r->nkeys, r->keys[0], sizeof(r->keys[0]));
			fputs(" (else 422 naming the first other key)\n", f);
		} else if (r->flags & POL_BODY_JSON) {
			fprintf(f, "%sbody required: one JSON value (else 400)\n",
			    pre);
		} else if (!policy_rule_ctype_allowed(r, "application/json", 16)) {
			fprintf(f, "%sbody optional, passed on unparsed\n", pre);
		} else {
			fprintf(f, "%sbody optional; a JSON body must be one "
			    "valid JSON value (else 400)\n", pre);
		}
		pre = "          ";
		fprintf(f, "%smedia type ", pre);
		if (r->nctypes == 0)
			fputs("application/json", f);
		else
			print_names(f, r->nctypes, r->ctypes[0],
			    sizeof(r->ctypes[0]));
		fputs(" (else 415)\n", f);
		uint64_t want = policy_body_limit(p, r, UINT64_MAX);
		uint64_t got = policy_body_limit(p, r, op_max);
		fprintf(f, "%sbody at most %llu bytes (else 413)", pre,
		    (unsigned long long)got);
		if (want != got && want != UINT64_MAX) {
			fputs(": the rule says ", f);
			policy_print_size(f, want);
			fputs(", the default --max-body caps it; serve with "
			    "--max-body ", f);
			fprintf(f, "%llu for all of it", (unsigned long long)want);
		}
		fputc('\n', f);
	}
	fprintf(f, "%squery string %s\n", pre, (r->flags & POL_QUERY_NONE) ?
	    "refused (else 403)" : "allowed");
	if (r->rate_count != 0)
		fprintf(f, "%sat most %u request%s per %s (else 429 with "
		    "retry-after)\n", pre, r->rate_count,
		    r->rate_count == 1 ? "" : "s",
		    r->rate_period_s == 60 ? "minute" : "second");
	else
		fprintf(f, "%sno rate limit\n", pre);
	if (!policy_method_mutates(r->method))
		fprintf(f, "%snot a mutation: no run budget\n", pre);
	else if (p->max_mutations != 0)
		fprintf(f, "%sa mutation: counts toward the run's 'max %u' "
		    "(429 once spent)\n", pre, p->max_mutations);
	else
		fprintf(f, "%sa mutation; the policy sets no run budget\n", pre);
	fputs("forwards: ", f);
	print_names(f, p->nreq_hdrs, p->req_hdrs[0], sizeof(p->req_hdrs[0]));
	if (r->nhdrs > 0) {
		fputs(p->nreq_hdrs ? ", " : "", f);
		print_names(f, r->nhdrs, r->hdrs[0], sizeof(r->hdrs[0]));
		fputs(" (this rule only)", f);
	}
	fputc('\n', f);
}

/* "result: DENIED" and the answer keyhole would make (paperclip.h). */
static void
explain_answer(FILE *f, enum pc_id id, const char *method, const char *path,
    size_t plen)
{
	struct pc_args a = { .method = method, .path = path, .path_len = plen };
	char msg[PC_MESSAGE_MAX + 1], *json;

	pc_message(id, &a, msg, sizeof(msg));
	json = pc_body_dup(msg, NULL);
	fprintf(f, "result:   DENIED %d %s\n", pc_table[id].status,
	    json != NULL ? json : msg);
	free(json);
}

int
policy_explain(FILE *f, const struct policy *p, const char *method,
    const char *target, uint64_t op_max)
{
	char path[KH_PATH_MAX + 1];
	size_t plen = 0, tlen = strlen(target);
	const char *q = memchr(target, '?', tlen);
	size_t rawlen = q ? (size_t)(q - target) : tlen;

	fprintf(f, "request:  %s %s\n", method, target);
	if (p->nvars > 0) {
		fputs("bound:    ", f);
		for (size_t i = 0; i < p->nvars; i++) {
			const struct pol_var *v = &p->vars[i];
			if (v->bound)
				fprintf(f, "%s%s=%s", i ? ", " : "", v->name,
				    v->value);
			else
				fprintf(f, "%s%s (unbound: its rules match "
				    "nothing)", i ? ", " : "", v->name);
		}
		fputc('\n', f);
	}
	if (!policy_method_valid(method, strlen(method))) {
		fprintf(f, "result:   DENIED: keyhole forwards only GET, HEAD, "
		    "POST, PUT, PATCH, DELETE and OPTIONS\n");
		return 1;
	}
	if (rawlen == 0 || target[0] != '/' ||
	    path_canonicalize((const uint8_t *)target, rawlen, path,
	    sizeof(path), &plen) != 0) {
		fprintf(f, "result:   DENIED 400: keyhole refuses this path "
		    "(empty or '//' segments, '.' or '..' in any spelling, "
		    "%%2F, %%5C, %%00, bad escapes or bytes outside RFC 3986)\n");
		return 1;
	}
	if (q != NULL && !query_is_valid((const uint8_t *)q + 1,
	    tlen - rawlen - 1)) {
		fprintf(f, "result:   DENIED 400: keyhole refuses this query "
		    "string\n");
		return 1;
	}
	if (plen != rawlen || memcmp(path, target, plen) != 0)
		fprintf(f, "path:     %s (canonical form)\n", path);
	int ri = policy_match(p, method, path, plen);
	if (ri < 0) {
		explain_answer(f, PC_ROUTE, method, path, plen);
		explain_denied_route(f, p, method, path, plen);
		return 1;
	}
	const struct pol_rule *r = &p->rules[ri];
	if (q != NULL && (r->flags & POL_QUERY_NONE)) {
		explain_answer(f, PC_QUERY, method, path, plen);
		fprintf(f, "why:      line %u matches the route but says 'query "
		    "none'\nrule:     ", r->line);
		policy_print_rule(f, r);
		fputc('\n', f);
		return 1;
	}
	fprintf(f, "result:   ALLOWED by line %u\nrule:     ", r->line);
	policy_print_rule(f, r);
	fputc('\n', f);
	explain_checks(f, p, r, op_max);
	return 0;
}
