/*
 * keyhole-net gate: the decision on one parsed request (Invariant 4).
 *
 * After the head: bridge token (constant time) → 401; route policy on the
 * canonical path (the first matching rule decides) → 403; the rule's
 * `query none` → 403; a body on a `body none` rule → 400; a body whose
 * media type the rule does not accept (application/json unless the rule
 * lists others) → 415; Content-Length over the rule's limit → 413 before
 * any body byte is read; no body where `body json`/`keys` need one →
 * 400; the rule's rate or the run's mutation budget → 429.  After the
 * body: JSON validity, `body json` and `keys` (body_check.c) → 400, 415
 * or 422; the in-flight limit → 503.  Then headers are reduced to the
 * allowlist (global plus the rule's own), the budgets are charged, and
 * the request goes to the parent as one MSG_REQUEST.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "body_check.h"
#include "log.h"
#include "net.h"
#include "util.h"

static bool
gate_token_ok(const struct conn *c)
{
	const struct net *n = c->net;
	const struct http_field *auth = NULL;
	size_t count = 0;

	for (size_t i = 0; i < c->req.nfields; i++) {
		const struct http_field *f = &c->req.fields[i];
		if (f->nlen == 13 &&
		    strncasecmp((const char *)f->name, "authorization", 13) == 0) {
			auth = f;
			count++;
		}
	}
	if (count != 1 || auth->vlen < 7 ||
	    strncasecmp((const char *)auth->value, "Bearer ", 7) != 0)
		return false;
	return util_ct_equal(auth->value + 7, auth->vlen - 7,
	    (const uint8_t *)n->cfg.token, n->cfg.token_len);
}

/* The media type of a Content-Type value: up to ';', surrounding
 * whitespace dropped.  len 0 when there is none. */
