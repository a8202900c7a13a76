/*
 * keyhole-net decision on one request, for every transport (decide.h has
 * the order of the checks).  Nothing here knows a socket or a file: the
 * transport describes the request, this says yes or why not, and sends
 * what it allowed to the parent.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "body_check.h"
#include "decide.h"
#include "hdr.h"
#include "log.h"
#include "media_type.h"
#include "net.h"
#include "paperclip.h"
#include "util.h"

/* The answer id of the contract (paperclip.h), its template filled from
 * a (NULL: no fields). */
static int
decide_refuse(struct decide_verdict *v, enum pc_id id, const struct pc_args *a)
{
	v->status = pc_table[id].status;
	pc_message(id, a, v->message, sizeof(v->message));
	return v->status;
}

/* A fresh verdict for one step; the rule found by decide_head stays. */
static void
decide_clear(struct decide_verdict *v)
{
	v->status = 0;
	v->retry_after = 0;
	v->message[0] = '\0';
	v->key[0] = '\0';
}

static bool
decide_name_is(const struct decide_hdr *h, const char *name, size_t len)
{
	return h->nlen == len && strncasecmp(h->name, name, len) == 0;
}

/* The first header of that name (lower-case name, any-case field), and
 * how many there are. */
static const struct decide_hdr *
decide_field(const struct decide_req *q, const char *name, size_t *count)
{
	const struct decide_hdr *first = NULL;
	size_t len = strlen(name);

	*count = 0;
	for (size_t i = 0; i < q->nhdrs; i++)
		if (decide_name_is(&q->hdrs[i], name, len) && (*count)++ == 0)
			first = &q->hdrs[i];
	return first;
}

/* The Content-Type, parsed strictly (media_type.h).  No field at all, or
 * more than one: MEDIA_BAD_TYPE with m empty. */
static enum media_parse
decide_media(const struct decide_req *q, struct media_type *m)
{
	size_t count;
	const struct decide_hdr *ct = decide_field(q, "content-type", &count);

	if (ct == NULL || count != 1) {
		memset(m, 0, sizeof(*m));
		return MEDIA_BAD_TYPE;
	}
	return media_type_parse(ct->value, ct->vlen, m);
}

/* The Content-Type's media type as the client spelled it, up to ';',
 * trailing whitespace dropped (for an error message).  len 0 when there
 * is none. */
static void
decide_media_text(const struct decide_req *q, const char **t, size_t *len)
{
	size_t count;
	const struct decide_hdr *ct = decide_field(q, "content-type", &count);
	const char *v = ct ? ct->value : "";
	size_t n = ct ? ct->vlen : 0;
	const char *semi = n ? memchr(v, ';', n) : NULL;

	if (semi != NULL)
		n = (size_t)(semi - v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	*t = v;
	*len = n;
}

/* JSON to the body checks: application/json or a +json type, with no
 * parameter keyhole would refuse. */
static bool
decide_is_json(const struct decide_req *q)
{
	struct media_type m;

	return decide_media(q, &m) == MEDIA_OK &&
	    media_is_json(m.type, m.tlen);
}

/* The same test on a bare Content-Type value (the body-check fuzzer). */
bool
decide_ctype_is_json(const char *v, size_t len)
{
	struct decide_hdr h = { "content-type", 12, v, len };
	struct decide_req q = { .hdrs = &h, .nhdrs = 1 };

	return decide_is_json(&q);
}

/* A Content-Encoding other than identity: the body's bytes are not what
 * the upstream would read (body-parser inflates gzip, deflate, br), and
 * keyhole never forwards the header (policy_header_forbidden). */
static bool
decide_encoded(const struct decide_req *q)
{
	for (size_t i = 0; i < q->nhdrs; i++) {
		const struct decide_hdr *h = &q->hdrs[i];
		const char *v = h->value;
		size_t n = h->vlen;
		if (!decide_name_is(h, "content-encoding", 16))
			continue;
		while (n > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			n--;
		}
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n != 8 || strncasecmp(v, "identity", 8) != 0)
			return true;
	}
	return false;
}

/* GET and HEAD never carry a body.  The HTTP parser and the queue's
 * envelope check refuse one first, with their own answers; this is the
 * backstop, because the parent would take one for an attack. */
static bool
decide_bodyless(const struct decide_req *q)
{
	return strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0;
}

static const struct pol_rule *
decide_rule(const struct net *n, const struct decide_verdict *v)
{
	if (v->rule < 0 || (size_t)v->rule >= n->policy.nrules)
		return NULL;
	return &n->policy.rules[v->rule];
}

/* 429: the rule's rate (with retry-after) or the spent run budget.  Takes
 * nothing: decide_forward charges. */
static int
decide_budget(struct net *n, const struct decide_req *q,
    const struct pol_rule *rule, struct decide_verdict *v)
{
	struct pc_args a = { 0 };
	uint32_t retry = 0;

	switch (budget_check(&n->budget, &n->policy, (size_t)v->rule,
	    q->method, (uint64_t)util_now_ms(), &retry)) {
	case BUDGET_OK:
		return 0;
	case BUDGET_RATE:
		v->retry_after = retry;
		a.count = rule->rate_count;
		a.period = rule->rate_period_s == 60 ? "minute" : "second";
		return decide_refuse(v, PC_RATE, &a);
	case BUDGET_SPENT:
		a.max = n->policy.max_mutations;
		return decide_refuse(v, PC_BUDGET, &a);
	}
	return 0;
}

