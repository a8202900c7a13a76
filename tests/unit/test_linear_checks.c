/*
 * Every check on sandbox input whose work grows with the input runs in
 * linear (or n log n) time: a request file of 150,000 keys once stalled
 * the child (every client, HTTP included) for 23.6 s in a quadratic
 * duplicate-key check.
 *
 * The guard: the same work as 8 inputs of n keys and as 1 input of 8n
 * keys.  Linear code takes about as long for both, n log n a little
 * longer (x1.3 here), quadratic code 8 times as long.  Times are the
 * thread's CPU time (not wall time: another process on a busy 2-core
 * machine does not count) and the minimum of several samples; a ratio
 * above KH_SUPERLINEAR is measured again, up to three times, before the
 * test fails.
 *
 * Checked: the queue request file (qenv_parse: its root object's keys
 * and its headers object), keyhole-gateway's response file
 * (gw_response_parse: root and headers), the strict JSON check
 * (json_check) and the per-rule body check (body_check with 32 keys).
 * The HTTP parser needs no guard: its per-field loops are bounded by
 * KH_HEADERS_MAX fields and KH_HEAD_MAX bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "body_check.h"
#include "gateway_response.h"
#include "json_check.h"
#include "kh_test.h"
#include "queue_envelope.h"

/* Keys in the small input; the large one has 8 times as many. */
#define LIN_N		2500
/* 8 x n against 8n: linear ~1, quadratic ~8. */
#define KH_SUPERLINEAR	3.0

struct lin_input {
	char *text;
	size_t len;
};

typedef void (*lin_fn)(const struct lin_input *);
typedef struct lin_input (*lin_make)(size_t n);

static double
lin_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A growing string. */
struct lin_buf {
	char *p;
	size_t len, cap;
};

static void
lin_put(struct lin_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

/* ,"<prefix><i>":<value> for i in [0, n): distinct keys. */
static void
lin_keys(struct lin_buf *b, size_t n, const char *prefix, const char *value)
{
	char one[96];

	for (size_t i = 0; i < n; i++) {
		snprintf(one, sizeof(one), "%s\"%s%zu\":%s", i ? "," : "",
		    prefix, i, value);
		lin_put(b, one);
	}
}

/* head, then n distinct keys "<prefix><i>":<value>, then tail. */
static struct lin_input
lin_object(const char *head, size_t n, const char *prefix, const char *value,
    const char *tail)
{
	struct lin_buf b = { 0 };
	struct lin_input in;

	lin_put(&b, head);
	lin_keys(&b, n, prefix, value);
	lin_put(&b, tail);
	in.text = b.p;
	in.len = b.len;
	return in;
}

#define ENVELOPE "{\"id\":\"req-1\",\"method\":\"GET\"," \
	"\"path\":\"/api/agents/me\",\"body\":\"\","

/* A valid request file with n unknown top-level keys. */
static struct lin_input
make_envelope_root(size_t n)
{
	return lin_object(ENVELOPE, n, "unknown-key-", "0", "}");
}

/* A request file whose headers object is too long: refused at
 * KH_HEADERS_MAX entries, after the whole tree is built. */
static struct lin_input
make_envelope_headers(size_t n)
{
	return lin_object(ENVELOPE "\"headers\":{", n, "x-h-", "\"v\"", "}}");
}

static void
run_envelope_status(const struct lin_input *in, int want)
{
	struct qenv_limits lim = { 1024, KH_HEADERS_MAX };
	struct qenv e;
	const char *why;

	CHECK_EQ_INT(qenv_parse((const uint8_t *)in->text, in->len, &lim, &e,
	    &why), want);
	qenv_free(&e);
}

static void
run_envelope(const struct lin_input *in)
{
	run_envelope_status(in, 0);
}

static void
run_envelope_refused(const struct lin_input *in)
{
	run_envelope_status(in, 400);
}

/* A valid response file with n unknown top-level keys. */
static struct lin_input
make_response_root(size_t n)
{
	return lin_object("{\"id\":\"req-1\",\"status\":200,\"headers\":{},"
	    "\"body\":\"ok\",", n, "unknown-key-", "0", "}");
}

/* A valid response file with n headers the gateway skips (not strings). */
static struct lin_input
make_response_headers(size_t n)
{
	return lin_object("{\"status\":200,\"body\":\"ok\",\"headers\":{", n,
	    "x-h-", "0", "}}");
}

static void
run_response(const struct lin_input *in)
{
	struct gw_response r;

	CHECK(gw_response_parse((const uint8_t *)in->text, in->len, 1024,
	    &r) == NULL);
	gw_response_free(&r);
}

/* A JSON body of n members, each key one of the rule's 32 (the last
 * ones, so every member costs the whole key list). */
static struct lin_input
make_body(size_t n)
{
	struct lin_buf b = { 0 };
	char one[64];

	lin_put(&b, "{");
	for (size_t i = 0; i < n; i++) {
		snprintf(one, sizeof(one), "%s\"key%02zu\":[1,\"s\",{}]",
		    i ? "," : "", 24 + i % 8);
		lin_put(&b, one);
	}
	lin_put(&b, "}");
	return (struct lin_input){ b.p, b.len };
}

static void
run_json_check(const struct lin_input *in)
{
	CHECK(json_check((const uint8_t *)in->text, in->len));
}

static struct pol_rule body_rule;

static void
run_body_check(const struct lin_input *in)
{
	struct body_verdict v;

	body_check(&body_rule, true, (const uint8_t *)in->text, in->len, &v);
	CHECK_EQ_INT(v.status, 0);
}

/* Minimum CPU time of `samples` runs of fn over `reps` copies of in. */
static double
lin_time(lin_fn fn, const struct lin_input *in, int reps, int samples)
{
	double best = 1e9;

	for (int s = 0; s < samples; s++) {
		double t0 = lin_now();
		for (int r = 0; r < reps; r++)
			fn(in);
		double t = lin_now() - t0;
		if (t < best)
			best = t;
	}
	return best;
}

static void
linear(const char *name, lin_make make, lin_fn fn)
{
	struct lin_input small = make(LIN_N), large = make(8 * LIN_N);
	double ratio = 0;

	fn(&small);		/* warm up: allocator, caches */
	for (int attempt = 0; attempt < 3; attempt++) {
		double ts = lin_time(fn, &small, 8, 3);
		double tl = lin_time(fn, &large, 1, 3);
		ratio = tl / (ts > 1e-9 ? ts : 1e-9);
		printf("%-22s 8 x %d keys %8.2f ms, 1 x %d keys %8.2f ms: x%.2f\n",
		    name, LIN_N, ts * 1e3, 8 * LIN_N, tl * 1e3, ratio);
		if (ratio <= KH_SUPERLINEAR)
			break;
	}
	CHECK(ratio <= KH_SUPERLINEAR);
	free(small.text);
	free(large.text);
}

/* An object with keys name(order(i)) for i in [0, n). */
static cJSON *
obj_of(size_t n, size_t (*order)(size_t, size_t), const char *prefix)
{
	cJSON *o = cJSON_CreateObject();
	char k[128];

	for (size_t i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "%s%08zu", prefix, order(i, n));
		cJSON_AddItemToObject(o, k, cJSON_CreateNull());
	}
	return o;
}

