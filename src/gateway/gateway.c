/*
 * keyhole-gateway: listener and connections (see gateway.h; the
 * environment is read in gateway_main.c).
 *
 * Per request, in Paperclip's order: strict HTTP/1.1 parse (keyhole's own
 * parser: smuggling shapes, dot segments, bad framing → 400 and close);
 * bridge token, constant time → 401; the transport's own refusals
 * (queue_v1: queue depth → 503, a body that is not JSON → 415; http2_v1:
 * the session is gone → 503); the body (over
 * PAPERCLIP_BRIDGE_MAX_BODY_BYTES → 413); then the transport: a request
 * file, or a stream.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "gateway.h"
#include "http_write.h"
#include "util.h"

static void gw_conn_free(struct gw_conn *c);

static void
gw_arm(struct gw_conn *c, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(c->timer, &tv);
}

void
gw_answer(struct gw_conn *c, int status, const char *const *names,
    const char *const *values, const size_t *vlens, size_t n,
    const uint8_t *body, size_t blen)
{
	unsigned flags = 0;

	bufferevent_disable(c->bev, EV_READ);
	if (strcmp(c->req.method, "HEAD") == 0)
		flags |= HTTP_W_HEAD;
	if (c->close_after || c->gw->stopping)
		flags |= HTTP_W_CLOSE;
	else if (c->req.minor == 0)
		flags |= HTTP_W_KEEP_ALIVE;
	http_write_response(bufferevent_get_output(c->bev), status, names,
	    values, vlens, n, body, blen, flags);
	c->phase = GW_WRITING;
	c->wait = NULL;
	gw_arm(c, KH_GW_IDLE_TIMEOUT_MS);
}

/* {"error": message}, as Paperclip's writeJsonResponse (paperclip.h's
 * builder); indeterminate adds its outcome fields and header. */
void
gw_answer_error(struct gw_conn *c, int status, const char *message,
    bool indeterminate)
{
	const char *names[2] = { "content-type", PC_OUTCOME_HEADER };
	const char *values[2] = { "application/json", PC_OUTCOME_VALUE };
	size_t vlens[2] = { 16, sizeof(PC_OUTCOME_VALUE) - 1 };
	struct pc_extra x = { NULL, 0, indeterminate };
	char json[PC_FIXED_BODY_MAX];
	size_t n = pc_body(json, sizeof(json), message, &x);

	gw_answer(c, status, names, values, vlens, indeterminate ? 2 : 1,
	    (const uint8_t *)json, n);
}

/* An answer of the contract, as it is. */
void
gw_answer_id(struct gw_conn *c, enum pc_id id)
{
	gw_answer_error(c, pc_table[id].status, pc_table[id].text, false);
}

/* The request's bytes can no longer delimit the next one: answer, close. */
static void
gw_fail(struct gw_conn *c, enum pc_id id)
{
	c->close_after = true;
	gw_answer_id(c, id);
}

/*
 * The process's body ledger, as Paperclip's gateway keeps one
 * (sandbox-callback-bridge.js gen:148-217): request bodies held at once,
 * read from agents or waiting for their answer, at most
 * KH_GW_LEDGER_BODIES × PAPERCLIP_BRIDGE_MAX_BODY_BYTES; beyond, 503.
 * A connection's reservation is released when its request is done with
 * its body (gw_release) or handed to a transport (http2_v1 keeps it until
 * the stream ends: gw_ledger_release).
 */
static bool
gw_reserve(struct gw_conn *c, uint64_t n)
{
	struct gw *g = c->gw;

	if (n > g->body_ceiling - g->body_held)
		return false;
	g->body_held += n;
	c->held += n;
	return true;
}

void
gw_ledger_release(struct gw *g, uint64_t n)
{
	g->body_held -= n < g->body_held ? n : g->body_held;
}

static void
gw_release(struct gw_conn *c)
{
	gw_ledger_release(c->gw, c->held);
	c->held = 0;
}

static bool
gw_token_ok(const struct gw_conn *c)
{
	return http_req_bearer(&c->req, c->gw->token, c->gw->token_len);
}

static void
gw_submit(struct gw_conn *c)
{
	bufferevent_disable(c->bev, EV_READ);
	c->phase = GW_WAIT;
	evtimer_del(c->timer);
	c->gw->ops->submit(c);
}

