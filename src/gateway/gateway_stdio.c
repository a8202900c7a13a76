/*
 * keyhole-gateway, http2_v1: the HTTP/2 session on stdin/stdout
 * (src/parse/gateway_h2.c) fed by the event loop, one stream per agent
 * request, and what happens when the session ends.
 *
 *   stdout    the protocol only: the READY line, then the session's bytes.
 *             fd 1 is moved to a private fd and fd 1 becomes a copy of
 *             stderr, so a stray write to stdout can never corrupt the
 *             session.  The session is asked for bytes only while less
 *             than KH_GW_H2_OUT_MAX wait to be written.
 *   stdin     the host's bytes, KH_GW_H2_IN_MAX per turn of the loop.
 *   requests  forwarded headers: accept, content-type, if-match,
 *             if-none-match, x-paperclip-github-capability (Paperclip's
 *             list), each at most once (twice: 400); the body complete
 *             and within PAPERCLIP_BRIDGE_MAX_BODY_BYTES before the stream
 *             opens; a deadline (PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS,
 *             else KH_GW_H2_DEF_TIMEOUT_MS) after which the stream is
 *             cancelled.
 *   answers   the host's, checked (gateway_h2.h); without one: 503
 *             bridge_unavailable when the host never took the request, 502
 *             otherwise, and 409 indeterminate for a mutation whose
 *             HEADERS the host may have acted on (DESIGN invariant 6;
 *             Paperclip's gateway answers 502 there).
 *   the end   the host's GOAWAY (its in-flight streams still answered),
 *             end of stdin, a write error on stdout or a protocol error:
 *             the listener closes, open requests are answered, and the
 *             gateway exits once its answers are written (at most
 *             KH_GW_H2_DRAIN_MS later): 0 after the host's GOAWAY
 *             (NO_ERROR) or SIGTERM, 1 otherwise.  A reconnecting host
 *             starts a new gateway, which may bind the same port.
 *             SIGTERM: no new connections, in-flight requests answered,
 *             then GOAWAY(NO_ERROR) and exit.
 *
 * stderr gets one line when the session ends and nothing while it runs:
 * a channel that merges stderr into stdout (a PTY) would otherwise
 * corrupt the session (spec W15).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "gateway.h"
#include "gateway_h2.h"
#include "gateway_ready.h"
#include "hdr.h"
#include "util.h"

/* One agent request on the session. */
struct gw_h2req {
	struct gw *gw;
	struct gw_conn *conn;		/* NULL once the agent left */
	char method[KH_METHOD_MAX + 1];
	int32_t stream;
	uint64_t held;			/* its body's bytes in the ledger */
	struct event *deadline;
	struct gw_h2req *prev, *next;
};

struct gw_stdio {
	struct gh2 *s;			/* NULL once the session is over */
	int in_fd, out_fd;
	struct bufferevent *in, *out;
	struct gw_h2req *reqs;
	struct event *drain;		/* exit after the session ended */
	struct event *kick;		/* work deferred out of callbacks */
	bool over;
	bool want_close;		/* stopping and idle: GOAWAY, exit */
	bool closing;			/* our GOAWAY queued: exit once written */
	bool host_goaway;
	uint32_t goaway_code;
};

static void gw_stdio_end(struct gw *g, const char *why, int code);

static bool
gw_stdio_out_empty(const struct gw_stdio *h)
{
	return h->out == NULL ||
	    evbuffer_get_length(bufferevent_get_output(h->out)) == 0;
}

/* A stopping gateway whose session output is written ends now. */
static void
gw_stdio_try_exit(struct gw *g)
{
	struct gw_stdio *h = g->h2;

	if ((h->over || h->closing) && g->nconns == 0 && h->reqs == NULL &&
	    gw_stdio_out_empty(h))
		event_base_loopbreak(g->base);
}

/* Hand the session's output to stdout while there is room. */
static void
gw_stdio_flush(struct gw *g)
{
	struct gw_stdio *h = g->h2;
	struct evbuffer *out;

	if (h->s == NULL)
		return;
	out = bufferevent_get_output(h->out);
	while (evbuffer_get_length(out) < KH_GW_H2_OUT_MAX) {
		const uint8_t *p;
		long n = gh2_send(h->s, &p);
		if (n < 0) {
			gw_stdio_end(g, gh2_reason(h->s), 1);
			return;
		}
		if (n == 0)
			break;
		if (evbuffer_add(out, p, (size_t)n) < 0) {
			gw_stdio_end(g, "out of memory", 1);
			return;
		}
	}
	if (gh2_over(h->s))
		gw_stdio_end(g, h->closing ? "stopped: GOAWAY sent to the host" :
		    gh2_reason(h->s), h->host_goaway && h->goaway_code == 0 ?
		    0 : 1);
}