/* What the rule says about a body, from what was announced alone. */
static int
decide_head_body(const struct decide_req *q, const struct pol_rule *rule,
    struct decide_verdict *v)
{
	struct pc_args a = { 0 };
	struct media_type m;
	enum media_parse mp;
	size_t nct;

	/* Which one would the upstream read?  (Node keeps the first.) */
	(void)decide_field(q, "content-type", &nct);
	if (nct > 1)
		return decide_refuse(v, PC_CTYPE_TWICE, NULL);
	if (!q->has_body) {
		if ((rule->flags & POL_BODY_JSON) || rule->nkeys > 0)
			return decide_refuse(v, rule->nkeys ? PC_BODY_OBJECT :
			    PC_BODY_VALUE, NULL);
		return 0;
	}
	if ((rule->flags & POL_BODY_NONE) || decide_bodyless(q))
		return decide_refuse(v, PC_BODY_NOT_ALLOWED, NULL);
	mp = decide_media(q, &m);
	if (mp == MEDIA_BAD_TYPE ||
	    !policy_rule_ctype_allowed(rule, m.type, m.tlen)) {
		if (rule->nctypes == 0)
			return decide_refuse(v, PC_JSON_ONLY, NULL);
		decide_media_text(q, &a.type, &a.type_len);
		if (a.type_len > KH_POLICY_CTYPE_MAX)
			a.type_len = KH_POLICY_CTYPE_MAX;
		return decide_refuse(v, PC_CTYPE_ROUTE, &a);
	}
	if (mp != MEDIA_OK)
		return decide_refuse(v, PC_CTYPE_PARAM, NULL);
	if (decide_encoded(q))
		return decide_refuse(v, PC_ENCODING, NULL);
	if (q->len_known && q->len > v->body_limit)
		return decide_refuse(v, PC_HTTP_TOO_LARGE, NULL);
	return 0;
}

int
decide_head(struct net *n, const struct decide_req *q,
    struct decide_verdict *v)
{
	struct pc_args a = { .method = q->method, .path = q->path,
	    .path_len = q->path_len };
	const struct pol_rule *rule;
	int st;

	decide_clear(v);
	v->rule = policy_match(&n->policy, q->method, q->path, q->path_len);
	v->body_limit = 0;
	if ((rule = decide_rule(n, v)) == NULL) {
		v->rule = -1;
		return decide_refuse(v, PC_ROUTE, &a);
	}
	v->body_limit = policy_body_limit(&n->policy, rule, n->cfg.max_body);
	if ((rule->flags & POL_QUERY_NONE) && q->has_query)
		return decide_refuse(v, PC_QUERY, &a);
	if ((st = decide_head_body(q, rule, v)) != 0)
		return st;
	return decide_budget(n, q, rule, v);
}

int
decide_body(struct net *n, const struct decide_req *q,
    struct decide_verdict *v)
{
	const struct pol_rule *rule;
	struct body_verdict b;

	decide_clear(v);
	if ((rule = decide_rule(n, v)) == NULL)
		return decide_refuse(v, PC_INTERNAL, NULL);
	/* The transport enforced the limit while reading (a chunked body has
	 * no length up front); this is what the parent will hold it to. */
	v->body_limit = policy_body_limit(&n->policy, rule, n->cfg.max_body);
	if (q->body_len > v->body_limit)
		return decide_refuse(v, PC_HTTP_TOO_LARGE, NULL);
	if (q->body_len > 0 && decide_bodyless(q))
		return decide_refuse(v, PC_BODY_NOT_ALLOWED, NULL);
	body_check(rule, decide_is_json(q), q->body, q->body_len, &b);
	if (b.status == 422 && b.key[0] != '\0') {
		/* The text names the key for a reader of the message alone;
		 * "key" carries it for a program. */
		struct pc_args a = { .key = v->key };
		memcpy(v->key, b.key, sizeof(v->key));
		v->key[sizeof(v->key) - 1] = '\0';
		return decide_refuse(v, PC_KEY, &a);
	}
	if (b.status != 0)
		return decide_refuse(v, b.id, NULL);
	if (n->shutting_down)
		return decide_refuse(v, PC_SHUTTING_DOWN, NULL);
	if (n->npending >= n->cfg.max_inflight) {
		log_warn("peer=%s %s %s -> 503 queue full", q->peer, q->method,
		    q->path);
		return decide_refuse(v, PC_QUEUE_FULL, NULL);
	}
	/* Again: another request may have spent the budget while this body
	 * arrived. */
	return decide_budget(n, q, rule, v);
}

/* The allowlisted headers (the global list plus the rule's own), names
 * in lower case, into names/values/vlens, their number in *nfwd: 400 for
 * a duplicate or a value keyhole will not forward (the parent would
 * rightly treat either as an attack), 431 for too many. */
