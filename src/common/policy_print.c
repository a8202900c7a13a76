/*
 * keyhole route policy: the canonical text form (`keyhole check-policy`).
 * One directive per line, single spaces, constraints in a fixed order, so
 * two policies that compile to the same table print the same text, and
 * the text compiles back to that table.
 */
#include <string.h>

#include "policy_table.h"

void
policy_print_size(FILE *f, uint64_t v)
{
	if (v != 0 && v % (1024 * 1024) == 0)
		fprintf(f, "%llum", (unsigned long long)(v / (1024 * 1024)));
	else if (v != 0 && v % 1024 == 0)
		fprintf(f, "%lluk", (unsigned long long)(v / 1024));
	else
		fprintf(f, "%llu", (unsigned long long)v);
}

static void
print_list(FILE *f, const char *word, size_t n, const char *base,
    size_t stride)
{
	if (n == 0)
		return;
	fprintf(f, " %s ", word);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", base + i * stride);
}

void
policy_print_rule(FILE *f, const struct pol_rule *r)
{
	fprintf(f, "allow %s ", r->method);
	if (r->nsegs == 0)
		fputc('/', f);
	for (size_t j = 0; j < r->nsegs; j++) {
		const struct pol_seg *g = &r->segs[j];
		switch (g->kind) {
		case SEG_STAR:
			fputs("/*", f);
			break;
		case SEG_GLOB:
			fputs("/**", f);
			break;
		case SEG_VAR:
			fprintf(f, "/{%s}", g->lit);
			break;
		default:
			fprintf(f, "/%s", g->lit);
			break;
		}
	}
	if (r->flags & POL_BODY_JSON)
		fputs(" body json", f);
	if (r->flags & POL_BODY_NONE)
		fputs(" body none", f);
	print_list(f, "keys", r->nkeys, r->keys[0], sizeof(r->keys[0]));
	print_list(f, "content-type", r->nctypes, r->ctypes[0],
	    sizeof(r->ctypes[0]));
	print_list(f, "request-header", r->nhdrs, r->hdrs[0],
	    sizeof(r->hdrs[0]));
	if (r->max_body != 0) {
		fputs(" max-body ", f);
		policy_print_size(f, r->max_body);
	}
	if (r->flags & POL_QUERY_NONE)
		fputs(" query none", f);
	if (r->rate_count != 0)
		fprintf(f, " rate %u/%s", r->rate_count,
		    r->rate_period_s == 60 ? "min" : "s");
}

void
policy_print(FILE *f, const struct policy *p)
{
	if (p->max_body != 0) {
		fputs("max-body ", f);
		policy_print_size(f, p->max_body);
		fputc('\n', f);
	}
	if (p->max_mutations != 0)
		fprintf(f, "max %u\n", p->max_mutations);
	for (size_t i = 0; i < p->nvars; i++)
		if (p->vars[i].optional)
			fprintf(f, "optional-var %s\n", p->vars[i].name);
	for (size_t i = 0; i < p->nreq_hdrs; i++)
		fprintf(f, "request-header %s\n", p->req_hdrs[i]);
	for (size_t i = 0; i < p->nresp_hdrs; i++)
		fprintf(f, "response-header %s\n", p->resp_hdrs[i]);
	for (size_t i = 0; i < p->nrules; i++) {
		policy_print_rule(f, &p->rules[i]);
		fputc('\n', f);
	}
}