static void
gate_media_type(const struct http_field *ct, const char **t, size_t *len)
{
	const char *v = ct ? (const char *)ct->value : "";
	size_t n = ct ? ct->vlen : 0;
	const char *semi = n ? memchr(v, ';', n) : NULL;

	if (semi != NULL)
		n = (size_t)(semi - v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	*t = v;
	*len = n;
}

/* application/json, with or without parameters; the queue transport
 * applies the same rule to its envelope's content-type. */
bool
gate_ctype_is_json(const char *v, size_t len)
{
	struct http_field f = { .value = (const uint8_t *)v, .vlen = len };
	const char *t;
	size_t n;

	gate_media_type(v != NULL ? &f : NULL, &t, &n);
	return n == 16 && strncasecmp(t, "application/json", 16) == 0;
}

static bool
gate_is_json(const struct http_req *r)
{
	const struct http_field *ct = http_req_field(r, "content-type");

	return ct != NULL && gate_ctype_is_json((const char *)ct->value,
	    ct->vlen);
}

static bool
gate_has_body(const struct http_req *r)
{
	return r->body == HTTP_BODY_CHUNKED ||
	    (r->body == HTTP_BODY_LENGTH && r->content_length > 0);
}

/* Close after an early answer if the body was announced but not read:
 * its bytes must never be taken for the next request. */
static int
gate_deny(struct conn *c, int status, const char *message)
{
	if (c->req.body != HTTP_BODY_NONE)
		c->close_after = true;
	respond_error(c, status, message);
	return status;
}

/* 429: a rate (with retry-after) or the spent run budget. */
static int
gate_budget(struct conn *c, const struct pol_rule *rule)
{
	struct net *n = c->net;
	const struct http_req *r = &c->req;
	uint32_t retry = 0;
	char msg[160], ra[16];

	switch (budget_check(&n->budget, &n->policy, (size_t)c->rule,
	    r->method, budget_now_ms(), &retry)) {
	case BUDGET_OK:
		return 0;
	case BUDGET_RATE:
		snprintf(msg, sizeof(msg), "{\"error\":\"Rate limit for this "
		    "route exceeded (%u per %s).\",\"retryAfter\":%u}",
		    rule->rate_count, rule->rate_period_s == 60 ? "minute" :
		    "second", retry);
		snprintf(ra, sizeof(ra), "%u", retry);
		if (r->body != HTTP_BODY_NONE)
			c->close_after = true;
		respond_json(c, 429, msg, "rate limit", "retry-after", ra);
		return 429;
	case BUDGET_SPENT:
		snprintf(msg, sizeof(msg), "Mutation budget for this run is "
		    "spent (max %u).", n->policy.max_mutations);
		return gate_deny(c, 429, msg);
	}
	return 0;
}

/* What the rule says about a body, from the head alone. */
static int
gate_head_body(struct conn *c, const struct pol_rule *rule)
{
	const struct http_req *r = &c->req;
	const char *t;
	size_t tl;
	char msg[64 + KH_POLICY_CTYPE_MAX];

	if (!gate_has_body(r)) {
		if ((rule->flags & POL_BODY_JSON) || rule->nkeys > 0)
			return gate_deny(c, 400, rule->nkeys ? "Request body "
			    "must be a JSON object." : "Request body must be "
			    "one JSON value.");
		return 0;
	}
	if (rule->flags & POL_BODY_NONE)
		return gate_deny(c, 400, "Request body not allowed on this "
		    "route.");
	gate_media_type(http_req_field(r, "content-type"), &t, &tl);
	if (!policy_rule_ctype_allowed(rule, t, tl)) {
		if (rule->nctypes == 0)
			return gate_deny(c, 415, "Bridge only accepts JSON "
			    "request bodies.");
		snprintf(msg, sizeof(msg), "Content-Type not accepted on this "
		    "route: %.*s", (int)(tl < KH_POLICY_CTYPE_MAX ? tl :
		    KH_POLICY_CTYPE_MAX), t);
		return gate_deny(c, 415, msg);
	}
	if (r->body == HTTP_BODY_LENGTH && r->content_length > c->body_limit)
		return gate_deny(c, 413, "Request body too large.");
	return 0;
}

int
gate_head(struct conn *c)
{
	struct net *n = c->net;
	const struct http_req *r = &c->req;
	char msg[64 + KH_PATH_MAX];
	int st;

	c->rule = -1;
	if (!gate_token_ok(c))
		return gate_deny(c, 401, "Invalid bridge token.");
	int ri = policy_match(&n->policy, r->method, r->path, r->path_len);
	if (ri < 0) {
		snprintf(msg, sizeof(msg), "Route not allowed: %s %s", r->method,
		    r->path);
		return gate_deny(c, 403, msg);
	}
	const struct pol_rule *rule = &n->policy.rules[ri];
	c->rule = ri;
	c->body_limit = policy_body_limit(&n->policy, rule, n->cfg.max_body);
	if ((rule->flags & POL_QUERY_NONE) && r->has_query) {
		snprintf(msg, sizeof(msg), "Query string not allowed: %s %s",
		    r->method, r->path);
		return gate_deny(c, 403, msg);
	}
	if ((st = gate_head_body(c, rule)) != 0)
		return st;
	return gate_budget(c, rule);
}

/* Add the allowlisted headers; 400 for a duplicate or a value keyhole
 * will not forward (the parent would rightly treat it as an attack). */
static int
gate_put_headers(struct conn *c, const struct pol_rule *rule, struct wbuf *w)
{
	const struct http_req *r = &c->req;
	char names[KH_FWD_HEADERS_MAX][KH_HNAME_MAX + 1];
	size_t idx[KH_FWD_HEADERS_MAX], nfwd = 0;

	for (size_t i = 0; i < r->nfields; i++) {
		const struct http_field *f = &r->fields[i];
		char name[KH_HNAME_MAX + 1];
		if (f->nlen > KH_HNAME_MAX)
			continue;
		for (size_t k = 0; k < f->nlen; k++)
			name[k] = (char)tolower(f->name[k]);
		name[f->nlen] = '\0';
		if (!policy_rule_header_allowed(&c->net->policy, rule, name,
		    f->nlen))
			continue;
		for (size_t k = 0; k < nfwd; k++)
			if (strcmp(names[k], name) == 0)
				return 400;
		if (!util_hvalue_forwardable((const char *)f->value, f->vlen))
			return 400;
		if (nfwd == KH_FWD_HEADERS_MAX)
			return 431;
		memcpy(names[nfwd], name, f->nlen + 1);
		idx[nfwd++] = i;
	}
	msg_put_u16(w, (uint16_t)nfwd);
	for (size_t k = 0; k < nfwd; k++) {
		const struct http_field *f = &r->fields[idx[k]];
		msg_put_cstr(w, names[k]);
		msg_put_str(w, (const char *)f->value, f->vlen);
	}
	return 0;
}

/* 400/415/422 from body_check, with the offending key for 422. */
static void
gate_body_error(struct conn *c, const struct body_verdict *v)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL, msg[64 + sizeof(v->key)];

	/* The error text names the key too, for a reader of the message
	 * alone; "key" carries it for a program. */
	if (v->status == 422 && v->key[0] != '\0')
		snprintf(msg, sizeof(msg), "Key not allowed on this route: %s",
		    v->key);
	else
		snprintf(msg, sizeof(msg), "%s", v->error);
	if (o != NULL && cJSON_AddStringToObject(o, "error", msg) &&
	    (v->status != 422 || v->key[0] == '\0' ||
	    cJSON_AddStringToObject(o, "key", v->key)))
		s = cJSON_PrintUnformatted(o);
	respond_json(c, v->status, s ? s : "{\"error\":\"Bridge error.\"}",
	    msg, NULL, NULL);
	cJSON_free(s);
	cJSON_Delete(o);
}

