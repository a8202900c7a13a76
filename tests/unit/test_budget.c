/*
 * The budgets (src/common/budget.c): a rule's `rate` as a token bucket and
 * the run's `max` mutations, as the child keeps them (the parent's own,
 * larger buckets: test_rate_agreement.c).  Each test is named after the
 * property it guards.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "kh_test.h"
#include "policy_compile.h"
#include "policy_table.h"

static int
compile_text(const char *text, struct policy *p)
{
	return policy_compile("t.policy", (const uint8_t *)text, strlen(text),
	    NULL, 0, p, NULL, NULL);
}

static void
budgets_rate_tokens_and_run_mutation_cap(void)
{
	struct policy p;
	struct budget b;
	uint32_t retry;

	CHECK_EQ_INT(compile_text("max 3\n"
	    "allow GET /fast rate 4/s\n"
	    "allow POST /slow rate 2/min\n"
	    "allow POST /free\n"
	    "allow GET /read\n", &p), 0);
	uint64_t t = 1000000;
	CHECK_EQ_INT(budget_init(&b, &p, 0, t), 0);

	/* 4/s: four at once, the fifth waits a quarter second (retry 1 s). */
	for (int i = 0; i < 4; i++) {
		CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t, &retry), BUDGET_OK);
		budget_take(&b, &p, 0, "GET", t);
	}
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t, &retry), BUDGET_RATE);
	CHECK_EQ_INT(retry, 1);
	/* check alone takes nothing */
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t + 249, &retry), BUDGET_RATE);
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t + 250, &retry), BUDGET_OK);
	budget_take(&b, &p, 0, "GET", t + 250);
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t + 250, &retry), BUDGET_RATE);
	/* idle for long: back to exactly four, never more */
	t += 3600 * 1000;
	for (int i = 0; i < 4; i++) {
		CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t, &retry), BUDGET_OK);
		budget_take(&b, &p, 0, "GET", t);
	}
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t, &retry), BUDGET_RATE);
	/* a clock that goes backwards refills nothing */
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t - 5000, &retry),
	    BUDGET_RATE);

	/* 2/min: the third waits 30 s; retry-after says so. */
	CHECK_EQ_INT(budget_check(&b, &p, 1, "POST", t, &retry), BUDGET_OK);
	budget_take(&b, &p, 1, "POST", t);
	budget_take(&b, &p, 1, "POST", t);
	CHECK_EQ_INT(budget_check(&b, &p, 1, "POST", t, &retry), BUDGET_RATE);
	CHECK_EQ_INT(retry, 30);
	CHECK_EQ_INT(budget_check(&b, &p, 1, "POST", t + 29001, &retry),
	    BUDGET_RATE);
	CHECK_EQ_INT(retry, 1);
	/* rules are independent */
	CHECK_EQ_INT(budget_check(&b, &p, 3, "GET", t, &retry), BUDGET_OK);

	/* max 3: two mutations used above; one more, then spent, for every
	 * rule; reads are never counted. */
	CHECK_EQ_INT(b.mutations_used, 2);
	CHECK_EQ_INT(budget_check(&b, &p, 2, "POST", t, &retry), BUDGET_OK);
	budget_take(&b, &p, 2, "POST", t);
	CHECK_EQ_INT(budget_check(&b, &p, 2, "POST", t, &retry), BUDGET_SPENT);
	CHECK_EQ_INT(budget_check(&b, &p, 1, "POST", t + 3600000, &retry),
	    BUDGET_SPENT);
	CHECK_EQ_INT(budget_check(&b, &p, 3, "GET", t, &retry), BUDGET_OK);
	budget_take(&b, &p, 3, "GET", t);
	CHECK_EQ_INT(b.mutations_used, 3);
	budget_free(&b);

	/* A restarted child continues from the parent's count. */
	CHECK_EQ_INT(budget_init(&b, &p, 3, t), 0);
	CHECK_EQ_INT(budget_check(&b, &p, 2, "POST", t, &retry), BUDGET_SPENT);
	budget_free(&b);
	CHECK_EQ_INT(budget_init(&b, &p, 2, t), 0);
	CHECK_EQ_INT(budget_check(&b, &p, 2, "POST", t, &retry), BUDGET_OK);
	budget_free(&b);
	policy_free(&p);

	/* No `max`: mutations are never refused for budget. */
	CHECK_EQ_INT(compile_text("allow POST /a\n", &p), 0);
	CHECK_EQ_INT(budget_init(&b, &p, 4000000000u, t), 0);
	CHECK_EQ_INT(budget_check(&b, &p, 0, "POST", t, &retry), BUDGET_OK);
	budget_free(&b);
	policy_free(&p);
}

int
main(void)
{
	budgets_rate_tokens_and_run_mutation_cap();
	TEST_DONE();
}
