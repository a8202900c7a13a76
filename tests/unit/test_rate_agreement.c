/*
 * The parent's own `rate` buckets (budget.c with KH_RATE_SLACK_MS, kept by
 * monitor.c) against the child's, on a simulated clock:
 *
 *  - never stricter than an honest child: every request the child's bucket
 *    allowed at time c reaches the parent at some p >= c (in order, the
 *    socket is FIFO), p - c up to KH_RATE_SLACK_MS, and the parent's bucket
 *    allows every one of them.  (A parent 429 is an answer, not a kill, but
 *    an honest client must not see it.)  Without the slack it would not:
 *    the same runs with slack 0 are refused now and then, which this test
 *    also checks, so the slack is shown to be needed;
 *  - still a bound on a child that ignores `rate`: asking every
 *    millisecond, at most N * (T + period + slack) / period requests pass
 *    in T ms.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "kh_test.h"
#include "policy_compile.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
compile(struct policy *p, const char *rate)
{
	char text[128];

	snprintf(text, sizeof(text), "allow GET /r rate %s\n", rate);
	policy_init(p);
	if (policy_compile("t.policy", (const uint8_t *)text, strlen(text), NULL,
	    0, p, NULL, NULL) != 0) {
		fprintf(stderr, "cannot compile %s", text);
		exit(1);
	}
}

/* An honest child asks at random moments and forwards what its bucket
 * allows; each forwarded request reaches the parent delay_max ms later
 * at most.  Returns how many the parent refused; *forwarded how many it
 * was sent. */
static unsigned
simulate(const char *rate, uint32_t parent_slack, uint32_t delay_max,
    unsigned steps, unsigned *forwarded)
{
	struct policy pol;
	struct budget child, parent;
	uint64_t t = 1000000, last_arrival = 0;
	unsigned refused = 0;

	compile(&pol, rate);
	const struct pol_rule *r = &pol.rules[0];
	uint64_t gap = (uint64_t)r->rate_period_s * 1000u * 2 / r->rate_count;
	if (budget_init(&child, &pol, 0, t) != 0 ||
	    budget_init_slack(&parent, &pol, 0, t, parent_slack) != 0)
		exit(1);
	*forwarded = 0;
	for (unsigned i = 0; i < steps; i++) {
		uint32_t retry;
		/* bursts as well as spread-out requests */
		t += (next() % 4 == 0) ? 0 : next() % (gap + 1);
		if (budget_check(&child, &pol, 0, "GET", t, &retry) != BUDGET_OK)
			continue;
		budget_take(&child, &pol, 0, "GET", t);
		(*forwarded)++;
		uint64_t at = t + (delay_max ? next() % (delay_max + 1) : 0);
		if (at < last_arrival)
			at = last_arrival;	/* FIFO */
		last_arrival = at;
		if (budget_check(&parent, &pol, 0, "GET", at, &retry) !=
		    BUDGET_OK) {
			refused++;
			continue;
		}
		budget_take(&parent, &pol, 0, "GET", at);
	}
	budget_free(&child);
	budget_free(&parent);
	policy_free(&pol);
	return refused;
}

static void
test_parent_never_stricter_than_an_honest_child(void)
{
	static const char *const rates[] = { "1/s", "7/s", "1000/s", "1/min",
	    "2/min", "30/min", "600/min" };
	unsigned fwd, total_without = 0;

	for (size_t i = 0; i < sizeof(rates) / sizeof(*rates); i++) {
		/* rate_parent_allows_what_the_child_allowed */
		unsigned refused = simulate(rates[i], KH_RATE_SLACK_MS,
		    KH_RATE_SLACK_MS, 200000, &fwd);
		CHECK_EQ_INT(refused, 0);
		CHECK(fwd > 50);
		if (refused != 0)
			fprintf(stderr, "  rate %s: %u of %u refused\n", rates[i],
			    refused, fwd);
		/* no delay at all: trivially the same */
		CHECK_EQ_INT(simulate(rates[i], KH_RATE_SLACK_MS, 0, 20000,
		    &fwd), 0);
		/* rate_slack_is_needed: without it, delays cause refusals */
		total_without += simulate(rates[i], 0, KH_RATE_SLACK_MS, 200000,
		    &fwd);
	}
	CHECK(total_without > 0);
	printf("without the slack the parent would have refused %u honest "
	    "requests\n", total_without);
}

static void
test_parent_bounds_a_child_that_ignores_rate(void)
{
	static const char *const rates[] = { "1/s", "7/s", "2/min", "30/min" };

	for (size_t i = 0; i < sizeof(rates) / sizeof(*rates); i++) {
		struct policy pol;
		struct budget parent;
		uint64_t t0 = 5000, span = 10 * 60 * 1000;
		unsigned passed = 0;

		compile(&pol, rates[i]);
		const struct pol_rule *r = &pol.rules[0];
		uint64_t period = (uint64_t)r->rate_period_s * 1000u;
		if (budget_init_slack(&parent, &pol, 0, t0, KH_RATE_SLACK_MS) != 0)
			exit(1);
		for (uint64_t t = t0; t < t0 + span; t++) {
			uint32_t retry;
			if (budget_check(&parent, &pol, 0, "GET", t, &retry) ==
			    BUDGET_OK) {
				budget_take(&parent, &pol, 0, "GET", t);
				passed++;
			} else {
				CHECK(retry >= 1);
			}
		}
		/* rate_parent_bounds_a_flood */
		uint64_t most = (uint64_t)r->rate_count * (span + period +
		    KH_RATE_SLACK_MS) / period + 1;
		CHECK(passed <= most);
		CHECK(passed >= (uint64_t)r->rate_count * span / period);
		if (passed > most)
			fprintf(stderr, "  rate %s: %u passed, at most %llu\n",
			    rates[i], passed, (unsigned long long)most);
		budget_free(&parent);
		policy_free(&pol);
	}
}

int
main(void)
{
	test_parent_never_stricter_than_an_honest_child();
	test_parent_bounds_a_child_that_ignores_rate();
	TEST_DONE();
}
