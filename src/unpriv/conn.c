/*
 * keyhole-net client connections: accepting, deadlines, writing answers,
 * closing.  Reading a request is conn_read.c.
 *
 * One request at a time per connection: while a request is with the
 * parent or its response is being written, reading is paused, so a client
 * that pipelines or never reads its responses only fills its own socket
 * buffers (TCP back-pressure), never keyhole's memory: per connection the
 * child holds at most one head (max_head), KH_READ_AHEAD bytes of input
 * beyond it, one body (max_body) and one response (max_response).
 *
 * Every phase has a deadline: idle (keep-alive; on a new connection the
 * head deadline), head, body (plus a minimum rate), and writing (a client
 * that does not take its answer is dropped).  An answer that ends the
 * connection is followed by a bounded lingering close.  Who gets a slot
 * when the table is full: conn_admit.c; draining: conn_drain.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "log.h"
#include "evloop.h"
#include "net.h"
#include "util.h"

struct http_req conn_no_req;

static void
conn_unlink(struct conn *c)
{
	struct net *n = c->net;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		n->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

void
conn_free(struct conn *c)
{
	struct net *n = c->net;

	if (c->pending != NULL)
		c->pending->owner = NULL;	/* the answer will be dropped */
	conn_unlink(c);
	conn_admit_release(c);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->rate_timer != NULL)
		event_free(c->rate_timer);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->req != &conn_no_req)
		free(c->req);
	free(c->chunk);
	free(c->body);
	free(c->head);
	free(c);
	n->nconns--;
	conn_mem_closed(n);
	conn_maybe_exit(n);
}

void
conn_set_phase(struct conn *c, enum conn_phase phase)
{
	c->phase = phase;
	conn_admit_tier(c);
}

static void
conn_reset_request(struct conn *c)
{
	free(c->head);
	c->head = NULL;
	c->head_len = 0;
	c->head_scanned = 0;
	if (c->req != &conn_no_req)
		free(c->req);
	c->req = &conn_no_req;
	free(c->chunk);
	c->chunk = NULL;
	free(c->body);
	c->body = NULL;
	c->body_len = 0;
	c->body_cap = 0;
	c->body_left = 0;
}

void
conn_arm(struct conn *c, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(c->timer, &tv);
}

/* A response is queued (respond.c): nothing more is parsed until it is
 * out (conn_read_cb), and the client has write_timeout_ms to take it. */
void
conn_writing(struct conn *c)
{
	evtimer_del(c->rate_timer);
	conn_set_phase(c, PH_WRITING);
	conn_arm(c, c->net->cfg.write_timeout_ms);
}

/* Answer an error and close: used whenever the request's bytes can no
 * longer be trusted to delimit the next one. */
void
conn_fail(struct conn *c, enum pc_id id)
{
	c->close_after = true;
	respond_answer(c, id);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	switch (c->phase) {
	case PH_HEAD:
	case PH_BODY:
		log_info("peer=%s: %s deadline passed: 408", c->peer,
		    c->phase == PH_HEAD ? "head" : "body");
		conn_fail(c, PC_HTTP_TIMEOUT);
		break;
	case PH_UPSTREAM:
		break;	/* the parent's upstream timeout answers */
	case PH_WRITING:
		log_info("peer=%s: response not taken within %u ms: closing",
		    c->peer, c->net->cfg.write_timeout_ms);
		conn_free(c);
		break;
	case PH_IDLE:		/* nothing was sent: close without a word */
	case PH_CLOSING:
		conn_free(c);
		break;
	}
}

void
conn_send_request(struct conn *c)
{
	evtimer_del(c->rate_timer);
	if (gate_request(c) != 0)
		return;		/* answered */
	/* gate_request queued the MSG_REQUEST and set c->pending. */
	conn_set_phase(c, PH_UPSTREAM);
	evtimer_del(c->timer);
}

/*
 * The answer is out and the connection ends.  Closing a socket with
 * unread input makes the kernel send RST, and an RST can discard the
 * answer before the client has read it.  So: send FIN (shutdown), then
 * read and discard for at most KH_LINGER_MS / KH_LINGER_BYTES, then close.
 */
static void
conn_linger(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	evtimer_del(c->rate_timer);
	conn_set_phase(c, PH_CLOSING);
	c->linger_left = KH_LINGER_BYTES;
	evbuffer_drain(in, evbuffer_get_length(in));
	if (shutdown(bufferevent_getfd(c->bev), SHUT_WR) < 0) {
		conn_free(c);
		return;
	}
	conn_arm(c, KH_LINGER_MS);
	bufferevent_enable(c->bev, EV_READ);
	conn_maybe_exit(c->net);
}

/*
 * While a request is upstream or its answer is being written, nothing
 * more is parsed, and reading stops once the client sends more (a
 * pipelined request, its FIN): its bytes wait in the input buffer, the
 * rest in the kernel, until conn_write_cb turns reading back on.  Reading
 * is switched off then rather than at every request: a client that waits
 * for its answer, as nearly all do, costs no epoll_ctl pair per request.
 */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->phase == PH_UPSTREAM || c->phase == PH_WRITING) {
		bufferevent_disable(bev, EV_READ);
		return;
	}
	conn_process(c);
}