static void
gw_h2req_free(struct gw_h2req *q)
{
	struct gw *g = q->gw;
	struct gw_stdio *h = g->h2;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		h->reqs = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	if (q->conn != NULL)
		q->conn->h2req = NULL;
	gw_ledger_release(g, q->held);
	if (q->deadline != NULL)
		event_free(q->deadline);
	free(q);
	gw_maybe_done(g);
	if (g->h2->over)
		gw_stdio_try_exit(g);
}

/* The request ends without the host's answer: entry id, or 409
 * indeterminate when id allows it (PC_MAYBE_409) and the host may have
 * acted on the request. */
static void
gw_h2req_fail(struct gw_h2req *q, enum pc_id id, bool sent)
{
	bool uncertain = sent && (pc_table[id].flags & PC_MAYBE_409) &&
	    !util_method_safe(q->method);

	if (q->conn != NULL)
		gw_answer_error(q->conn, uncertain ? 409 : pc_table[id].status,
		    pc_table[id].text, uncertain);
	gw_h2req_free(q);
}

static void
gw_h2_answer(void *ctx, const struct gh2_answer *a)
{
	struct gw_h2req *q = ctx;

	if (q->conn != NULL)
		gw_answer(q->conn, a->status, a->names, a->values, a->vlens,
		    a->nh, a->body, a->blen);
	gw_h2req_free(q);
}

static void
gw_h2_fail(void *ctx, enum gh2_fail why, bool sent)
{
	static const enum pc_id ids[] = {
		[GH2_REFUSED] = PC_GW_UNAVAILABLE,
		[GH2_RESET] = PC_GW_STREAM_RESET,
		[GH2_BAD_STATUS] = PC_GW_RESP_STATUS,
		[GH2_BAD_HEADER] = PC_GW_RESP_HEADER,
		[GH2_TOO_LARGE] = PC_GW_BODY_EXCEEDED,
		[GH2_SESSION] = PC_GW_SESSION_LOST,
	};

	gw_h2req_fail(ctx, ids[why], sent);
}

static void
gw_h2_goaway(void *arg, uint32_t code, int32_t last)
{
	struct gw *g = arg;

	(void)last;
	g->h2->host_goaway = true;
	g->h2->goaway_code = code;
	/* The session serves what the host still answers and then ends;
	 * new requests are refused by the gate meanwhile. */
}

static void
gw_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_h2req *q = arg;
	struct gw *g = q->gw;
	bool sent = false;

	(void)fd;
	(void)what;
	if (g->h2->s != NULL)
		sent = gh2_cancel(g->h2->s, q->stream);
	gw_h2req_fail(q, PC_GW_TIMEOUT, sent);
	gw_stdio_flush(g);
}

/* Paperclip's forwarded request headers (sandbox-callback-bridge.js
 * :187-193); the host applies its own list again. */
static const char *const gw_h2_fwd[] = { "accept", "content-type",
	"if-match", "if-none-match", "x-paperclip-github-capability", NULL };

static int
gw_stdio_gate(struct gw_conn *c)
{
	struct gw_stdio *h = c->gw->h2;

	if (h->s == NULL || h->over || h->host_goaway || h->closing)
		return PC_GW_UNAVAILABLE;
	return -1;
}

