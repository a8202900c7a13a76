/*
 * libFuzzer harness for the route policy compiler (child).  Properties,
 * each an abort() when broken:
 *  - every diagnostic reads "fuzz.policy:LINE: message";
 *  - the return value counts the diagnostics, and a failed compile leaves
 *    the table empty;
 *  - a table that compiles is accepted by the parent's decoder and comes
 *    back equal (so the compiler never accepts more than the decoder);
 *  - its canonical print compiles again to the same table (rule lines
 *    aside: they follow the printed text).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_compile.h"

static void
fuzz_diag(void *arg, const char *msg)
{
	const char *p = msg + strlen("fuzz.policy:");
	size_t nd = 0;

	(*(int *)arg)++;
	if (strncmp(msg, "fuzz.policy:", 12) != 0)
		abort();
	while (p[nd] >= '0' && p[nd] <= '9')
		nd++;
	if (nd == 0 || p[0] == '0' || p[nd] != ':' || p[nd + 1] != ' ')
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
	if (policy_decode(&r, &back, err, sizeof(err)) < 0 ||
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
	if (policy_compile("fuzz.policy", (const uint8_t *)buf, len, &q,
	    fuzz_diag, &nd) != 0 || q.nrules != p->nrules)
		abort();
	for (size_t i = 0; i < q.nrules; i++)
		q.rules[i].line = p->rules[i].line;
	if (!policy_equal(p, &q))
		abort();
	policy_free(&q);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy p;
	int nd = 0;
	int nerr = policy_compile("fuzz.policy", data, size, &p, fuzz_diag,
	    &nd);

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
	/* Exercise the matcher on paths built from the input. */
	char path[KH_PATH_MAX];
	size_t n = size < sizeof(path) - 1 ? size : sizeof(path) - 1;
	path[0] = '/';
	memcpy(path + 1, data, n > 0 ? n - 1 : 0);
	(void)policy_match(&p, "GET", path, n > 0 ? n : 1);
	policy_free(&p);
	return 0;
}
