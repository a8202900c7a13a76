/*
 * body_bench: how long the child's event loop is busy with the largest
 * request body an operator may allow (KH_BODY_MAX, 8 MiB), for choosing
 * the liveness deadline (kh_limits.h, KH_DEF_CHILD_TIMEOUT_MS).  Not a
 * test: a measurement.
 *
 *   build/body_bench [ROUNDS]        (default 5; the best round is shown)
 *
 * For each shape of JSON body: body_check() (src/parse/body_check.c:
 * depth pre-scan, json_check, cJSON parse), what the child runs on a
 * `body json` rule before it forwards.  Then qenv_parse() of a queue
 * request file carrying the slowest shape, and of one carrying 8 MiB
 * escaped as \u0001 (6 bytes a byte: the largest envelope).  Times are
 * the thread's CPU time, so other load on the machine does not lower the
 * figure much.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "body_check.h"
#include "kh_limits.h"
#include "queue_envelope.h"

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An 8 MiB JSON text of one shape; returns its length. */
static size_t
bench_shape(int shape, char *b, size_t cap)
{
	static const char *const item[] = { NULL, "1,", "{},",
	    NULL, "\"\\u00e9\\n\",", "1.2345678e-12," };
	size_t o = 0;
	int k = 0;

	switch (shape) {
	case 0:			/* one long string */
		o += (size_t)snprintf(b, cap, "{\"body\":\"");
		while (o < cap - 3)
			b[o++] = 'a';
		b[o++] = '"';
		b[o++] = '}';
		return o;
	case 3:			/* an object with many keys */
		b[o++] = '{';
		while (o < cap - 40)
			o += (size_t)snprintf(b + o, cap - o, "\"k%d\":0,", k++);
		o += (size_t)snprintf(b + o, cap - o, "\"z\":0}");
		return o;
	default:		/* an array of one item, repeated */
		b[o++] = '[';
		while (o < cap - 32) {
			size_t n = strlen(item[shape]);
			memcpy(b + o, item[shape], n);
			o += n;
		}
		b[o++] = '0';
		b[o++] = ']';
		return o;
	}
}

int
main(int argc, char **argv)
{
	static const char *const names[] = { "one long string",
	    "array of one-digit numbers", "array of {}", "object, many keys",
	    "array of escaped strings", "array of floats" };
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	size_t cap = 6 * (size_t)KH_BODY_MAX + 65536;
	char *b = malloc(cap), *env = malloc(cap);
	struct pol_rule rule;
	struct body_verdict v;
	struct qenv_limits lim = { KH_BODY_MAX, KH_DEF_HEADERS };

	if (b == NULL || env == NULL || rounds < 1)
		return 1;
	memset(&rule, 0, sizeof(rule));
	rule.flags = POL_BODY_JSON;
	printf("body_check of an %u-byte body (best of %d, CPU ms):\n",
	    KH_BODY_MAX, rounds);
	for (int shape = 0; shape < 6; shape++) {
		size_t n = bench_shape(shape, b, KH_BODY_MAX);
		double best = 1e9;
		for (int r = 0; r < rounds; r++) {
			double t0 = bench_now();
			body_check(&rule, true, (const uint8_t *)b, n, &v);
			double t = bench_now() - t0;
			if (t < best)
				best = t;
		}
		printf("  %-28s %8.1f  (status %d)\n", names[shape],
		    best * 1e3, v.status);
	}
	printf("qenv_parse of a queue request file (best of %d, CPU ms):\n",
	    rounds);
	for (int kind = 0; kind < 2; kind++) {
		size_t o = (size_t)snprintf(env, cap, "{\"id\":\"x\",\"method\":"
		    "\"POST\",\"path\":\"/a\",\"query\":\"\",\"headers\":{},"
		    "\"createdAt\":\"2026-01-01T00:00:00.000Z\",\"body\":\"");
		if (kind == 0) {
			size_t n = bench_shape(1, b, KH_BODY_MAX);
			memcpy(env + o, b, n);
			o += n;
		} else {
			for (size_t i = 0; i < KH_BODY_MAX; i++) {
				memcpy(env + o, "\\u0001", 6);
				o += 6;
			}
		}
		o += (size_t)snprintf(env + o, cap - o, "\"}");
		double best = 1e9;
		int st = 0;
		for (int r = 0; r < rounds; r++) {
			struct qenv e;
			const char *why;
			double t0 = bench_now();
			st = qenv_parse((const uint8_t *)env, o, &lim, &e, &why);
			double t = bench_now() - t0;
			qenv_free(&e);
			if (t < best)
				best = t;
		}
		printf("  %-28s %8.1f  (%zu bytes, status %d)\n", kind == 0 ?
		    "one-digit numbers, plain" : "\\u0001-escaped", best * 1e3,
		    o, st);
	}
	free(b);
	free(env);
	return 0;
}