static void
gw_stdio_submit(struct gw_conn *c)
{
	struct gw *g = c->gw;
	struct gw_stdio *h = g->h2;
	const struct http_req *r = &c->req;
	const char *names[KH_FWD_HEADERS_MAX];
	const char *values[KH_FWD_HEADERS_MAX];
	size_t vlens[KH_FWD_HEADERS_MAX], nh = 0;
	struct gh2_request rq;
	struct gw_h2req *q;
	uint8_t *body = NULL;
	size_t blen = evbuffer_get_length(c->body);
	uint32_t ms = (uint32_t)g->timeout_ms;

	if (gw_stdio_gate(c) >= 0) {
		gw_answer_id(c, PC_GW_UNAVAILABLE);
		return;
	}
	for (size_t i = 0; gw_h2_fwd[i] != NULL; i++) {
		const struct http_field *f = NULL;
		size_t seen = 0;
		for (size_t j = 0; j < r->nfields; j++) {
			const struct http_field *x = &r->fields[j];
			if (x->nlen == strlen(gw_h2_fwd[i]) &&
			    strncasecmp((const char *)x->name, gw_h2_fwd[i],
			    x->nlen) == 0) {
				f = x;
				seen++;
			}
		}
		if (f == NULL)
			continue;
		if (seen > 1 || f->vlen > KH_HVALUE_MAX ||
		    !hdr_value_forwardable((const char *)f->value, f->vlen)) {
			gw_answer_id(c, PC_HEADER_BAD);
			return;
		}
		/* Into c->head, which outlives the submit (nghttp2 copies). */
		names[nh] = gw_h2_fwd[i];
		values[nh] = (const char *)f->value;
		vlens[nh++] = f->vlen;
	}
	if (blen > 0) {
		if ((body = malloc(blen)) == NULL) {
			gw_answer_id(c, PC_GW_OUT_OF_MEMORY);
			return;
		}
		evbuffer_remove(c->body, body, blen);
	}
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->deadline = evtimer_new(g->base, gw_deadline_cb, q)) == NULL) {
		free(q);
		free(body);
		gw_answer_id(c, PC_GW_OUT_OF_MEMORY);
		return;
	}
	q->gw = g;
	q->conn = c;
	/* The body lives on in the session until the stream ends: so does
	 * its reservation. */
	q->held = c->held;
	c->held = 0;
	snprintf(q->method, sizeof(q->method), "%s", r->method);
	q->next = h->reqs;
	if (h->reqs != NULL)
		h->reqs->prev = q;
	h->reqs = q;
	c->h2req = q;
	memset(&rq, 0, sizeof(rq));
	rq.method = r->method;
	rq.path = r->path;
	rq.path_len = r->path_len;
	rq.query = r->query;
	rq.query_len = r->query_len;
	rq.token = g->token;
	rq.token_len = g->token_len;
	rq.names = names;
	rq.values = values;
	rq.vlens = vlens;
	rq.nh = nh;
	rq.body = body;			/* the session's from here on */
	rq.blen = blen;
	q->stream = gh2_submit(h->s, &rq, q);
	if (q->stream < 0) {
		gw_h2req_fail(q, PC_GW_UNAVAILABLE, false);
		return;
	}
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(q->deadline, &tv);
	gw_stdio_flush(g);
}

static void
gw_stdio_conn_gone(struct gw_conn *c)
{
	/* The stream goes on (as Paperclip's does): its answer is
	 * dropped, and a mutation is not cut off halfway. */
	if (c->h2req != NULL)
		c->h2req->conn = NULL;
	c->h2req = NULL;
}

static bool
gw_stdio_idle(struct gw *g)
{
	return g->h2->reqs == NULL;
}

/* Stopping (SIGTERM) with nothing in flight: GOAWAY(NO_ERROR), then exit
 * once it is written; after the session ended: exit when written.  Run
 * from the loop (kick), never inside a session callback, where nghttp2
 * may not be called again. */
static void
gw_stdio_finish(struct gw *g)
{
	g->h2->want_close = true;
	event_active(g->h2->kick, EV_TIMEOUT, 1);
}

static void
gw_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw *g = arg;
	struct gw_stdio *h = g->h2;

	(void)fd;
	(void)what;
	if (h->want_close && h->s != NULL && !h->over && !h->closing) {
		struct timeval tv = { KH_GW_H2_DRAIN_MS / 1000,
		    (KH_GW_H2_DRAIN_MS % 1000) * 1000 };
		h->closing = true;
		gh2_shutdown(h->s);
		evtimer_add(h->drain, &tv);
	}
	gw_stdio_flush(g);
	gw_stdio_try_exit(g);
}

const struct gw_ops gw_stdio_ops = {
	gw_stdio_gate, gw_stdio_submit, gw_stdio_conn_gone, gw_stdio_idle,
	gw_stdio_finish,
};

static void
gw_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw *g = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(g->base);
}

/* The session is over: say why once, answer what is open, stop
 * listening, and exit when the answers are written. */
static void
gw_stdio_end(struct gw *g, const char *why, int code)
{
	struct gw_stdio *h = g->h2;
	struct timeval tv = { KH_GW_H2_DRAIN_MS / 1000,
	    (KH_GW_H2_DRAIN_MS % 1000) * 1000 };

	if (h->over)
		return;
	h->over = true;
	if (!h->closing)
		g->exit_code = code;
	fprintf(stderr, "keyhole-gateway: http2_v1 session ended: %s\n",
	    why != NULL && *why != '\0' ? why : "the host closed it");
	/* gh2_free fails every open request through gw_h2_fail. */
	struct gh2 *s = h->s;
	h->s = NULL;
	gh2_free(s);
	if (h->in != NULL)
		bufferevent_disable(h->in, EV_READ);
	evtimer_add(h->drain, &tv);
	gw_stop(g);
	gw_stdio_try_exit(g);
}

static void
gw_in_read_cb(struct bufferevent *bev, void *arg)
{
	struct gw *g = arg;
	struct gw_stdio *h = g->h2;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;

	while (h->s != NULL && (len = evbuffer_get_length(in)) > 0) {
		if (len > KH_GW_H2_IN_MAX)
			len = KH_GW_H2_IN_MAX;
		const uint8_t *p = evbuffer_pullup(in, (ssize_t)len);
		if (p == NULL) {
			gw_stdio_end(g, "out of memory", 1);
			return;
		}
		int rc = gh2_recv(h->s, p, len);
		evbuffer_drain(in, len);
		if (rc < 0) {
			gw_stdio_end(g, gh2_reason(h->s), 1);
			return;
		}
		gw_stdio_flush(g);
	}
}

