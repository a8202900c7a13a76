/*
 * keyhole-net gate: the HTTP transport's side of the decision on one
 * parsed request (SECURITY.md I4).
 *
 * After the head: the bridge token (constant time) → 401, which only this
 * transport has (a queue request is authenticated by the gateway); then
 * decide_head (decide.c: route, query, body rules, 413 from
 * Content-Length before any body byte is read, budgets).  After the body:
 * decide_body and decide_forward.  This file only turns the HTTP request
 * into a decide_req and a refusal into an HTTP answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decide.h"
#include "net.h"
#include "util.h"

static bool
gate_token_ok(const struct conn *c)
{
	return http_req_bearer(c->req, c->net->cfg.token, c->net->cfg.token_len);
}

void
gate_describe(const struct http_req *r, const char *peer,
    const uint8_t *body, size_t blen, struct decide_req *q,
    struct decide_hdr *h)
{
	for (size_t i = 0; i < r->nfields; i++) {
		h[i].name = (const char *)r->fields[i].name;
		h[i].nlen = r->fields[i].nlen;
		h[i].value = (const char *)r->fields[i].value;
		h[i].vlen = r->fields[i].vlen;
	}
	memset(q, 0, sizeof(*q));
	q->method = r->method;
	q->path = r->path;
	q->path_len = r->path_len;
	q->has_query = r->has_query;
	q->query = r->query;
	q->query_len = r->query_len;
	q->peer = peer;
	q->hdrs = h;
	q->nhdrs = r->nfields;
	q->has_body = r->body == HTTP_BODY_CHUNKED ||
	    (r->body == HTTP_BODY_LENGTH && r->content_length > 0);
	q->len_known = r->body == HTTP_BODY_LENGTH;
	q->len = r->content_length;
	q->body = body;
	q->body_len = blen;
}

/* The refusal as an HTTP answer.  close: a body was announced and may not
 * have been read; its bytes must never be taken for the next request. */
static int
gate_refuse(struct conn *c, const struct decide_verdict *v, bool close)
{
	char *json = decide_json(v);
	char ra[16];

	if (close && c->req->body != HTTP_BODY_NONE)
		c->close_after = true;
	if (json == NULL) {
		respond_answer(c, PC_OUT_OF_MEMORY);
		return pc_table[PC_OUT_OF_MEMORY].status;
	}
	snprintf(ra, sizeof(ra), "%u", v->retry_after);
	respond_json(c, v->status, json, decide_reason(v),
	    v->retry_after ? "retry-after" : NULL, v->retry_after ? ra : NULL);
	free(json);
	return v->status;
}

int
gate_head(struct conn *c)
{
	struct decide_hdr h[KH_HEADERS_MAX];
	struct decide_req q;
	struct decide_verdict v;

	c->rule = -1;
	if (!gate_token_ok(c)) {
		if (c->req->body != HTTP_BODY_NONE)
			c->close_after = true;
		respond_answer(c, PC_TOKEN);
		return pc_table[PC_TOKEN].status;
	}
	gate_describe(c->req, c->peer, c->body, c->body_len, &q, h);
	decide_head(c->net, &q, &v);
	c->rule = v.rule;
	c->body_limit = v.body_limit;
	if (v.status != 0)
		return gate_refuse(c, &v, true);
	return 0;
}

int
gate_request(struct conn *c)
{
	struct decide_hdr h[KH_HEADERS_MAX];
	struct decide_req q;
	struct decide_verdict v;
	struct pending *p;

	gate_describe(c->req, c->peer, c->body, c->body_len, &q, h);
	v.rule = c->rule;
	/* A 429 here closes the connection as one from the head would. */
	if (decide_body(c->net, &q, &v) != 0)
		return gate_refuse(c, &v, v.status == 429);
	/* The body goes to the parent by reference: conn_read.c's copy out
	 * of the client's input is the only one the child makes. */
	p = decide_forward(c->net, &q, c->body, &v);
	c->body = NULL;
	c->body_cap = 0;
	if (p == NULL)
		return gate_refuse(c, &v, false);
	c->body_len = 0;
	p->done = conn_deliver;
	p->owner = c;
	c->pending = p;
	return 0;
}