/* After the head: Paperclip's checks, in its order. */
static bool
gw_gate(struct gw_conn *c)
{
	const struct http_req *r = &c->req;
	int refuse = -1;

	/* An early answer closes a connection whose body was announced but
	 * not read: its bytes must never be taken for the next request. */
	if (!gw_token_ok(c))
		refuse = PC_TOKEN;
	else
		refuse = c->gw->ops->gate(c);
	if (refuse >= 0) {
		if (r->body != HTTP_BODY_NONE)
			c->close_after = true;
		gw_answer_id(c, (enum pc_id)refuse);
		return false;
	}
	if (r->body == HTTP_BODY_LENGTH && r->content_length > c->gw->max_body) {
		gw_fail(c, PC_GW_BODY_LIMIT);
		return false;
	}
	return true;
}

/* The answer to what the parser or a deadline refused: the child's, but
 * for 413, Paperclip's gateway wording. */
static enum pc_id
gw_http_error(int status)
{
	return status == 413 ? PC_GW_BODY_LIMIT : pc_http_error(status);
}

static bool
gw_read_head(struct gw_conn *c, struct evbuffer *in)
{
	const struct http_limits *lim = &c->gw->lim;
	size_t len = evbuffer_get_length(in), hl = 0;
	size_t take = len < lim->max_head ? len : lim->max_head;
	int r;

	if (len == 0)
		return false;
	if (c->phase == GW_IDLE) {
		c->phase = GW_HEAD;
		gw_arm(c, KH_GW_HEAD_TIMEOUT_MS);
	}
	const uint8_t *p = evbuffer_pullup(in, (ssize_t)take);
	r = http_head_end_from(p, take, c->head_scanned ? c->head_scanned - 1 : 0,
	    lim, &hl);
	if (r == HTTP_NEED_MORE) {
		c->head_scanned = take;
		if (take >= lim->max_head)
			gw_fail(c, PC_HTTP_FIELDS);
		return false;
	}
	c->head_scanned = 0;
	if (r != HTTP_OK) {
		gw_fail(c, gw_http_error(r));
		return false;
	}
	free(c->head);
	c->head = malloc(hl);
	if (c->head == NULL) {
		gw_fail(c, PC_GW_OUT_OF_MEMORY);
		return false;
	}
	evbuffer_remove(in, c->head, hl);
	memset(&c->req, 0, sizeof(c->req));
	r = http_head_parse(c->head, hl, lim, &c->req);
	if (r != HTTP_OK) {
		gw_fail(c, gw_http_error(r));
		return false;
	}
	if (!c->req.keep_alive)
		c->close_after = true;
	if (!gw_gate(c))
		return false;
	evbuffer_drain(c->body, evbuffer_get_length(c->body));
	if (c->req.body == HTTP_BODY_NONE ||
	    (c->req.body == HTTP_BODY_LENGTH && c->req.content_length == 0)) {
		gw_submit(c);
		return false;
	}
	if (c->req.body == HTTP_BODY_LENGTH) {
		/* The whole announced body is reserved before a byte of it
		 * is read. */
		if (!gw_reserve(c, c->req.content_length)) {
			gw_fail(c, PC_GW_LEDGER);
			return false;
		}
		c->body_left = c->req.content_length;
	} else {
		http_chunked_init(&c->chunk, lim);
	}
	if (c->req.expect_continue)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "HTTP/1.1 100 Continue\r\n\r\n");
	c->phase = GW_BODY;
	gw_arm(c, KH_GW_BODY_TIMEOUT_MS);
	return true;
}

static bool
gw_read_body(struct gw_conn *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);

	if (len == 0)
		return false;
	if (c->req.body == HTTP_BODY_LENGTH) {
		size_t take = len < c->body_left ? len : (size_t)c->body_left;
		evbuffer_remove_buffer(in, c->body, take);
		c->body_left -= take;
		if (c->body_left == 0)
			gw_submit(c);
		return false;
	}
	for (;;) {
		size_t avail = evbuffer_get_length(in), used = 0, dlen = 0;
		const uint8_t *data = NULL;
		if (avail == 0)
			return false;
		const uint8_t *p = evbuffer_pullup(in, -1);
		int r = http_chunked_feed(&c->chunk, p, avail, &used, &data, &dlen);
		if (r != HTTP_OK && r != HTTP_NEED_MORE) {
			gw_fail(c, gw_http_error(r));
			return false;
		}
		if (dlen > 0 && !gw_reserve(c, dlen)) {
			gw_fail(c, PC_GW_LEDGER);
			return false;
		}
		if (dlen > 0)
			evbuffer_add(c->body, data, dlen);
		evbuffer_drain(in, used);
		if (r == HTTP_OK) {
			gw_submit(c);
			return false;
		}
		if (used == 0)
			return false;
	}
}