static void
gw_in_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct gw *g = arg;

	(void)bev;
	if (g->h2->s == NULL)
		return;
	if (what & BEV_EVENT_EOF)
		gw_stdio_end(g, g->h2->host_goaway ? gh2_reason(g->h2->s) :
		    "end of stdin: the host closed the channel",
		    g->h2->host_goaway && g->h2->goaway_code == 0 ? 0 : 1);
	else if (what & BEV_EVENT_ERROR)
		gw_stdio_end(g, strerror(EVUTIL_SOCKET_ERROR()), 1);
}

static void
gw_out_write_cb(struct bufferevent *bev, void *arg)
{
	struct gw *g = arg;

	(void)bev;
	gw_stdio_flush(g);
	if (g->h2->over || g->h2->closing)
		gw_stdio_try_exit(g);
}

static void
gw_out_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct gw *g = arg;
	char why[128];

	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		snprintf(why, sizeof(why), "stdout: %s",
		    (what & BEV_EVENT_ERROR) ? strerror(EVUTIL_SOCKET_ERROR()) :
		    "closed");
		/* Nothing more can be written: drop what waits. */
		evbuffer_drain(bufferevent_get_output(bev),
		    evbuffer_get_length(bufferevent_get_output(bev)));
		bufferevent_disable(bev, EV_WRITE);
		gw_stdio_end(g, why, 1);
	}
}

int
gw_stdio_open(struct gw *g)
{
	struct gw_stdio *h = calloc(1, sizeof(*h));
	const struct gh2_limits lim = { g->max_body };
	const struct gh2_callbacks cb = { gw_h2_answer, gw_h2_fail,
	    gw_h2_goaway };

	if (h == NULL)
		return -1;
	g->h2 = h;
	/* The protocol's own stdout, and fd 1 pointed at stderr: nothing
	 * else in this process can write into the session. */
	h->in_fd = 0;
	h->out_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
	if (h->out_fd < 0 || dup2(2, 1) < 0) {
		fprintf(stderr, "keyhole-gateway: cannot take stdout: %s\n",
		    strerror(errno));
		return -1;
	}
	for (int fd = 0; fd <= 1; fd++) {
		struct stat st;
		/* epoll takes pipes, sockets and terminals, not files. */
		if (fstat(fd == 0 ? h->in_fd : h->out_fd, &st) < 0 ||
		    S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
			fprintf(stderr, "keyhole-gateway: http2_v1 needs %s to be "
			    "the host's channel (a pipe or a socket)\n",
			    fd == 0 ? "stdin" : "stdout");
			return -1;
		}
	}
	if (evutil_make_socket_nonblocking(h->in_fd) < 0 ||
	    evutil_make_socket_nonblocking(h->out_fd) < 0) {
		fprintf(stderr, "keyhole-gateway: stdin/stdout: %s\n",
		    strerror(errno));
		return -1;
	}
	h->s = gh2_new(&lim, &cb, g);
	h->in = bufferevent_socket_new(g->base, h->in_fd, 0);
	h->out = bufferevent_socket_new(g->base, h->out_fd, 0);
	h->drain = evtimer_new(g->base, gw_drain_cb, g);
	h->kick = evtimer_new(g->base, gw_kick_cb, g);
	if (h->s == NULL || h->in == NULL || h->out == NULL || h->drain == NULL ||
	    h->kick == NULL) {
		fprintf(stderr, "keyhole-gateway: out of memory\n");
		return -1;
	}
	bufferevent_setcb(h->in, gw_in_read_cb, NULL, gw_in_event_cb, g);
	bufferevent_setcb(h->out, NULL, gw_out_write_cb, gw_out_event_cb, g);
	/* Read at most KH_GW_H2_IN_MAX ahead; write callback when half the
	 * output room is free again. */
	bufferevent_setwatermark(h->in, EV_READ, 0, KH_GW_H2_IN_MAX);
	bufferevent_setwatermark(h->out, EV_WRITE, KH_GW_H2_OUT_MAX / 2, 0);
	return 0;
}

void
gw_stdio_start(struct gw *g)
{
	struct gw_stdio *h = g->h2;
	char line[GW_READY_LINE_MAX];
	size_t n = gw_ready_line(g->nonce, g->nonce_len, line, sizeof(line));

	/* gateway_main.c checked the nonce: n > 0. */
	evbuffer_add(bufferevent_get_output(h->out), line, n);
	bufferevent_enable(h->out, EV_WRITE);
	bufferevent_enable(h->in, EV_READ);
	gw_stdio_flush(g);
}
