/*
 * keyhole route policy: the matcher and the per-rule predicates both
 * processes apply to a request.  The child decides with them; the parent
 * re-decides with the same code over its own decoded copy of the table
 * and its own variable bindings.  No regular expressions, no
 * backtracking: a path is split once, then each rule is compared
 * segment by segment ('**' only ever as the last segment).
 */
#include <string.h>

#include "policy_table.h"

bool
policy_seg_match(const struct policy *p, const struct pol_seg *g,
    const char *s, size_t len)
{
	const struct pol_var *v;

	switch (g->kind) {
	case SEG_LIT:
		return g->len == len && memcmp(g->lit, s, len) == 0;
	case SEG_STAR:
	case SEG_GLOB:
		/* never a dot segment, even if a non-canonical path
		 * slipped through */
		return len > 0 && !policy_seg_is_dot(s, len);
	case SEG_VAR:
		/* Unbound (or an index this process never resolved): no
		 * match.  A missing value never widens to a wildcard. */
		if (g->var < 0 || (size_t)g->var >= p->nvars)
			return false;
		v = &p->vars[g->var];
		return v->bound && v->vlen == len && len > 0 &&
		    memcmp(v->value, s, len) == 0;
	default:
		return false;
	}
}

static bool
rule_match(const struct policy *p, const struct pol_rule *rule,
    const char *path, const size_t *off, const size_t *len, size_t n)
{
	size_t fixed = rule->nsegs;
	bool glob = fixed > 0 && rule->segs[fixed - 1].kind == SEG_GLOB;

	if (glob) {
		fixed--;
		if (n < fixed + 1)
			return false;
	} else if (n != fixed) {
		return false;
	}
	for (size_t i = 0; i < fixed; i++)
		if (!policy_seg_match(p, &rule->segs[i], path + off[i], len[i]))
			return false;
	/* '**': every remaining segment non-empty and not a dot segment,
	 * so a trailing "/" (an empty last segment) never matches "**". */
	for (size_t i = fixed; glob && i < n; i++)
		if (!policy_seg_match(p, &rule->segs[fixed], path + off[i],
		    len[i]))
			return false;
	return true;
}

int
policy_match(const struct policy *p, const char *method, const char *path,
    size_t pathlen)
{
	/* Segment offsets of the path, split once for all rules. */
	size_t off[KH_PATH_SEGS_MAX], len[KH_PATH_SEGS_MAX];
	size_t n = 0, start = 1;
	bool root;

	if (p == NULL || method == NULL || path == NULL || pathlen == 0 ||
	    path[0] != '/')
		return -1;
	root = (pathlen == 1);
	if (!root) {
		for (size_t i = 1; i <= pathlen; i++) {
			if (i < pathlen && path[i] != '/')
				continue;
			if (n == KH_PATH_SEGS_MAX)
				return -1;	/* deeper than any rule allows */
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
		if (rule_match(p, rule, path, off, len, n))
			return (int)r;
	}
	return -1;
}

bool
policy_name_listed(const char list[][KH_HNAME_MAX + 1], size_t n,
    const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (policy_name_eq(name, len, list[i]))
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
	return policy_name_listed(p->req_hdrs, p->nreq_hdrs, name, len);
}

bool
policy_rule_header_allowed(const struct policy *p, const struct pol_rule *r,
    const char *name, size_t len)
{
	if (policy_header_forbidden(name, len))
		return false;
	return policy_name_listed(p->req_hdrs, p->nreq_hdrs, name, len) ||
	    (r != NULL && policy_name_listed(r->hdrs, r->nhdrs, name, len));
}

bool
policy_resp_header_allowed(const struct policy *p, const char *name,
    size_t len)
{
	if (policy_header_forbidden(name, len))
		return false;
	return policy_name_listed(p->resp_hdrs, p->nresp_hdrs, name, len);
}

uint64_t
policy_body_limit(const struct policy *p, const struct pol_rule *r,
    uint64_t op_max)
{
	uint64_t v = op_max;

	if (r != NULL && (r->flags & POL_BODY_NONE))
		return 0;
	if (r != NULL && r->max_body != 0)
		v = r->max_body;
	else if (p->max_body != 0)
		v = p->max_body;
	return v < op_max ? v : op_max;
}

uint64_t
policy_body_limit_any(const struct policy *p, uint64_t op_max)
{
	uint64_t most = policy_body_limit(p, NULL, op_max);

	for (size_t i = 0; i < p->nrules; i++) {
		uint64_t v = policy_body_limit(p, &p->rules[i], op_max);
		if (v > most)
			most = v;
	}
	return most;
}

bool
policy_rule_ctype_allowed(const struct pol_rule *r, const char *t, size_t len)
{
	if (r == NULL || r->nctypes == 0)
		return policy_name_eq(t, len, "application/json");
	for (size_t i = 0; i < r->nctypes; i++)
		if (policy_name_eq(t, len, r->ctypes[i]))
			return true;
	return false;
}

bool
policy_method_mutates(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	    strcmp(method, "OPTIONS") != 0;
}