int
gate_request(struct conn *c)
{
	struct net *n = c->net;
	const struct http_req *r = &c->req;
	size_t blen = c->body_len;
	const uint8_t *body = c->body;
	const struct pol_rule *rule;
	struct body_verdict v;
	struct wbuf w;
	struct pending *p;
	int st;

	if (c->rule < 0 || (size_t)c->rule >= n->policy.nrules) {
		respond_error(c, 500, "Bridge error.");
		return 500;
	}
	rule = &n->policy.rules[c->rule];
	body_check(rule, gate_is_json(r), body, blen, &v);
	if (v.status != 0) {
		gate_body_error(c, &v);
		return v.status;
	}
	if (n->shutting_down) {
		respond_error(c, 503, "Bridge is shutting down.");
		return 503;
	}
	if (n->npending >= n->cfg.max_inflight) {
		log_warn("peer=%s %s %s -> 503 queue full", c->peer, r->method,
		    r->path);
		respond_error(c, 503, "Bridge request queue is full.");
		return 503;
	}
	/* Again: another connection may have spent the budget while this
	 * body arrived. */
	if ((st = gate_budget(c, rule)) != 0)
		return st;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		respond_error(c, 503, "Bridge is out of memory.");
		return 503;
	}
	p->id = ++n->next_id;
	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, p->id);
	msg_put_cstr(&w, r->method);
	msg_put_str(&w, r->path, r->path_len);
	msg_put_u8(&w, r->has_query ? 1 : 0);
	msg_put_str(&w, r->query, r->query_len);
	msg_put_cstr(&w, c->peer);
	if ((st = gate_put_headers(c, rule, &w)) != 0) {
		wbuf_free(&w);
		free(p);
		respond_error(c, st, st == 400 ?
		    "Duplicate or invalid forwarded header." :
		    "Request header fields too large.");
		return st;
	}
	/* The body goes to the parent by reference: conn_read.c's copy out
	 * of the client's input is the only one the child makes. */
	msg_put_blob_deferred(&w, blen);
	st = link_send_owned(n, &w, c->body, blen);
	c->body = NULL;
	c->body_len = c->body_cap = 0;
	if (st != 0) {
		free(p);
		respond_error(c, 503, "Bridge is out of memory.");
		return 503;
	}
	/* Charged only for a request that went to the parent, which
	 * counts mutations the same way. */
	budget_take(&n->budget, &n->policy, (size_t)c->rule, r->method,
	    budget_now_ms());
	p->conn = c;
	p->next = n->pending;
	n->pending = p;
	n->npending++;
	c->pending = p;
	return 0;
}