static size_t ord_up(size_t i, size_t n) { (void)n; return i; }
static size_t ord_down(size_t i, size_t n) { return n - 1 - i; }
/* A permutation of [0, n) for n a power of two: i * odd mod n. */
static size_t ord_mix(size_t i, size_t n) { return (i * 40503u) % n; }
static size_t ord_zigzag(size_t i, size_t n) { return i % 2 ? n - 1 - i / 2 : i / 2; }

/* Naive check, for small n only: the verdict to agree with. */
static bool
naive_unique(const cJSON *o)
{
	for (const cJSON *a = o->child; a != NULL; a = a->next)
		for (const cJSON *b = a->next; b != NULL; b = b->next)
			if (strcmp(a->string, b->string) == 0)
				return false;
	return true;
}

/*
 * The duplicate-key check itself, counted rather than timed: at most
 * n * ceil(log2 n) + n comparisons for n keys in any order (sorted,
 * reversed, interleaved, a long common prefix), and the same verdict as
 * the pairwise loop wherever a duplicate sits.
 */
static void
key_check_comparisons_are_n_log_n(void)
{
	size_t (*orders[])(size_t, size_t) = { ord_up, ord_down, ord_mix,
	    ord_zigzag };
	static const char long_prefix[] = "a-long-common-prefix-that-every-key-"
	    "shares-so-each-comparison-reads-it-";
	unsigned long cmps;

	for (size_t oi = 0; oi < sizeof(orders) / sizeof(orders[0]); oi++) {
		for (size_t n = 1; n <= 65536; n *= 4) {
			cJSON *o = obj_of(n, orders[oi], oi % 2 ? long_prefix : "k");
			size_t lg = 0;
			while (((size_t)1 << lg) < n)
				lg++;
			CHECK(qenv_keys_unique_count(o, &cmps));
			CHECK(cmps <= n * lg + n);
			cJSON_Delete(o);
		}
	}
	/* A duplicate anywhere is found, as by the pairwise loop: n keys
	 * in zigzag order with key `dup` written again at position `at`. */
	for (size_t n = 2; n <= 64; n++) {
		for (size_t at = 0; at <= n; at += 3) {
			struct lin_buf b = { 0 };
			char one[32];
			size_t dup = (at * 7) % n;

			lin_put(&b, "{");
			for (size_t i = 0; i <= n; i++) {
				size_t key = i == at ? dup :
				    ord_zigzag(i < at ? i : i - 1, n);
				snprintf(one, sizeof(one), "%s\"k%zu\":0",
				    i ? "," : "", key);
				lin_put(&b, one);
			}
			lin_put(&b, "}");
			cJSON *o = cJSON_Parse(b.p);
			CHECK(o != NULL && !naive_unique(o));
			CHECK(o != NULL && !qenv_keys_unique_count(o, &cmps));
			CHECK(o != NULL && !qenv_keys_unique(o));
			cJSON_Delete(o);
			free(b.p);
		}
	}
	cJSON *e = cJSON_CreateObject();
	CHECK(qenv_keys_unique_count(e, &cmps));
	CHECK_EQ_INT(cmps, 0);
	cJSON_Delete(e);
}

int
main(void)
{
	key_check_comparisons_are_n_log_n();
	body_rule.nkeys = KH_POLICY_KEYS_MAX;
	for (size_t i = 0; i < KH_POLICY_KEYS_MAX; i++)
		snprintf(body_rule.keys[i], sizeof(body_rule.keys[i]),
		    "key%02zu", i);
	linear("queue request root", make_envelope_root, run_envelope);
	linear("queue request headers", make_envelope_headers,
	    run_envelope_refused);
	linear("gateway response root", make_response_root, run_response);
	linear("gateway response hdrs", make_response_headers, run_response);
	linear("json_check", make_body, run_json_check);
	linear("body_check keys", make_body, run_body_check);
	TEST_DONE();
}
