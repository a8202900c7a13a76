/*
 * libFuzzer harness for the route policy compiler (child).  Properties,
 * each an abort() when broken:
 *  - every diagnostic reads "fuzz.policy:LINE:COL: message" (warnings
 *    "...: warning: message");
 *  - the return value counts the error diagnostics, and a failed compile
 *    leaves the table empty;
 *  - a table that compiles is accepted by the parent's decoder and comes
 *    back equal (so the compiler never accepts more than the decoder);
 *  - its canonical print compiles again to the same table (rule lines
 *    aside: they follow the printed text);
 *  - the matcher and every per-rule predicate run on it without fault.
 * The input is compiled leniently with {issue} bound, so variables,
 * unbound ones included, are exercised too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_compile.h"

static struct pol_bindings fuzz_bind;

static void
fuzz_diag(void *arg, bool warning, const char *msg)
{
	const char *p = msg + strlen("fuzz.policy:");

	if (!warning)
		(*(int *)arg)++;
	if (strncmp(msg, "fuzz.policy:", 12) != 0)
		abort();
	for (int field = 0; field < 2; field++) {
		size_t nd = 0;
		while (p[nd] >= '0' && p[nd] <= '9')
			nd++;
		if (nd == 0 || p[0] == '0' || p[nd] != ':')
			abort();
		p += nd + 1;
	}
	if (p[0] != ' ' || (warning && strncmp(p + 1, "warning: ", 9) != 0))
		abort();
}

static void
fuzz_bind_init(void)
{
	char why[256];

	if (fuzz_bind.n == 0 &&
	    policy_binding_add(&fuzz_bind, "issue=BRI-7", why, sizeof(why)) < 0)
		abort();
}

static void
check_wire(const struct policy *p)
{
	struct wbuf w;
	struct msg_reader r;
	struct policy back;
	char err[128];

	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	policy_encode(p, &w);
	if (msg_finish(&w) < 0)
		abort();
	msg_reader_init(&r, w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR);
	if (policy_decode(&r, &fuzz_bind, &back, err, sizeof(err)) < 0 ||
	    !policy_equal(p, &back))
		abort();
	policy_free(&back);
	wbuf_free(&w);
}

static void
check_print(const struct policy *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct policy q;
	int nd = 0;

	if (f == NULL)
		abort();
	policy_print(f, p);
	fclose(f);
	if (policy_compile("fuzz.policy", (const uint8_t *)buf, len,
	    &fuzz_bind, POLICY_LENIENT, &q, fuzz_diag, &nd) != 0 ||
	    q.nrules != p->nrules)
		abort();
	for (size_t i = 0; i < q.nrules; i++)
		q.rules[i].line = p->rules[i].line;
	if (!policy_equal(p, &q))
		abort();
	policy_free(&q);
	free(buf);
}

/* Every per-rule predicate the gate and the parent use. */
static void
check_rules(const struct policy *p)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct pol_rule *r = &p->rules[i];
		if (policy_body_limit(p, r, KH_BODY_MAX) > KH_BODY_MAX)
			abort();
		(void)policy_rule_ctype_allowed(r, "application/json", 16);
		(void)policy_rule_header_allowed(p, r, "accept", 6);
		if (policy_rule_header_allowed(p, r, "authorization", 13))
			abort();
	}
	if (policy_body_limit_any(p, 1024) > 1024)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy p;
	int nd = 0;

	fuzz_bind_init();
	int nerr = policy_compile("fuzz.policy", data, size, &fuzz_bind,
	    POLICY_LENIENT, &p, fuzz_diag, &nd);

	if (nerr != nd || nerr < 0)
		abort();
	if (nerr != 0) {
		if (p.rules != NULL || p.nrules != 0)
			abort();
		return 0;
	}
	if (p.nrules == 0)
		abort();
	check_wire(&p);
	check_print(&p);
	check_rules(&p);
	/* Exercise the matcher on paths built from the input. */
	static const char *const methods[] = { "GET", "POST", "PATCH" };
	char path[KH_PATH_MAX];
	size_t n = size < sizeof(path) - 1 ? size : sizeof(path) - 1;
	path[0] = '/';
	memcpy(path + 1, data, n > 0 ? n - 1 : 0);
	for (size_t m = 0; m < 3; m++) {
		int ri = policy_match(&p, methods[m], path, n > 0 ? n : 1);
		if (ri < -1 || ri >= (int)p.nrules)
			abort();
	}
	policy_free(&p);
	return 0;
}
