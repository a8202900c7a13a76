/*
 * decide.c, the one decision both transports (HTTP and queue_v1) use: the
 * order of its checks, their exact answers, and the property the parent
 * relies on — a request decide lets through never fails a check the
 * parent repeats.  One that did would make the parent kill the child, so
 * a hostile request could crash-loop keyhole-net.  The parent here is the
 * real one: decide_forward's MSG_REQUEST goes to request_check() (the
 * route, `query none`, the rule's body limit, a required body, no body on
 * GET/HEAD, headers, the media type, JSON validity, `keys`, `max`) with
 * the parent's own decoded copy of the policy.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "budget.h"
#include "decide.h"
#include "kh_test.h"
#include "net.h"
#include "policy_compile.h"
#include "policy_table.h"
#include "request_check.h"
#include "upstream.h"
#include "util.h"

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
    "allow POST /api/free\n"
    "allow POST /api/merge content-type application/merge-patch+json\n";

static struct net N;
/* The parent's side: its own copy of the table (as mon_policy decodes
 * it) and the socketpair's two ends. */
static struct policy P;
static struct event_base *base;
static struct bufferevent *pair[2];

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
	    budget_init(&N.budget, &N.policy, used, (uint64_t)util_now_ms()) != 0) {
		fprintf(stderr, "test policy does not compile\n");
		exit(1);
	}
	N.cfg.max_body = 1u << 20;
	N.cfg.max_inflight = 8;
	if (base == NULL) {
		struct wbuf w;
		struct msg_reader rd;

		base = event_base_new();
		if (base == NULL || bufferevent_pair_new(base, 0, pair) != 0)
			exit(1);
		bufferevent_enable(pair[0], EV_READ | EV_WRITE);
		bufferevent_enable(pair[1], EV_READ | EV_WRITE);
		policy_init(&P);
		wbuf_init(&w);
		policy_encode(&N.policy, &w);
		msg_reader_init(&rd, w.buf, w.len);
		if (policy_decode(&rd, &b, &P, why, sizeof(why)) != 0) {
			fprintf(stderr, "parent refuses the table: %s\n", why);
			exit(1);
		}
		wbuf_free(&w);
	}
	N.base = base;
	N.parent = pair[0];
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

	/* decide_refuses_a_media_parameter_it_cannot_check (issue 11) */
	expect("PATCH", "/api/issues/BRI-7", NULL,
	    "application/json; charset=utf-7", "{\"status\":1}", 415,
	    "{\"error\":\"Content-Type parameter not accepted: only "
	    "charset=utf-8 (and a multipart boundary) may follow the media "
	    "type.\"}");
	expect("POST", "/api/upload", NULL,
	    "multipart/form-data; boundary=b; charset=utf-7", "--b--", 415,
	    NULL);
	expect("POST", "/api/free", NULL, "application/json, text/plain", "{}",
	    415, "{\"error\":\"Bridge only accepts JSON request bodies.\"}");
	expect("PATCH", "/api/issues/BRI-7", NULL,
	    "application/json;charset=UTF-8", "{\"status\":1}", 0, NULL);
	/* a +json type the rule lists is JSON to the body checks */
	expect("POST", "/api/merge", NULL, "application/merge-patch+json",
	    "{} x", 400, "{\"error\":\"Request body is not valid JSON.\"}");
	expect("POST", "/api/merge", NULL, "application/merge-patch+json",
	    "{}", 0, NULL);

	/* decide_checks_query_before_any_body_rule: the first refusal in
	 * the documented order answers. */
	expect("PATCH", "/api/issues/BRI-7", "x=1", NULL, NULL, 403, NULL);
	expect("DELETE", "/api/drafts/d", NULL, "text/plain", "x", 400, NULL);
	expect("POST", "/api/upload", NULL, "text/plain",
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4567890", 415, NULL);
}

static void
test_headers_around_the_media_type(void)
{
	struct decide_hdr h[2] = {
		{ "Content-Type", 12, "application/json", 16 },
		{ "content-type", 12, "application/json; charset=utf-7", 31 },
	};
	struct decide_req q = req("PATCH", "/api/issues/BRI-7", NULL, NULL,
	    "{\"status\":1}");
	struct decide_verdict v;

	/* decide_refuses_content_type_twice: which one would the upstream
	 * read? */
	q.hdrs = h;
	q.nhdrs = 2;
	CHECK_EQ_INT(decide(&q, &v), 400);
	CHECK_EQ_STR(v.message, "Content-Type given more than once.");
	/* decide_refuses_a_content_encoding: body-parser would inflate what
	 * keyhole checked as bytes */
	h[1].name = "Content-Encoding";
	h[1].nlen = 16;
	h[1].value = "gzip";
	h[1].vlen = 4;
	CHECK_EQ_INT(decide(&q, &v), 415);
	CHECK_EQ_STR(v.message, "Bridge does not accept a Content-Encoding on "
	    "request bodies.");
	h[1].value = " identity ";
	h[1].vlen = 10;
	CHECK_EQ_INT(decide(&q, &v), 0);
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
	    (uint64_t)util_now_ms());
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

