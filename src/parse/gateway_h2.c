/* keyhole-gateway's HTTP/2 client session: see gateway_h2.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "gateway_h2.h"
#include "hdr.h"
#include "paperclip.h"

/* What Paperclip's gateway sends as :authority (the host ignores it). */
#define GH2_AUTHORITY	"bridge.internal:80"
#define GH2_BEARER	"Bearer "

struct gh2_stream {
	struct gh2 *s;
	int32_t id;
	void *ctx;
	bool sent;		/* HEADERS went out */
	bool done;		/* answered, failed or cancelled: no callback */
	bool trailers;		/* a final status came: later fields are
				   trailers, ignored */
	int status;		/* 0 until a final :status */
	enum gh2_fail bad;	/* why the answer is refused, when refused */
	bool refused;
	size_t hbytes;		/* header list bytes of this HEADERS */
	size_t nh;
	char *names[KH_FWD_HEADERS_MAX];
	char *values[KH_FWD_HEADERS_MAX];
	size_t vlens[KH_FWD_HEADERS_MAX];
	bool indeterminate;
	uint8_t *rbody;		/* the answer's body */
	size_t rlen, rcap;
	uint8_t *body;		/* the request's body, sent from boff */
	size_t blen, boff;
	struct gh2_stream *prev, *next;
};

struct gh2 {
	nghttp2_session *ng;
	struct gh2_limits lim;
	struct gh2_callbacks cb;
	void *arg;
	struct gh2_stream *streams;
	size_t nstreams;
	bool fatal;
	bool goaway;		/* the host's GOAWAY came */
	char reason[224];
};

/* nghttp2's words for a protocol error it saw in the host's bytes: the
 * first one is why the session ends. */
static int
gh2_on_error(nghttp2_session *ng, int code, const char *msg, size_t len,
    void *arg)
{
	struct gh2 *s = arg;

	(void)ng;
	(void)code;
	if (s->reason[0] == '\0')
		snprintf(s->reason, sizeof(s->reason), "the host broke the "
		    "HTTP/2 protocol: %.*s", (int)(len > 160 ? 160 : len), msg);
	return 0;
}

/* The session's own GOAWAY (nghttp2 ends it after a protocol error). */
static void
gh2_goaway_sent(struct gh2 *s, const nghttp2_frame *frame)
{
	if (s->reason[0] == '\0')
		snprintf(s->reason, sizeof(s->reason), "the gateway sent GOAWAY "
		    "(%s)", nghttp2_http2_strerror(frame->goaway.error_code));
}

static void
gh2_headers_clear(struct gh2_stream *st)
{
	for (size_t i = 0; i < st->nh; i++) {
		free(st->names[i]);
		free(st->values[i]);
	}
	st->nh = 0;
	st->hbytes = 0;
	st->indeterminate = false;
}

static void
gh2_stream_free(struct gh2_stream *st)
{
	struct gh2 *s = st->s;

	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	s->nstreams--;
	gh2_headers_clear(st);
	free(st->rbody);
	free(st->body);
	free(st);
}

static struct gh2_stream *
gh2_find(struct gh2 *s, int32_t id)
{
	for (struct gh2_stream *st = s->streams; st != NULL; st = st->next)
		if (st->id == id)
			return st;
	return NULL;
}

static void
gh2_fail_stream(struct gh2_stream *st, enum gh2_fail why)
{
	if (st->done)
		return;
	st->done = true;
	/* A request the host never received cannot have taken effect. */
	if (!st->sent)
		why = GH2_REFUSED;
	st->s->cb.fail(st->ctx, why, st->sent);
}

/* The answer is refused (bad status, field, size): the stream is reset
 * so the host stops sending, and the request fails. */
static void
gh2_refuse(struct gh2_stream *st, enum gh2_fail why)
{
	if (st->done)
		return;
	(void)nghttp2_submit_rst_stream(st->s->ng, NGHTTP2_FLAG_NONE, st->id,
	    NGHTTP2_CANCEL);
	gh2_fail_stream(st, why);
}