static void
gw_process(struct gw_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	for (;;) {
		bool more;
		switch (c->phase) {
		case GW_IDLE:
		case GW_HEAD:
			more = gw_read_head(c, in);
			break;
		case GW_BODY:
			more = gw_read_body(c, in);
			break;
		default:
			return;
		}
		if (!more)
			return;
	}
}

static void
gw_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	gw_process(arg);
}

void
gw_conn_resume(struct gw_conn *c)
{
	gw_release(c);
	free(c->head);
	c->head = NULL;
	memset(&c->req, 0, sizeof(c->req));
	evbuffer_drain(c->body, evbuffer_get_length(c->body));
	c->phase = GW_IDLE;
	gw_arm(c, KH_GW_IDLE_TIMEOUT_MS);
	bufferevent_enable(c->bev, EV_READ);
	gw_process(c);
}

static void
gw_write_cb(struct bufferevent *bev, void *arg)
{
	struct gw_conn *c = arg;

	(void)bev;
	if (c->phase != GW_WRITING)
		return;
	if (c->close_after || c->gw->stopping) {
		gw_conn_free(c);
		return;
	}
	gw_conn_resume(c);
}

static void
gw_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct gw_conn *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
		    (c->phase == GW_WAIT || c->phase == GW_WRITING)) {
			c->close_after = true;
			return;
		}
		gw_conn_free(c);
	}
}

static void
gw_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->phase == GW_HEAD || c->phase == GW_BODY)
		gw_fail(c, PC_HTTP_TIMEOUT);
	else if (c->phase != GW_WAIT)
		gw_conn_free(c);
}

static void
gw_conn_free(struct gw_conn *c)
{
	struct gw *g = c->gw;

	g->ops->conn_gone(c);
	gw_release(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->timer);
	bufferevent_free(c->bev);
	evbuffer_free(c->body);
	free(c->head);
	free(c);
	g->nconns--;
	gw_maybe_done(g);
}

static void
gw_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct gw *g = arg;
	struct gw_conn *c;
	int one = 1;

	(void)l;
	(void)sa;
	(void)salen;
	if (g->nconns >= KH_GW_CONNS_MAX || g->stopping ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		size_t fl;
		const char *full = http_closing_answer(PC_TOO_MANY_CONNS, &fl);
		ssize_t w = send(fd, full, fl, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)w;
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->gw = g;
	c->bev = bufferevent_socket_new(g->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(g->base, gw_timer_cb, c);
	c->body = evbuffer_new();
	if (c->bev == NULL || c->timer == NULL || c->body == NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			close(fd);
		if (c->timer != NULL)
			event_free(c->timer);
		if (c->body != NULL)
			evbuffer_free(c->body);
		free(c);
		return;
	}
	g->nconns++;
	c->next = g->conns;
	if (g->conns != NULL)
		g->conns->prev = c;
	g->conns = c;
	c->phase = GW_IDLE;
	bufferevent_setcb(c->bev, gw_read_cb, gw_write_cb, gw_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, g->lim.max_head +
	    KH_READ_AHEAD);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	gw_arm(c, KH_GW_HEAD_TIMEOUT_MS);
}

void
gw_stop(struct gw *g)
{
	/* server.close(): no new connections; finish what is in flight. */
	if (g->stopping)
		return;
	g->stopping = true;
	/* Closed, not only disabled: connections are refused rather than
	 * left in the backlog, and a gateway started next (http2_v1: the
	 * host's new session) can bind the port. */
	if (g->listener != NULL)
		evconnlistener_free(g->listener);
	g->listener = NULL;
	for (struct gw_conn *c = g->conns, *n; c != NULL; c = n) {
		n = c->next;
		if (c->phase == GW_IDLE)
			gw_conn_free(c);
	}
	gw_maybe_done(g);
}

void
gw_maybe_done(struct gw *g)
{
	if (g->stopping && g->nconns == 0 && g->ops->idle(g))
		g->ops->finish(g);
}

void
gw_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	gw_stop(arg);
}

int
gw_listen(struct gw *g)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, g->host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(g->port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, g->host,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(g->port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		return -2;
	}
	g->listener = evconnlistener_new_bind(g->base, gw_accept_cb, g,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    KH_LISTEN_BACKLOG, (struct sockaddr *)&ss, (int)sl);
	if (g->listener == NULL)
		return -1;
	sl = sizeof(ss);
	if (getsockname(evconnlistener_get_fd(g->listener),
	    (struct sockaddr *)&ss, &sl) == 0)
		g->port = ntohs(ss.ss_family == AF_INET ?
		    ((struct sockaddr_in *)&ss)->sin_port :
		    ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

