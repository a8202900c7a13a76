/*
 * keyhole-net http2_v1: one stream = one request (h2.h).
 *
 * nghttp2 has already applied RFC 9113's rules to the header block (its
 * HTTP messaging checks: pseudo-headers present once and first, names
 * lower-case tokens, no connection-specific fields, values without
 * CR/LF/NUL, content-length agreeing with DATA).  Then, in this order,
 * the first refusal answering on the stream:
 *
 *   the header list over KH_H2_HEADER_LIST_MAX, or more fields than
 *     --max-headers                                   431
 *   authorization: exactly one, "Bearer " + the bridge token, compared in
 *     constant time (Paperclip's case-sensitive form)   401
 *   :method longer than a method; :path not origin-form, or
 *     path_canonicalize refuses it; a query query_is_valid refuses  400/414
 *   decide_head (route, query, media type, announced length, budgets),
 *   the body (at most the rule's limit: 413 at the first byte beyond),
 *   decide_body, decide_forward: exactly as gate.c does for HTTP/1.1.
 *
 * A refused request's remaining body is read and dropped (bounded by the
 * body limit, then the stream is reset), so the gateway's flow control
 * never stalls.  The parent's answer (MSG_RESPONSE, already checked by
 * link.c) goes out as the stream's response: its status, its headers (the
 * allowlist's, and x-paperclip-bridge-outcome on a 409 the parent made
 * for an indeterminate mutation, which Paperclip's gateway passes on),
 * its body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2.h"
#include "log.h"
#include "net.h"
#include "path.h"
#include "util.h"

int h2_frame_seen(nghttp2_session *s, const nghttp2_frame *f, void *ud);

static struct h2_stream *
h2_stream_get(struct h2 *h, int32_t id)
{
	return nghttp2_session_get_stream_user_data(h->s, id);
}

static void
h2_stream_free(struct h2_stream *st)
{
	struct h2 *h = st->h;

	if (st->pending != NULL)
		st->pending->owner = NULL;	/* the parent's answer is dropped */
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	h->nstreams--;
	free(st->arena);
	free(st->body);
	free(st->resp);
	free(st);
}

void
h2_stream_free_all(struct h2 *h)
{
	while (h->streams != NULL)
		h2_stream_free(h->streams);
}

/* ------------------------------------------------------------------ */
/* Answers. */

static ssize_t
h2_resp_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct h2_stream *st = src->ptr;
	size_t n = st->resp_len - st->resp_off;

	(void)s;
	(void)id;
	(void)ud;
	if (n > len)
		n = len;
	memcpy(buf, st->resp + st->resp_off, n);
	st->resp_off += n;
	if (st->resp_off == st->resp_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* The response: status, headers (names lower-case tokens, values
 * forwardable: link.c checked the parent's, the child's own are
 * constants), body copied. */
static void
h2_respond(struct h2_stream *st, int status, const char *const *names,
    const char *const *values, const size_t *vlens, size_t nh,
    const uint8_t *body, size_t blen)
{
	nghttp2_nv nv[1 + KH_FWD_HEADERS_MAX];
	nghttp2_data_provider dp = { .source.ptr = st, .read_callback =
	    h2_resp_read };
	char sbuf[4];
	size_t n = 0;

	if (st->answered)
		return;
	st->answered = true;
	st->answered_ms = util_now_ms();
	if (nh > KH_FWD_HEADERS_MAX)
		nh = KH_FWD_HEADERS_MAX;
	snprintf(sbuf, sizeof(sbuf), "%03d", status);
	nv[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)sbuf, 7, 3,
	    NGHTTP2_NV_FLAG_NONE };
	for (size_t i = 0; i < nh; i++)
		nv[n++] = (nghttp2_nv){ (uint8_t *)names[i],
		    (uint8_t *)values[i], strlen(names[i]), vlens[i],
		    NGHTTP2_NV_FLAG_NONE };
	if (blen > 0) {
		if ((st->resp = malloc(blen)) == NULL) {
			nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE,
			    st->id, NGHTTP2_INTERNAL_ERROR);
			return;
		}
		memcpy(st->resp, body, blen);
		st->resp_len = blen;
	}
	if (nghttp2_submit_response(st->h->s, st->id, nv, n,
	    blen > 0 ? &dp : NULL) != 0)
		nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_INTERNAL_ERROR);
}

