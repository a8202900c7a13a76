/*
 * keyhole-net gate: the decision on one parsed request (Invariant 4).
 *
 * After the head: bridge token (constant time) → 401; route policy on the
 * canonical path → 403; a body on a method other than GET/HEAD must be
 * JSON → 415; Content-Length over the limit → 413 before any body byte
 * is read.  After the body: JSON bodies must be one JSON text
 * (json_check.c) → 400; the in-flight limit → 503.  Then headers are reduced to the allowlist and
 * the request goes to the parent as one MSG_REQUEST.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "json_check.h"
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

/* application/json, optionally with parameters (; charset=utf-8). */
bool
gate_is_json(const struct http_field *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ct == NULL || ct->vlen < n ||
	    strncasecmp((const char *)ct->value, want, n) != 0)
		return false;
	return ct->vlen == n || ct->value[n] == ';' || ct->value[n] == ' ' ||
	    ct->value[n] == '\t';
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

int
gate_head(struct conn *c)
{
	struct net *n = c->net;
	const struct http_req *r = &c->req;
	char msg[64 + KH_PATH_MAX];

	if (!gate_token_ok(c)) {
		log_info("peer=%s %s %s -> 401 bad token", c->peer, r->method,
		    r->path);
		return gate_deny(c, 401, "Invalid bridge token.");
	}
	if (policy_match(&n->policy, r->method, r->path, r->path_len) < 0) {
		log_info("peer=%s %s %s -> 403 no rule", c->peer, r->method,
		    r->path);
		snprintf(msg, sizeof(msg), "Route not allowed: %s %s", r->method,
		    r->path);
		return gate_deny(c, 403, msg);
	}
	if (gate_has_body(r) && !gate_is_json(http_req_field(r, "content-type")))
		return gate_deny(c, 415, "Bridge only accepts JSON request bodies.");
	if (r->body == HTTP_BODY_LENGTH && r->content_length > n->max_body)
		return gate_deny(c, 413, "Request body too large.");
	return 0;
}

/* Add the allowlisted headers; 400 for a duplicate or a value keyhole
 * will not forward (the parent would rightly treat it as an attack). */
static int
gate_put_headers(struct conn *c, struct wbuf *w)
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
		if (!policy_req_header_allowed(&c->net->policy, name, f->nlen))
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

bool
gate_json_valid(const uint8_t *body, size_t len)
{
	return json_check(body, len);
}

int
gate_request(struct conn *c)
{
	struct net *n = c->net;
	const struct http_req *r = &c->req;
	size_t blen = evbuffer_get_length(c->body);
	const uint8_t *body = blen ? evbuffer_pullup(c->body, -1) : NULL;
	struct wbuf w;
	struct pending *p;
	int st;

	if (blen > 0 && gate_is_json(http_req_field(r, "content-type")) &&
	    !gate_json_valid(body, blen)) {
		respond_error(c, 400, "Request body is not valid JSON.");
		return 400;
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
	if ((st = gate_put_headers(c, &w)) != 0) {
		wbuf_free(&w);
		free(p);
		respond_error(c, st, st == 400 ?
		    "Duplicate or invalid forwarded header." :
		    "Request header fields too large.");
		return st;
	}
	msg_put_blob(&w, body, blen);
	link_send(n, &w);
	p->conn = c;
	p->next = n->pending;
	n->pending = p;
	n->npending++;
	c->pending = p;
	return 0;
}