/* The response is out: close, or go back to reading the next request
 * (which may already be buffered: pipelining). */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->phase != PH_WRITING)
		return;
	if (c->close_after || c->net->shutting_down) {
		conn_linger(c);
		return;
	}
	conn_reset_request(c);
	conn_set_phase(c, PH_IDLE);
	if (c->net->retiring) {
		/* Answered before the retire said `close`: one more request,
		 * if it comes soon (conn_drain.c). */
		c->close_after = true;
		conn_arm(c, conn_retire_idle_ms(c->net));
	} else {
		conn_arm(c, c->net->cfg.idle_timeout_ms);
	}
	bufferevent_enable(c->bev, EV_READ);
	conn_process(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* A half-closed client still gets the answer to a request it
		 * has sent in full. */
		if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
		    (c->phase == PH_UPSTREAM || c->phase == PH_WRITING)) {
			c->close_after = true;
			return;
		}
		conn_free(c);
	}
}

static void
conn_peer(char *peer, size_t cap, const struct sockaddr *sa)
{
	char addr[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s->sin_addr, addr, sizeof(addr));
		snprintf(peer, cap, "%s:%u", addr,
		    ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, addr, sizeof(addr));
		snprintf(peer, cap, "[%s]:%u", addr,
		    ntohs(s->sin6_port));
	} else {
		snprintf(peer, cap, "unix");
	}
}

static void conn_listen_pause(struct net *n, uint32_t ms);

static void
conn_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct net *n = arg;
	enum conn_refusal why;
	struct conn *c;
	int one = 1;

	(void)l;
	(void)salen;
	n->accepted_total++;
	if (!conn_admit_batch_ok(n))
		conn_listen_pause(n, 0);	/* this one, then the next turn */
	if (n->shutting_down) {
		conn_refuse_fd(n, fd, CR_SHUTDOWN);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->net = n;
	c->req = &conn_no_req;
	if (conn_admit(n, c, sa, &why) < 0) {
		free(c);
		conn_refuse_fd(n, fd, why);
		return;
	}
	conn_peer(c->peer, sizeof(c->peer), sa);
	c->rule = -1;
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev = bufferevent_socket_new(n->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(n->base, conn_timer_cb, c);
	c->rate_timer = evtimer_new(n->base, conn_rate_cb, c);
	n->nconns++;
	c->next = n->conns;
	if (n->conns != NULL)
		n->conns->prev = c;
	n->conns = c;
	if (c->bev == NULL || c->timer == NULL || c->rate_timer == NULL) {
		if (c->bev == NULL)
			close(fd);
		conn_free(c);
		return;
	}
	conn_set_phase(c, PH_IDLE);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	/* Read at most a head's worth and KH_READ_AHEAD beyond it; body
	 * bytes are moved out as they arrive. */
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    n->lim.max_head + KH_READ_AHEAD);
	evloop_write_max(c->bev);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	evloop_write_through(c->bev);
	/* The first head must be complete within the head deadline from
	 * now; a client that sends nothing is closed silently then. */
	conn_arm(c, n->cfg.head_timeout_ms);
}

static void
conn_listen_resume(evutil_socket_t fd, short what, void *arg)
{
	struct net *n = arg;

	(void)fd;
	(void)what;
	conn_admit_batch_reset(n);
	if (n->serving && !n->listeners_closed)
		conn_listen_enable(n);
}

/* Stop accepting for ms milliseconds (0: until the next turn of the
 * loop, after the connections already accepted have been read). */
static void
conn_listen_pause(struct net *n, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	conn_listen_disable(n);
	if (n->admit.resume_ev == NULL &&
	    (n->admit.resume_ev = evtimer_new(n->base, conn_listen_resume,
	    n)) == NULL) {
		conn_listen_resume(-1, 0, n);
		return;
	}
	evtimer_add(n->admit.resume_ev, &tv);
}

/* accept() failed (EMFILE, ENOBUFS, ...): pause accepting for 100 ms
 * rather than spin on a listener that stays readable. */
static void
conn_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct net *n = arg;

	(void)l;
	log_warn("accept failed: %s; pausing accepts for 100 ms",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	conn_listen_pause(n, 100);
}

void
conn_listen_enable(struct net *n)
{
	for (size_t i = 0; i < n->nlisteners; i++) {
		if (n->listeners[i] == NULL) {
			if (i == 0)
				conn_mem_prewarm(n);
			n->listeners[i] = evconnlistener_new(n->base,
			    conn_accept_cb, n, LEV_OPT_CLOSE_ON_FREE, 0,
			    KH_CHILD_FD_LISTEN + (int)i);
			if (n->listeners[i] == NULL)
				link_fatal("cannot listen on fd %zu",
				    KH_CHILD_FD_LISTEN + i);
			evconnlistener_set_error_cb(n->listeners[i],
			    conn_accept_error_cb);
		} else {
			evconnlistener_enable(n->listeners[i]);
		}
	}
}

void
conn_listen_disable(struct net *n)
{
	for (size_t i = 0; i < n->nlisteners; i++)
		if (n->listeners[i] != NULL)
			evconnlistener_disable(n->listeners[i]);
}

/* An HTTP request's completion callback (link.c calls it once the
 * parent's answer is checked): the answer goes to the client, or nowhere
 * if it left.  The parent logs forwarded requests; the child logs only
 * what it decides itself (denials, errors). */
void
conn_deliver(struct net *n, struct pending *p, const struct link_answer *a)
{
	struct conn *c = p->owner;

	(void)n;
	if (c == NULL)
		return;		/* the client left */
	c->pending = NULL;
	respond_write(c, a->status, a->names, a->values, a->vlens, a->nh,
	    a->body, a->blen);
}