static void
gh2_deliver(struct gh2_stream *st)
{
	struct gh2_answer a;

	if (st->done)
		return;
	if (st->status == 0) {
		gh2_refuse(st, GH2_BAD_STATUS);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.indeterminate = st->indeterminate;
	a.status = st->indeterminate ? 409 : st->status;
	a.nh = st->nh;
	for (size_t i = 0; i < st->nh; i++) {
		a.names[i] = st->names[i];
		a.values[i] = st->values[i];
		a.vlens[i] = st->vlens[i];
	}
	a.body = st->rbody;
	a.blen = st->rlen;
	st->done = true;
	st->s->cb.answer(st->ctx, &a);
}

/* Three ASCII digits, or -1. */
static int
gh2_status(const uint8_t *v, size_t len)
{
	if (len != 3)
		return -1;
	for (size_t i = 0; i < 3; i++)
		if (v[i] < '0' || v[i] > '9')
			return -1;
	return (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
}

static int
gh2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame,
    void *arg)
{
	struct gh2_stream *st;

	(void)arg;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st == NULL || st->done)
		return 0;
	if (st->status != 0)
		st->trailers = true;
	else
		gh2_headers_clear(st);	/* after a 1xx: a new header list */
	return 0;
}

static int
gh2_on_header(nghttp2_session *ng, const nghttp2_frame *frame,
    const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen,
    uint8_t flags, void *arg)
{
	struct gh2_stream *st;

	(void)flags;
	(void)arg;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st == NULL || st->done || st->trailers)
		return 0;
	/* RFC 9113 6.5.2's size of a field. */
	st->hbytes += nlen + vlen + 32;
	if (st->hbytes > KH_GW_H2_HEADER_LIST_MAX) {
		gh2_refuse(st, GH2_BAD_HEADER);
		return 0;
	}
	if (nlen == 7 && memcmp(name, ":status", 7) == 0) {
		int code = gh2_status(value, vlen);
		if (code >= 100 && code < 200)
			return 0;	/* informational: skipped */
		if (code < 200 || code > 599) {
			gh2_refuse(st, GH2_BAD_STATUS);
			return 0;
		}
		st->status = code;
		return 0;
	}
	if (nlen == 14 && memcmp(name, "content-length", 14) == 0)
		return 0;		/* the gateway frames its own answer */
	if (!hdr_lower_token((const char *)name, nlen) ||
	    !hdr_value_forwardable((const char *)value, vlen) ||
	    st->nh == KH_FWD_HEADERS_MAX) {
		gh2_refuse(st, GH2_BAD_HEADER);
		return 0;
	}
	char *n = malloc(nlen + 1), *v = malloc(vlen + 1);
	if (n == NULL || v == NULL) {
		free(n);
		free(v);
		gh2_refuse(st, GH2_SESSION);
		return 0;
	}
	memcpy(n, name, nlen);
	n[nlen] = '\0';
	memcpy(v, value, vlen);
	v[vlen] = '\0';
	if (strcmp(n, PC_OUTCOME_HEADER) == 0 && strcmp(v, PC_OUTCOME_VALUE) == 0)
		st->indeterminate = true;
	st->names[st->nh] = n;
	st->values[st->nh] = v;
	st->vlens[st->nh++] = vlen;
	return 0;
}

static int
gh2_on_data(nghttp2_session *ng, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct gh2_stream *st = nghttp2_session_get_stream_user_data(ng, id);

	(void)flags;
	(void)arg;
	if (st == NULL || st->done || len == 0)
		return 0;
	if (len > st->s->lim.max_body - st->rlen) {
		gh2_refuse(st, GH2_TOO_LARGE);
		return 0;
	}
	if (st->rlen + len > st->rcap) {
		size_t cap = st->rcap ? st->rcap : 4096;
		while (cap < st->rlen + len)
			cap *= 2;
		if (cap > st->s->lim.max_body)
			cap = (size_t)st->s->lim.max_body;
		uint8_t *p = realloc(st->rbody, cap);
		if (p == NULL) {
			gh2_refuse(st, GH2_SESSION);
			return 0;
		}
		st->rbody = p;
		st->rcap = cap;
	}
	memcpy(st->rbody + st->rlen, data, len);
	st->rlen += len;
	return 0;
}

static int
gh2_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct gh2 *s = arg;
	struct gh2_stream *st;

	if (frame->hd.type == NGHTTP2_GOAWAY) {
		s->goaway = true;
		snprintf(s->reason, sizeof(s->reason), "host sent GOAWAY "
		    "(errorCode=%u, lastStreamId=%d)", frame->goaway.error_code,
		    frame->goaway.last_stream_id);
		if (s->cb.goaway != NULL)
			s->cb.goaway(s->arg, frame->goaway.error_code,
			    frame->goaway.last_stream_id);
		return 0;
	}
	if ((frame->hd.type != NGHTTP2_HEADERS &&
	    frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st != NULL)
		gh2_deliver(st);
	return 0;
}

