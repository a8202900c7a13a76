/*
 * keyhole budgets: the policy's per-rule `rate N/s|N/min` and the run's
 * `max N` mutations.  Both processes keep them.  The child answers 429
 * from its own counters; the parent keeps its own count of mutations (it
 * cannot be made to exceed `max N` by a compromised child, and hands the
 * count to every restarted child so the budget continues rather than
 * starts afresh) and its own rate buckets, which outlive a child restart.
 *
 * Rates are token buckets: a rule with `rate N/60s` holds at most N
 * tokens, refilled continuously at N per period, one taken per request.
 * The parent's buckets hold slack_ms worth of refill more (KH_RATE_SLACK_MS:
 * a request reaches the parent a little after the child took its token).
 * Integer arithmetic in units of 1/period_ms token, a monotonic clock
 * (util_now_ms) passed in by the caller (unit tests pass their own).
 */
#ifndef KH_BUDGET_H
#define KH_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy_table.h"

struct budget_rate {
	uint64_t level;			/* tokens * period_ms */
	uint64_t last_ms;		/* when level was last refilled */
};

struct budget {
	size_t nrules;
	struct budget_rate *rates;	/* one per rule (unused without rate) */
	uint32_t max_mutations;		/* 0 = no budget */
	uint32_t mutations_used;
	uint32_t slack_ms;		/* extra capacity, as refill time */
};

/* Returns 0, or -1 (out of memory). Buckets start full at now_ms. */
int budget_init(struct budget *b, const struct policy *p, uint32_t used,
    uint64_t now_ms);
/* The same with buckets slack_ms of refill larger (the parent's). */
int budget_init_slack(struct budget *b, const struct policy *p,
    uint32_t used, uint64_t now_ms, uint32_t slack_ms);
void budget_free(struct budget *b);

enum budget_verdict {
	BUDGET_OK = 0,
	BUDGET_RATE,		/* 429 with retry-after */
	BUDGET_SPENT,		/* 429, the run's `max N` is used up */
};

/* May rule `ri` be used now by `method`?  Takes nothing.  On BUDGET_RATE
 * *retry_s is the whole seconds until a token is back (at least 1). */
enum budget_verdict budget_check(struct budget *b, const struct policy *p,
    size_t ri, const char *method, uint64_t now_ms, uint32_t *retry_s);
/* Take what budget_check allowed (a token, one mutation). */
void budget_take(struct budget *b, const struct policy *p, size_t ri,
    const char *method, uint64_t now_ms);
/* A reload (src/priv/gen.c): rule ti of `to` (policy tp) continues from
 * rule fi of `from` (policy fp), the same route: the tokens left there
 * at now_ms, never more than to's full bucket.  A rule with the same rate
 * keeps its level exactly. */
void budget_carry(struct budget *to, const struct policy *tp, size_t ti,
    struct budget *from, const struct policy *fp, size_t fi, uint64_t now_ms);

#endif