/* An answer the child makes itself: JSON, reported to the access log. */
static void
h2_answer_json(struct h2_stream *st, int status, const char *json,
    const char *reason, const char *xname, const char *xvalue)
{
	const char *names[2] = { "content-type", xname };
	const char *values[2] = { "application/json", xvalue };
	size_t vlens[2] = { 16, xvalue ? strlen(xvalue) : 0 };
	size_t jlen = strlen(json);

	st->refused = true;
	h2_respond(st, status, names, values, vlens, xname ? 2 : 1,
	    (const uint8_t *)json, jlen);
	link_send_access(st->h->net, st->peer,
	    st->have_method ? st->method : "-", st->have_path ? st->path : "-",
	    status, reason, st->body_len, jlen);
}

static void
h2_answer_pc(struct h2_stream *st, enum pc_id id, const char *reason)
{
	char json[PC_FIXED_BODY_MAX];

	pc_fixed_body(id, json, sizeof(json));
	h2_answer_json(st, pc_table[id].status, json, reason, NULL, NULL);
}

static void
h2_answer_verdict(struct h2_stream *st, const struct decide_verdict *v)
{
	char *json = decide_json(v);
	char ra[16];

	if (json == NULL) {
		h2_answer_pc(st, PC_OUT_OF_MEMORY, "out of memory");
		return;
	}
	snprintf(ra, sizeof(ra), "%u", v->retry_after);
	h2_answer_json(st, v->status, json, decide_reason(v),
	    v->retry_after ? "retry-after" : NULL, v->retry_after ? ra : NULL);
	free(json);
}

/* The parent's answer (pending_done_fn). */
static void
h2_deliver(struct net *n, struct pending *p, const struct link_answer *a)
{
	struct h2_stream *st = p->owner;

	if (st == NULL || n->h2 == NULL || n->h2->state != H2_SESSION)
		return;			/* the stream (or session) is gone */
	st->pending = NULL;
	h2_respond(st, a->status, a->names, a->values, a->vlens, a->nh,
	    a->body, a->blen);
	h2_pump(n->h2);
}

/* ------------------------------------------------------------------ */
/* The decision. */

static void
h2_describe(const struct h2_stream *st, bool end_stream, struct decide_req *q)
{
	memset(q, 0, sizeof(*q));
	q->method = st->method;
	q->path = st->path;
	q->path_len = st->path_len;
	q->has_query = st->has_query;
	q->query = st->query;
	q->query_len = st->query_len;
	q->peer = st->peer;
	q->hdrs = st->hdrs;
	q->nhdrs = st->nhdrs;
	q->has_body = st->len_known ? st->len > 0 : !end_stream;
	q->len_known = st->len_known;
	q->len = st->len;
	q->body = st->body;
	q->body_len = st->body_len;
}

/* The bridge token: exactly one authorization field, "Bearer " and the
 * token, in constant time. */
static bool
h2_token_ok(const struct h2_stream *st)
{
	const struct decide_hdr *auth = NULL;
	size_t count = 0;
	const struct child_config *cfg = &st->h->net->cfg;

	for (size_t i = 0; i < st->nhdrs; i++)
		if (st->hdrs[i].nlen == 13 &&
		    memcmp(st->hdrs[i].name, "authorization", 13) == 0) {
			auth = &st->hdrs[i];
			count++;
		}
	if (count != 1 || auth->vlen < 7 ||
	    memcmp(auth->value, "Bearer ", 7) != 0)
		return false;
	return util_ct_equal((const uint8_t *)auth->value + 7, auth->vlen - 7,
	    (const uint8_t *)cfg->token, cfg->token_len);
}

/* The header block is complete. */
static void
h2_head(struct h2_stream *st, bool end_stream)
{
	struct decide_req q;
	struct decide_verdict v;

	st->head_done = true;
	if (st->too_big) {
		h2_answer_pc(st, PC_HTTP_FIELDS, "header list too large");
		return;
	}
	if (!h2_token_ok(st)) {
		h2_answer_pc(st, PC_TOKEN, "bad token");
		return;
	}
	if (!st->have_method || !st->have_path || st->path_status != 0) {
		h2_answer_pc(st, pc_http_error(st->path_status ?
		    st->path_status : 400), "bad :path");
		return;
	}
	h2_describe(st, end_stream, &q);
	decide_head(st->h->net, &q, &v);
	st->rule = v.rule;
	st->body_limit = v.body_limit;
	if (v.status != 0)
		h2_answer_verdict(st, &v);
}