/* Send what decide let through to the real parent check: decide_forward
 * writes the MSG_REQUEST, request_check() judges it with the parent's
 * own table and mutation count.  Returns the parent's complaint, or NULL.
 * The child's budgets and pending list are put back, so every
 * combination starts from the same state. */
static const char *
parent_refusal(const struct decide_req *q, struct decide_verdict *v,
    uint32_t used)
{
	static char why_copy[128];
	struct evbuffer *link = evbuffer_new();
	const char *why = NULL;
	uint8_t *body = NULL;
	struct msg_hdr h;
	struct msg_reader rd;
	struct req_checked ck;
	struct up_req *r;

	if (link == NULL)
		exit(1);
	if (q->body_len > 0) {
		if ((body = malloc(q->body_len)) == NULL)
			exit(1);
		memcpy(body, q->body, q->body_len);
	}
	if (decide_forward(&N, q, body, v) == NULL) {
		evbuffer_free(link);
		return "decide_forward refused";
	}
	evbuffer_add_buffer(link, bufferevent_get_output(pair[0]));
	evbuffer_add_buffer(link, bufferevent_get_input(pair[1]));
	size_t len = evbuffer_get_length(link);
	uint8_t *frame = evbuffer_pullup(link, -1);
	if (len < KH_WIRE_HDR || msg_hdr_decode(frame, &h) != 0 ||
	    h.type != MSG_REQUEST) {
		why = "no MSG_REQUEST";
	} else {
		msg_reader_init(&rd, frame + KH_WIRE_HDR, len - KH_WIRE_HDR);
		if (request_check(&P, N.cfg.max_body, used, &rd, &ck,
		    &why) == 0) {
			/* ... and what libcurl would be given from it. */
			if ((r = calloc(1, sizeof(*r))) == NULL)
				exit(1);
			why = up_req_fill(r, h.id, &ck) == 0 ? NULL :
			    "up_req_fill failed";
			up_req_free(r);
		}
	}
	if (why != NULL) {
		snprintf(why_copy, sizeof(why_copy), "%s", why);
		why = why_copy;
	}
	evbuffer_free(link);
	while (N.pending != NULL) {
		struct pending *next = N.pending->next;
		free(N.pending);
		N.pending = next;
	}
	N.npending = 0;
	budget_free(&N.budget);
	if (budget_init(&N.budget, &N.policy, used, (uint64_t)util_now_ms()) != 0)
		exit(1);
	return why;
}

static void
test_nothing_let_through_is_an_attack_to_the_parent(void)
{
	static const char *methods[] = { "GET", "HEAD", "POST", "PATCH",
	    "DELETE" };
	static const char *paths[] = { "/api/agents/me", "/api/q",
	    "/api/issues/BRI-7", "/api/issues/BRI-8", "/api/json",
	    "/api/drafts/d", "/api/upload", "/api/small", "/api/free",
	    "/api/merge" };
	static const char *queries[] = { NULL, "", "a=1" };
	static const char *ctypes[] = { NULL, "application/json",
	    "Application/JSON ;charset=UTF-8", "application/json; charset=utf-7",
	    "multipart/form-data; boundary=b", "multipart/form-data; "
	    "boundary=\"a:b\"", "multipart/form-data; boundary=b; x=y",
	    "text/plain", "application/merge-patch+json" };
	char mid[200], big[2000], huge[5000];
	const char *bodies[] = { NULL, "{}", "{\"status\":1}",
	    "{\"st\\u0061tus\":1,\"comment\":[{}]}", "{\"status\":1,\"x\":2}",
	    "[1]", "{\"status\":", mid, big, huge };
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
			const char *why;
			tried++;
			if (decide(&q, &v) != 0)
				continue;
			passed++;
			if ((why = parent_refusal(&q, &v, used)) != NULL) {
				CHECK(!"decide let through an attack");
				fprintf(stderr, "  %s %s?%s ctype=%s body=%zu "
				    "used=%u: %s\n", methods[a], paths[b],
				    queries[c] ? queries[c] : "(none)",
				    ctypes[d] ? ctypes[d] : "(none)",
				    q.body_len, used, why);
			}
		}
	}
	/* The combinations are not all refusals: the property is not
	 * vacuous. */
	CHECK(passed > 100);
	printf("%zu of %zu combinations let through\n", passed, tried);
	setup(0);
}

int
main(void)
{
	setup(0);
	test_answers_and_their_order();
	test_headers_around_the_media_type();
	test_body_of_unknown_length();
	test_budgets();
	test_nothing_let_through_is_an_attack_to_the_parent();
	policy_free(&N.policy);
	policy_free(&P);
	budget_free(&N.budget);
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	event_base_free(base);
	TEST_DONE();
}