static int
decide_headers(struct net *n, const struct decide_req *q,
    const struct pol_rule *rule, char names[][KH_HNAME_MAX + 1],
    const char **values, size_t *vlens, size_t *nfwd)
{
	*nfwd = 0;
	for (size_t i = 0; i < q->nhdrs; i++) {
		const struct decide_hdr *h = &q->hdrs[i];
		char name[KH_HNAME_MAX + 1];
		if (h->nlen > KH_HNAME_MAX)
			continue;
		for (size_t k = 0; k < h->nlen; k++)
			name[k] = (char)tolower((unsigned char)h->name[k]);
		name[h->nlen] = '\0';
		/* content-type goes as the media fields: the parent writes
		 * the header from what was checked (decide_media_fields). */
		if (!policy_rule_header_allowed(&n->policy, rule, name,
		    h->nlen) || policy_header_forbidden(name, h->nlen) ||
		    strcmp(name, "content-type") == 0)
			continue;
		for (size_t k = 0; k < *nfwd; k++)
			if (strcmp(names[k], name) == 0)
				return 400;
		if (!hdr_value_forwardable(h->value, h->vlen))
			return 400;
		if (*nfwd == KH_FWD_HEADERS_MAX)
			return 431;
		memcpy(names[*nfwd], name, h->nlen + 1);
		values[*nfwd] = h->value;
		vlens[(*nfwd)++] = h->vlen;
	}
	return 0;
}

/* MSG_REQUEST's media fields: media, media_flags, boundary (wire.h,
 * media.h).  The checked media type, when the rule forwards content-type
 * and the client's is one the rule accepts; else none (a request without
 * a body may carry anything: it is simply not forwarded).  m holds the
 * boundary lr points to. */
static void
decide_media_fields(struct net *n, const struct decide_req *q,
    const struct pol_rule *rule, struct media_type *m,
    struct link_request *lr)
{
	unsigned media = MEDIA_NONE;

	memset(m, 0, sizeof(*m));
	if (policy_rule_header_allowed(&n->policy, rule, "content-type", 12) &&
	    decide_media(q, m) == MEDIA_OK &&
	    policy_rule_ctype_allowed(rule, m->type, m->tlen)) {
		if (strcmp(m->type, "application/json") == 0)
			media = MEDIA_JSON;
		for (size_t i = 0; i < rule->nctypes && media == MEDIA_NONE;
		    i++)
			if (strcmp(rule->ctypes[i], m->type) == 0)
				media = MEDIA_RULE_BASE + (unsigned)i;
	}
	lr->media = (uint8_t)media;
	lr->media_flags = media != MEDIA_NONE ? (uint8_t)m->flags : 0;
	lr->boundary = media != MEDIA_NONE ? m->boundary : "";
	lr->blen = media != MEDIA_NONE ? m->blen : 0;
}

struct pending *
decide_forward(struct net *n, const struct decide_req *q, uint8_t *body,
    struct decide_verdict *v)
{
	char names[KH_FWD_HEADERS_MAX][KH_HNAME_MAX + 1];
	const char *values[KH_FWD_HEADERS_MAX];
	size_t vlens[KH_FWD_HEADERS_MAX];
	const struct pol_rule *rule;
	struct link_request lr;
	struct media_type m;
	struct pending *p;
	int st;

	decide_clear(v);
	if ((rule = decide_rule(n, v)) == NULL) {
		free(body);
		decide_refuse(v, PC_INTERNAL, NULL);
		return NULL;
	}
	memset(&lr, 0, sizeof(lr));
	if ((st = decide_headers(n, q, rule, names, values, vlens,
	    &lr.nh)) != 0) {
		free(body);
		decide_refuse(v, st == 400 ? PC_HEADER_BAD : PC_HTTP_FIELDS,
		    NULL);
		return NULL;
	}
	lr.method = q->method;
	lr.path = q->path;
	lr.path_len = q->path_len;
	lr.has_query = q->has_query;
	lr.query = q->query;
	lr.query_len = q->query_len;
	lr.peer = q->peer;
	lr.names = (const char (*)[KH_HNAME_MAX + 1])names;
	lr.values = values;
	lr.vlens = vlens;
	decide_media_fields(n, q, rule, &m, &lr);
	lr.body_len = q->body_len;
	if ((p = link_send_request(n, &lr, body)) == NULL) {
		decide_refuse(v, PC_OUT_OF_MEMORY, NULL);
		return NULL;
	}
	/* Charged only for a request that went to the parent, which counts
	 * mutations the same way. */
	budget_take(&n->budget, &n->policy, (size_t)v->rule, q->method,
	    (uint64_t)util_now_ms());
	return p;
}

char *
decide_json(const struct decide_verdict *v)
{
	struct pc_extra x = { v->key[0] != '\0' ? v->key : NULL,
	    v->retry_after, false };

	return pc_body_dup(v->message, &x);
}

const char *
decide_reason(const struct decide_verdict *v)
{
	return v->retry_after != 0 ? "rate limit" : v->message;
}