/* The request is complete (END_STREAM). */
static void
h2_request(struct h2_stream *st)
{
	struct decide_req q;
	struct decide_verdict v;
	struct pending *p;

	if (st->refused)
		return;
	st->h->nrequests++;
	if (st->body_len > 0 && (strcmp(st->method, "GET") == 0 ||
	    strcmp(st->method, "HEAD") == 0)) {
		h2_answer_pc(st, PC_HTTP_MALFORMED, "body on GET or HEAD");
		return;
	}
	h2_describe(st, true, &q);
	v.rule = st->rule;
	v.body_limit = st->body_limit;
	if (decide_body(st->h->net, &q, &v) != 0) {
		h2_answer_verdict(st, &v);
		return;
	}
	p = decide_forward(st->h->net, &q, st->body, &v);
	st->body = NULL;		/* the frame's now, or freed */
	st->body_cap = 0;
	if (p == NULL) {
		h2_answer_verdict(st, &v);
		return;
	}
	p->done = h2_deliver;
	p->owner = st;
	st->pending = p;
}

/* ------------------------------------------------------------------ */
/* nghttp2 callbacks. */

static int
h2_on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct h2 *h = ud;
	struct h2_stream *st;

	if (f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (h->goaway)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->arena = malloc(KH_H2_HEADER_LIST_MAX)) == NULL) {
		free(st);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;	/* reset */
	}
	st->h = h;
	st->id = f->hd.stream_id;
	st->rule = -1;
	st->started_ms = util_now_ms();
	snprintf(st->peer, sizeof(st->peer), "connect:%d", (int)st->id);
	st->next = h->streams;
	if (h->streams != NULL)
		h->streams->prev = st;
	h->streams = st;
	h->nstreams++;
	nghttp2_session_set_stream_user_data(s, st->id, st);
	return 0;
}

static void
h2_set_path(struct h2_stream *st, const uint8_t *v, size_t len)
{
	const uint8_t *qm = memchr(v, '?', len);
	size_t plen = qm ? (size_t)(qm - v) : len;

	st->have_path = true;
	/* Origin-form only: nghttp2 refuses a :path not starting with '/'
	 * (but "*" for OPTIONS, which path_canonicalize refuses). */
	if (plen == 0 || v[0] != '/') {
		st->path_status = 400;
		return;
	}
	st->path_status = path_canonicalize(v, plen, st->path,
	    sizeof(st->path), &st->path_len);
	if (st->path_status != 0)
		return;
	if (qm != NULL) {
		size_t ql = len - plen - 1;
		if (ql > KH_QUERY_MAX) {
			st->path_status = 414;
			return;
		}
		if (!query_is_valid(qm + 1, ql)) {
			st->path_status = 400;
			return;
		}
		memcpy(st->query, qm + 1, ql);
		st->query[ql] = '\0';
		st->query_len = ql;
		st->has_query = true;
	}
}

static int
h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct h2 *h = ud;
	struct h2_stream *st;

	(void)flags;
	if (f->hd.type != NGHTTP2_HEADERS ||
	    (st = h2_stream_get(h, f->hd.stream_id)) == NULL || st->head_done)
		return 0;		/* trailers: never merged, dropped */
	st->list_size += nlen + vlen + 32;
	if (st->too_big || st->list_size > KH_H2_HEADER_LIST_MAX) {
		st->too_big = true;
		return 0;
	}
	if (nlen > 0 && name[0] == ':') {
		if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
			if (vlen == 0 || vlen > KH_METHOD_MAX) {
				st->path_status = 400;
				return 0;
			}
			memcpy(st->method, value, vlen);
			st->method[vlen] = '\0';
			st->have_method = true;
		} else if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
			h2_set_path(st, value, vlen);
		}
		return 0;		/* :scheme, :authority: not used */
	}
	if (st->nhdrs >= h->net->cfg.max_headers) {
		st->too_big = true;
		return 0;
	}
	/* list_size bounds the arena: nlen + vlen <= the list size. */
	memcpy(st->arena + st->arena_len, name, nlen);
	memcpy(st->arena + st->arena_len + nlen, value, vlen);
	st->hdrs[st->nhdrs++] = (struct decide_hdr){ st->arena +
	    st->arena_len, nlen, st->arena + st->arena_len + nlen, vlen };
	st->arena_len += nlen + vlen;
	if (nlen == 14 && memcmp(name, "content-length", 14) == 0) {
		/* nghttp2 checked it is digits and agrees with the DATA. */
		if (util_parse_u64((const char *)value, 0, UINT64_MAX,
		    &st->len) == 0)
			st->len_known = true;
	}
	(void)s;
	return 0;
}

