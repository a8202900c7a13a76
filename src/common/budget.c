/* keyhole budgets: see budget.h. */
#include <stdlib.h>
#include <string.h>

#include "budget.h"

/* A full bucket of rule r: N tokens (N * period_ms units), plus the
 * slack's worth of refill (N units per ms). */
static uint64_t
budget_cap(const struct budget *b, const struct pol_rule *r)
{
	return (uint64_t)r->rate_count *
	    ((uint64_t)r->rate_period_s * 1000u + b->slack_ms);
}

int
budget_init_slack(struct budget *b, const struct policy *p, uint32_t used,
    uint64_t now_ms, uint32_t slack_ms)
{
	memset(b, 0, sizeof(*b));
	b->nrules = p->nrules;
	b->max_mutations = p->max_mutations;
	b->mutations_used = used;
	b->slack_ms = slack_ms;
	b->rates = calloc(p->nrules ? p->nrules : 1, sizeof(*b->rates));
	if (b->rates == NULL)
		return -1;
	for (size_t i = 0; i < p->nrules; i++) {
		b->rates[i].level = budget_cap(b, &p->rules[i]);
		b->rates[i].last_ms = now_ms;
	}
	return 0;
}

int
budget_init(struct budget *b, const struct policy *p, uint32_t used,
    uint64_t now_ms)
{
	return budget_init_slack(b, p, used, now_ms, 0);
}

void
budget_free(struct budget *b)
{
	free(b->rates);
	memset(b, 0, sizeof(*b));
}

/* Bring rule i's bucket up to now: N units per elapsed ms, capped at
 * budget_cap (N tokens, plus the slack).  A clock that went backwards
 * adds nothing. */
static void
budget_refill(struct budget *b, const struct pol_rule *r, size_t i,
    uint64_t now_ms)
{
	struct budget_rate *s = &b->rates[i];
	uint64_t cap = budget_cap(b, r);

	if (now_ms > s->last_ms) {
		uint64_t add = (now_ms - s->last_ms) * r->rate_count;
		s->level = (cap - s->level < add) ? cap : s->level + add;
		s->last_ms = now_ms;
	}
}

enum budget_verdict
budget_check(struct budget *b, const struct policy *p, size_t ri,
    const char *method, uint64_t now_ms, uint32_t *retry_s)
{
	const struct pol_rule *r;

	*retry_s = 0;
	if (ri >= b->nrules || ri >= p->nrules)
		return BUDGET_OK;
	r = &p->rules[ri];
	if (b->max_mutations != 0 && policy_method_mutates(method) &&
	    b->mutations_used >= b->max_mutations)
		return BUDGET_SPENT;
	if (r->rate_count == 0)
		return BUDGET_OK;
	budget_refill(b, r, ri, now_ms);
	uint64_t cost = (uint64_t)r->rate_period_s * 1000u;
	if (b->rates[ri].level >= cost)
		return BUDGET_OK;
	uint64_t ms = (cost - b->rates[ri].level + r->rate_count - 1) /
	    r->rate_count;
	uint64_t s = (ms + 999) / 1000;
	*retry_s = s == 0 ? 1 : (uint32_t)s;
	return BUDGET_RATE;
}

void
budget_take(struct budget *b, const struct policy *p, size_t ri,
    const char *method, uint64_t now_ms)
{
	if (ri >= b->nrules || ri >= p->nrules)
		return;
	const struct pol_rule *r = &p->rules[ri];
	if (b->max_mutations != 0 && policy_method_mutates(method))
		b->mutations_used++;
	if (r->rate_count == 0)
		return;
	budget_refill(b, r, ri, now_ms);
	uint64_t cost = (uint64_t)r->rate_period_s * 1000u;
	b->rates[ri].level = b->rates[ri].level >= cost ?
	    b->rates[ri].level - cost : 0;
}

void
budget_carry(struct budget *to, const struct policy *tp, size_t ti,
    struct budget *from, const struct policy *fp, size_t fi, uint64_t now_ms)
{
	const struct pol_rule *tr, *fr;
	uint64_t level, cap;

	if (ti >= to->nrules || ti >= tp->nrules || fi >= from->nrules ||
	    fi >= fp->nrules)
		return;
	tr = &tp->rules[ti];
	fr = &fp->rules[fi];
	if (tr->rate_count == 0 || fr->rate_count == 0)
		return;
	budget_refill(from, fr, fi, now_ms);
	/* level is tokens * period_ms: the same tokens in to's period. */
	level = from->rates[fi].level;
	if (fr->rate_period_s != tr->rate_period_s)
		level = level / fr->rate_period_s * tr->rate_period_s;
	cap = budget_cap(to, tr);
	to->rates[ti].level = level < cap ? level : cap;
	to->rates[ti].last_ms = now_ms;
}