static int
gh2_on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct gh2_stream *st;

	if (frame->hd.type == NGHTTP2_GOAWAY)
		gh2_goaway_sent(arg, frame);
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st != NULL)
		st->sent = true;
	return 0;
}

/* A request's HEADERS that never went out (GOAWAY came, or it was
 * cancelled while queued): nghttp2 opened no stream for it. */
static int
gh2_on_frame_not_send(nghttp2_session *ng, const nghttp2_frame *frame,
    int error, void *arg)
{
	struct gh2_stream *st;

	(void)error;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	st = gh2_find(arg, frame->hd.stream_id);
	if (st == NULL || st->sent)
		return 0;
	gh2_fail_stream(st, GH2_REFUSED);
	/* A stream nghttp2 opened before the frame failed is closed next,
	 * and its close callback frees st; otherwise nothing else will. */
	if (nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id) ==
	    NULL)
		gh2_stream_free(st);
	return 0;
}

static int
gh2_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error,
    void *arg)
{
	struct gh2_stream *st = nghttp2_session_get_stream_user_data(ng, id);

	(void)arg;
	if (st == NULL)
		return 0;
	/* REFUSED_STREAM: the host did not process it (RFC 9113 8.7). */
	gh2_fail_stream(st, error == NGHTTP2_REFUSED_STREAM ? GH2_REFUSED :
	    GH2_RESET);
	gh2_stream_free(st);
	return 0;
}

static ssize_t
gh2_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct gh2_stream *st = src->ptr;
	size_t n = st->blen - st->boff;

	(void)ng;
	(void)id;
	(void)arg;
	if (n > len)
		n = len;
	memcpy(buf, st->body + st->boff, n);
	st->boff += n;
	if (st->boff == st->blen)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

struct gh2 *
gh2_new(const struct gh2_limits *lim, const struct gh2_callbacks *cb,
    void *arg)
{
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	struct gh2 *s = calloc(1, sizeof(*s));
	/* No push, no stream opened by the host, the header list bounded;
	 * windows and frame sizes stay at the defaults (as Node's client). */
	const nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0 },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
		    KH_GW_H2_HEADER_LIST_MAX },
	};
	int rc = -1;

	if (s == NULL || nghttp2_session_callbacks_new(&cbs) != 0 ||
	    nghttp2_option_new(&opt) != 0)
		goto out;
	s->lim = *lim;
	s->cb = *cb;
	s->arg = arg;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
	    gh2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, gh2_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
	    gh2_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs,
	    gh2_on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs,
	    gh2_on_frame_send);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs,
	    gh2_on_frame_not_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
	    gh2_on_stream_close);
	nghttp2_session_callbacks_set_error_callback2(cbs, gh2_on_error);
	/* The host's abuse, bounded: SETTINGS entries per frame, queued
	 * ACKs (PING/SETTINGS) while the host does not read ours,
	 * CONTINUATION frames per header block (CVE-2024-28182). */
	nghttp2_option_set_max_settings(opt, KH_GW_H2_MAX_SETTINGS);
	nghttp2_option_set_max_outbound_ack(opt, KH_GW_H2_MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_continuations(opt, KH_GW_H2_MAX_CONTINUATIONS);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt,
	    KH_GW_H2_HPACK_TABLE_MAX);
	if (nghttp2_session_client_new2(&s->ng, cbs, s, opt) != 0) {
		s->ng = NULL;
		goto out;
	}
	if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv,
	    sizeof(iv) / sizeof(iv[0])) != 0)
		goto out;
	rc = 0;
out:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rc < 0 && s != NULL) {
		nghttp2_session_del(s->ng);
		free(s);
		s = NULL;
	}
	return s;
}

void
gh2_free(struct gh2 *s)
{
	if (s == NULL)
		return;
	while (s->streams != NULL) {
		gh2_fail_stream(s->streams, GH2_SESSION);
		gh2_stream_free(s->streams);
	}
	nghttp2_session_del(s->ng);
	free(s);
}

#define GH2_NV(n, v, vl) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, \
	(vl), NGHTTP2_NV_FLAG_NONE }

