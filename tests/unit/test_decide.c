/*
 * decide.c, the one decision both transports (HTTP and queue_v1) use: the
 * order of its checks, their exact answers, and the property the parent
 * relies on — a request decide lets through never fails a check the
 * parent repeats (`query none`, the rule's body limit, a required body, no
 * body on GET/HEAD, `max`).  One that did would make the parent kill the
 * child, so a hostile request could crash-loop keyhole-net.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "budget.h"
#include "decide.h"
#include "kh_test.h"
#include "net.h"
#include "policy_compile.h"
#include "policy_table.h"

static const char policy_text[] =
    "max 3\n"
    "max-body 1k\n"
    "allow GET /api/agents/me\n"
    "allow GET /api/q query none\n"
    "allow PATCH /api/issues/{issue} keys status,comment query none\n"
    "allow POST /api/json body json\n"
    "allow DELETE /api/drafts/* body none\n"
    "allow POST /api/upload content-type multipart/form-data max-body 4k\n"
    "allow POST /api/small max-body 64\n"
    "allow GET /api/rated rate 1/min\n"
    "allow POST /api/free\n";

static struct net N;

static void
diag_print(void *arg, bool warning, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s%s\n", warning ? "" : "error: ", msg);
}

static void
setup(uint32_t used)
{
	struct pol_bindings b;
	char why[256];

	policy_free(&N.policy);
	budget_free(&N.budget);
	memset(&b, 0, sizeof(b));
	if (policy_binding_add(&b, "issue=BRI-7", why, sizeof(why)) != 0 ||
	    policy_compile("t.policy", (const uint8_t *)policy_text,
	    strlen(policy_text), &b, 0, &N.policy, diag_print, NULL) != 0 ||
	    budget_init(&N.budget, &N.policy, used, budget_now_ms()) != 0) {
		fprintf(stderr, "test policy does not compile\n");
		exit(1);
	}
	N.cfg.max_body = 1u << 20;
	N.cfg.max_inflight = 8;
}

static struct decide_hdr H[1];

/* A request with its body length known (a queue file, or HTTP with
 * Content-Length).  query NULL: no '?'. */
static struct decide_req
req(const char *method, const char *path, const char *query,
    const char *ctype, const char *body)
{
	struct decide_req q;
	size_t bl = body != NULL ? strlen(body) : 0;

	memset(&q, 0, sizeof(q));
	q.method = method;
	q.path = path;
	q.path_len = strlen(path);
	q.has_query = query != NULL;
	q.query = query != NULL ? query : "";
	q.query_len = strlen(q.query);
	q.peer = "test";
	if (ctype != NULL) {
		H[0].name = "Content-Type";
		H[0].nlen = 12;
		H[0].value = ctype;
		H[0].vlen = strlen(ctype);
		q.hdrs = H;
		q.nhdrs = 1;
	}
	q.has_body = bl > 0;
	q.len_known = true;
	q.len = bl;
	q.body = (const uint8_t *)body;
	q.body_len = bl;
	return q;
}

static int
decide(const struct decide_req *q, struct decide_verdict *v)
{
	if (decide_head(&N, q, v) != 0)
		return v->status;
	return decide_body(&N, q, v);
}

static void
expect(const char *method, const char *path, const char *query,
    const char *ctype, const char *body, int status, const char *json)
{
	struct decide_req q = req(method, path, query, ctype, body);
	struct decide_verdict v;
	char *s;

	decide(&q, &v);
	CHECK_EQ_INT(v.status, status);
	if (status == 0 || json == NULL)
		return;
	s = decide_json(&v);
	CHECK_EQ_STR(s, json);
	if (s == NULL || strcmp(s, json) != 0)
		fprintf(stderr, "  for %s %s\n", method, path);
	cJSON_free(s);
}