static int
h2_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
    size_t len, void *ud)
{
	struct h2 *h = ud;
	struct h2_stream *st = h2_stream_get(h, id);

	(void)flags;
	if (st == NULL)
		return 0;
	if (st->refused) {
		/* Dropped; but not forever. */
		st->discarded += len;
		if (st->discarded > st->h->net->max_body)
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id,
			    NGHTTP2_NO_ERROR);
		return 0;
	}
	if (len > st->body_limit - st->body_len ||
	    st->body_len + len > h->net->max_body) {
		struct decide_verdict v;
		memset(&v, 0, sizeof(v));
		v.status = pc_table[PC_HTTP_TOO_LARGE].status;
		pc_message(PC_HTTP_TOO_LARGE, NULL, v.message, sizeof(v.message));
		st->body_len += len;
		h2_answer_verdict(st, &v);
		free(st->body);
		st->body = NULL;
		st->body_len = st->body_cap = 0;
		return 0;
	}
	if (st->body_len + len > st->body_cap) {
		size_t cap = st->body_cap ? st->body_cap : 16384;
		while (cap < st->body_len + len)
			cap *= 2;
		if (cap > st->body_limit)
			cap = (size_t)st->body_limit;
		uint8_t *b = realloc(st->body, cap);
		if (b == NULL) {
			h2_answer_pc(st, PC_OUT_OF_MEMORY, "out of memory");
			return 0;
		}
		st->body = b;
		st->body_cap = cap;
	}
	memcpy(st->body + st->body_len, data, len);
	st->body_len += len;
	return 0;
}

static int
h2_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct h2 *h = ud;
	struct h2_stream *st;
	int rv = h2_frame_seen(s, f, ud);

	if (rv != 0)
		return rv;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	if ((st = h2_stream_get(h, f->hd.stream_id)) == NULL)
		return 0;
	bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
	if (f->hd.type == NGHTTP2_HEADERS && !st->head_done)
		h2_head(st, end);
	if (end && !st->answered && st->pending == NULL)
		h2_request(st);
	return 0;
}

static int
h2_on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	struct h2 *h = ud;
	struct h2_stream *st = h2_stream_get(h, id);

	(void)s;
	if (st == NULL)
		return 0;
	/* Counted, logged once: a gateway resetting thousands of streams
	 * must not crowd the log (the relay's rate limit would drop the line
	 * that says why the session ends). */
	if (code != NGHTTP2_NO_ERROR && st->pending != NULL &&
	    h->nresets++ == 0)
		log_info("connect: stream %d reset by the gateway (%s) while "
		    "its request was upstream (further ones are counted)",
		    (int)id, nghttp2_http2_strerror(code));
	h2_stream_free(st);
	return 0;
}

static int
h2_on_invalid_frame(nghttp2_session *s, const nghttp2_frame *f, int err,
    void *ud)
{
	struct h2 *h = ud;

	(void)s;
	if (h->ninvalid++ == 0)
		log_info("connect: invalid HTTP/2 frame (type %u, stream %d): "
		    "%s (further ones are counted)", (unsigned)f->hd.type,
		    (int)f->hd.stream_id, nghttp2_strerror(err));
	return 0;
}

void
h2_stream_callbacks(nghttp2_session_callbacks *cb)
{
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    h2_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    h2_on_stream_close);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb,
	    h2_on_invalid_frame);
}

/* Deadlines: the whole body within --body-timeout-ms of the headers; an
 * answer taken by the gateway (flow control) within --write-timeout-ms.
 * Either missed: the stream is reset (a request with the parent keeps
 * its place until the parent answers; its answer is dropped). */
void
h2_stream_tick(struct h2 *h, int64_t now)
{
	const struct child_config *cfg = &h->net->cfg;

	for (struct h2_stream *st = h->streams; st != NULL; st = st->next) {
		const char *why = NULL;
		if (!st->answered && st->pending == NULL &&
		    now - st->started_ms > cfg->body_timeout_ms)
			why = "request not complete within --body-timeout-ms";
		else if (st->answered &&
		    now - st->answered_ms > cfg->write_timeout_ms)
			why = "answer not taken within --write-timeout-ms "
			    "(flow-control window never opened)";
		if (why == NULL)
			continue;
		if (h->ntimeouts++ < 8)
			log_info("connect: stream %d: %s: reset", (int)st->id,
			    why);
		nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_CANCEL);
		/* Only once: the next tick finds it answered long ago, and
		 * nghttp2 closes it when the RST_STREAM is sent. */
		st->answered = true;
		st->answered_ms = INT64_MAX / 2;
	}
}