int32_t
gh2_submit(struct gh2 *s, const struct gh2_request *rq, void *ctx)
{
	nghttp2_nv nv[5 + KH_FWD_HEADERS_MAX];
	nghttp2_data_provider prd;
	struct gh2_stream *st;
	size_t n = 0, plen = rq->path_len + (rq->query_len ? 1 + rq->query_len : 0);
	char *path = NULL, *auth = NULL;
	int32_t id = -1;

	if (s->fatal || s->goaway || rq->nh > KH_FWD_HEADERS_MAX ||
	    (st = calloc(1, sizeof(*st))) == NULL) {
		free(rq->body);
		return -1;
	}
	st->s = s;
	st->ctx = ctx;
	st->body = rq->body;
	st->blen = rq->blen;
	path = malloc(plen + 1);
	auth = malloc(sizeof(GH2_BEARER) + rq->token_len);
	if (path == NULL || auth == NULL)
		goto out;
	/* :path as Paperclip's gateway writes it: pathname + search (an
	 * empty query is no "?"). */
	memcpy(path, rq->path, rq->path_len);
	if (rq->query_len) {
		path[rq->path_len] = '?';
		memcpy(path + rq->path_len + 1, rq->query, rq->query_len);
	}
	memcpy(auth, GH2_BEARER, sizeof(GH2_BEARER) - 1);
	memcpy(auth + sizeof(GH2_BEARER) - 1, rq->token, rq->token_len);
	nv[n++] = (nghttp2_nv)GH2_NV(":method", rq->method, strlen(rq->method));
	nv[n++] = (nghttp2_nv)GH2_NV(":scheme", "http", 4);
	nv[n++] = (nghttp2_nv)GH2_NV(":authority", GH2_AUTHORITY,
	    sizeof(GH2_AUTHORITY) - 1);
	nv[n++] = (nghttp2_nv)GH2_NV(":path", path, plen);
	nv[n++] = (nghttp2_nv)GH2_NV("authorization", auth,
	    sizeof(GH2_BEARER) - 1 + rq->token_len);
	for (size_t i = 0; i < rq->nh; i++)
		nv[n++] = (nghttp2_nv){ (uint8_t *)rq->names[i],
		    (uint8_t *)rq->values[i], strlen(rq->names[i]), rq->vlens[i],
		    NGHTTP2_NV_FLAG_NONE };
	prd.source.ptr = st;
	prd.read_callback = gh2_read_body;
	/* nghttp2 copies the fields; the body is read from st. */
	id = nghttp2_submit_request(s->ng, NULL, nv, n, rq->blen ? &prd : NULL,
	    st);
out:
	/* The token's copy is wiped: it lives in the gateway's one copy. */
	if (auth != NULL)
		explicit_bzero(auth, sizeof(GH2_BEARER) - 1 + rq->token_len);
	free(auth);
	free(path);
	if (id <= 0) {
		free(st->body);
		free(st);
		return -1;
	}
	st->id = id;
	st->next = s->streams;
	if (s->streams != NULL)
		s->streams->prev = st;
	s->streams = st;
	s->nstreams++;
	return id;
}

bool
gh2_cancel(struct gh2 *s, int32_t id)
{
	struct gh2_stream *st = gh2_find(s, id);

	if (st == NULL || st->done)
		return false;
	st->done = true;
	/* Queued or open: nghttp2 drops a queued request (not-send
	 * callback) or resets the stream (close callback); both free st. */
	(void)nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, id,
	    NGHTTP2_CANCEL);
	return st->sent;
}

int
gh2_recv(struct gh2 *s, const uint8_t *in, size_t len)
{
	ssize_t n;

	if (s->fatal)
		return -1;
	n = nghttp2_session_mem_recv(s->ng, in, len);
	if (n < 0) {
		s->fatal = true;
		snprintf(s->reason, sizeof(s->reason), "the host's bytes: %s",
		    nghttp2_strerror((int)n));
		return -1;
	}
	return 0;
}

long
gh2_send(struct gh2 *s, const uint8_t **out)
{
	ssize_t n;

	if (s->fatal)
		return -1;
	n = nghttp2_session_mem_send(s->ng, out);
	if (n < 0) {
		s->fatal = true;
		snprintf(s->reason, sizeof(s->reason), "HTTP/2 session error: "
		    "%s", nghttp2_strerror((int)n));
		return -1;
	}
	return (long)n;
}

void
gh2_shutdown(struct gh2 *s)
{
	if (!s->fatal)
		(void)nghttp2_session_terminate_session(s->ng,
		    NGHTTP2_NO_ERROR);
}

bool
gh2_over(const struct gh2 *s)
{
	return s->fatal || (!nghttp2_session_want_read(s->ng) &&
	    !nghttp2_session_want_write(s->ng));
}

size_t
gh2_open(const struct gh2 *s)
{
	size_t n = 0;

	for (const struct gh2_stream *st = s->streams; st != NULL; st = st->next)
		if (!st->done)
			n++;
	return n;
}

const char *
gh2_reason(const struct gh2 *s)
{
	return s->reason;
}