static void
test_answers_and_their_order(void)
{
	/* decide_answers_each_refusal_exactly */
	expect("DELETE", "/api/issues/BRI-7", NULL, NULL, NULL, 403,
	    "{\"error\":\"Route not allowed: DELETE /api/issues/BRI-7\"}");
	expect("PATCH", "/api/issues/BRI-8", NULL, "application/json",
	    "{\"status\":1}", 403,
	    "{\"error\":\"Route not allowed: PATCH /api/issues/BRI-8\"}");
	expect("GET", "/api/q", "", NULL, NULL, 403,
	    "{\"error\":\"Query string not allowed: GET /api/q\"}");
	expect("DELETE", "/api/drafts/d", NULL, "application/json", "{}", 400,
	    "{\"error\":\"Request body not allowed on this route.\"}");
	expect("POST", "/api/free", NULL, "text/plain", "hi", 415,
	    "{\"error\":\"Bridge only accepts JSON request bodies.\"}");
	expect("POST", "/api/upload", NULL, "application/json", "{}", 415,
	    "{\"error\":\"Content-Type not accepted on this route: "
	    "application/json\"}");
	expect("POST", "/api/small", NULL, "application/json",
	    "\"0123456789012345678901234567890123456789012345678901234567890"
	    "12345\"", 413, "{\"error\":\"Request body too large.\"}");
	expect("PATCH", "/api/issues/BRI-7", NULL, NULL, NULL, 400,
	    "{\"error\":\"Request body must be a JSON object.\"}");
	expect("POST", "/api/json", NULL, NULL, NULL, 400,
	    "{\"error\":\"Request body must be one JSON value.\"}");
	expect("POST", "/api/json", NULL, "application/json", "{} x", 400,
	    "{\"error\":\"Request body is not valid JSON.\"}");
	expect("PATCH", "/api/issues/BRI-7", NULL, "application/json",
	    "{\"status\":1,\"a\\\"b\":2}", 422,
	    "{\"error\":\"Key not allowed on this route: a\\\"b\","
	    "\"key\":\"a\\\"b\"}");
	expect("PATCH", "/api/issues/BRI-7", NULL,
	    "application/json; charset=utf-8", "[]", 422,
	    "{\"error\":\"Request body must be a JSON object.\"}");
	expect("POST", "/api/upload", NULL, "multipart/form-data; boundary=b",
	    "--b--", 0, NULL);
	expect("GET", "/api/agents/me", "a=1", NULL, NULL, 0, NULL);

	/* decide_checks_query_before_any_body_rule: the first refusal in
	 * the documented order answers. */
	expect("PATCH", "/api/issues/BRI-7", "x=1", NULL, NULL, 403, NULL);
	expect("DELETE", "/api/drafts/d", NULL, "text/plain", "x", 400, NULL);
	expect("POST", "/api/upload", NULL, "text/plain",
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4567890", 415, NULL);
}

static void
test_body_of_unknown_length(void)
{
	struct decide_req q;
	struct decide_verdict v;
	char big[100];

	/* decide_refuses_a_chunked_body_over_the_rule_limit_once_read */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	q = req("POST", "/api/small", NULL, "text/plain", NULL);
	q.has_body = true;
	q.len_known = false;
	CHECK_EQ_INT(decide_head(&N, &q, &v), 415);
	q = req("POST", "/api/small", NULL, "application/json", NULL);
	q.has_body = true;
	q.len_known = false;
	CHECK_EQ_INT(decide_head(&N, &q, &v), 0);
	CHECK_EQ_INT(v.body_limit, 64);
	q.body = (const uint8_t *)big;
	q.body_len = strlen(big);
	CHECK_EQ_INT(decide_body(&N, &q, &v), 413);
	/* An announced body that turned out empty is a missing body. */
	q = req("POST", "/api/json", NULL, "application/json", NULL);
	q.has_body = true;
	q.len_known = false;
	CHECK_EQ_INT(decide_head(&N, &q, &v), 0);
	CHECK_EQ_INT(decide_body(&N, &q, &v), 400);
	CHECK_EQ_STR(v.message, "Request body must be one JSON value.");
}

static void
test_budgets(void)
{
	struct decide_req q;
	struct decide_verdict v;
	char *s;

	/* decide_answers_a_spent_rate_429_with_retry_after */
	setup(0);
	q = req("GET", "/api/rated", NULL, NULL, NULL);
	CHECK_EQ_INT(decide(&q, &v), 0);
	budget_take(&N.budget, &N.policy, (size_t)v.rule, "GET",
	    budget_now_ms());
	CHECK_EQ_INT(decide(&q, &v), 429);
	CHECK(v.retry_after >= 1 && v.retry_after <= 60);
	CHECK_EQ_STR(decide_reason(&v), "rate limit");
	s = decide_json(&v);
	CHECK(s != NULL && strstr(s, "{\"error\":\"Rate limit for this route "
	    "exceeded (1 per minute).\",\"retryAfter\":") == s);
	cJSON_free(s);

	/* decide_answers_a_spent_run_budget_429_reads_go_on */
	setup(3);
	q = req("POST", "/api/free", NULL, "application/json", "{}");
	CHECK_EQ_INT(decide(&q, &v), 429);
	CHECK_EQ_INT(v.retry_after, 0);
	CHECK_EQ_STR(v.message, "Mutation budget for this run is spent "
	    "(max 3).");
	q = req("GET", "/api/agents/me", NULL, NULL, NULL);
	CHECK_EQ_INT(decide(&q, &v), 0);
	setup(0);
}

/* What the parent's mon_request refuses as an attack, given its own copy
 * of the policy and its own mutation count. */
static bool
parent_would_refuse(const struct decide_req *q, uint32_t used)
{
	int ri = policy_match(&N.policy, q->method, q->path, q->path_len);
	const struct pol_rule *r;

	if (ri < 0)
		return true;
	r = &N.policy.rules[ri];
	if ((r->flags & POL_QUERY_NONE) && q->has_query)
		return true;
	if (q->body_len > policy_body_limit(&N.policy, r, N.cfg.max_body))
		return true;
	if (((r->flags & POL_BODY_JSON) || r->nkeys > 0) && q->body_len == 0)
		return true;
	if (q->body_len > 0 && (strcmp(q->method, "GET") == 0 ||
	    strcmp(q->method, "HEAD") == 0))
		return true;
	return policy_method_mutates(q->method) &&
	    N.policy.max_mutations != 0 && used >= N.policy.max_mutations;
}

static void
test_nothing_let_through_is_an_attack_to_the_parent(void)
{
	static const char *methods[] = { "GET", "HEAD", "POST", "PATCH",
	    "DELETE" };
	static const char *paths[] = { "/api/agents/me", "/api/q",
	    "/api/issues/BRI-7", "/api/issues/BRI-8", "/api/json",
	    "/api/drafts/d", "/api/upload", "/api/small", "/api/free" };
	static const char *queries[] = { NULL, "", "a=1" };
	static const char *ctypes[] = { NULL, "application/json",
	    "multipart/form-data; boundary=b", "text/plain" };
	char mid[200], big[2000], huge[5000];
	const char *bodies[] = { NULL, "{}", "{\"status\":1}", "[1]", mid, big,
	    huge };
	size_t passed = 0, tried = 0;

	memset(mid, 'x', sizeof(mid) - 1);
	mid[sizeof(mid) - 1] = '\0';
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(huge, 'z', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	/* decide_never_lets_through_what_the_parent_refuses, with the
	 * budget unspent and spent. */
	for (uint32_t used = 0; used <= 3; used += 3) {
		setup(used);
		for (size_t a = 0; a < sizeof(methods) / sizeof(*methods); a++)
		for (size_t b = 0; b < sizeof(paths) / sizeof(*paths); b++)
		for (size_t c = 0; c < sizeof(queries) / sizeof(*queries); c++)
		for (size_t d = 0; d < sizeof(ctypes) / sizeof(*ctypes); d++)
		for (size_t e = 0; e < sizeof(bodies) / sizeof(*bodies); e++) {
			struct decide_req q = req(methods[a], paths[b],
			    queries[c], ctypes[d], bodies[e]);
			struct decide_verdict v;
			tried++;
			if (decide(&q, &v) != 0)
				continue;
			passed++;
			if (parent_would_refuse(&q, used)) {
				CHECK(!"decide let through an attack");
				fprintf(stderr, "  %s %s?%s ctype=%s body=%zu "
				    "used=%u\n", methods[a], paths[b],
				    queries[c] ? queries[c] : "(none)",
				    ctypes[d] ? ctypes[d] : "(none)",
				    q.body_len, used);
			}
		}
	}
	/* The combinations are not all refusals: the property is not
	 * vacuous. */
	CHECK(passed > 20);
	printf("%zu of %zu combinations let through\n", passed, tried);
	setup(0);
}

int
main(void)
{
	setup(0);
	test_answers_and_their_order();
	test_body_of_unknown_length();
	test_budgets();
	test_nothing_let_through_is_an_attack_to_the_parent();
	policy_free(&N.policy);
	budget_free(&N.budget);
	TEST_DONE();
}
