/*
 * keyhole-net: the operator's metrics listener (--metrics; fd 18).
 *
 * The parent never parses HTTP, not even to serve its own numbers: this
 * child takes the scrape, checks its request line, and asks the parent
 * for the text (MSG_METRICS with its own counters; the parent answers
 * MSG_METRICS_TEXT), which it writes back with Connection: close.
 *
 * The listener is the operator's, never the sandbox's (the parent makes
 * it in its own network namespace, a Unix socket 0600 by default), but
 * its bytes are read as hostile all the same: at most
 * KH_METRICS_CONNS_MAX scrapers at once (more are closed at accept), a
 * head of at most KH_METRICS_HEAD_MAX bytes within KH_METRICS_TIMEOUT_MS,
 * and the request line must be exactly `GET /metrics HTTP/1.x` (or HEAD);
 * header fields are never interpreted.  No bridge token is asked for and
 * none is checked: nobody but the operator can reach the socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "log.h"
#include "metrics_wire.h"
#include "net.h"
#include "queue_answer.h"

struct mscrape {
	struct bufferevent *bev;
	struct metrics_srv *srv;
	uint64_t id;			/* MSG_METRICS sent, not answered; or 0 */
	bool head;			/* HEAD: no body */
	struct mscrape *next;
};

struct metrics_srv {
	struct net *net;
	struct evconnlistener *l;
	struct mscrape *list;
	size_t n;
	uint64_t next_id;
};

static void
mscrape_free(struct mscrape *s)
{
	struct metrics_srv *m = s->srv;

	for (struct mscrape **pp = &m->list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	m->n--;
	bufferevent_free(s->bev);
	free(s);
}

/* Written: close. */
static void
mscrape_written(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		mscrape_free(arg);
}

static void
mscrape_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	mscrape_free(arg);	/* closed, error or deadline */
}

static void
mscrape_reply(struct mscrape *s, int status, const char *reason,
    const char *ctype, const uint8_t *body, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\ncontent-type: %s\r\n"
	    "content-length: %zu\r\ncache-control: no-store\r\n"
	    "connection: close\r\n\r\n", status, reason, ctype, len);
	if (!s->head && len > 0)
		evbuffer_add(out, body, len);
	s->id = 0;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setcb(s->bev, NULL, mscrape_written, mscrape_event, s);
	bufferevent_enable(s->bev, EV_WRITE);
}

static void
mscrape_text(struct mscrape *s, int status, const char *reason,
    const char *msg)
{
	mscrape_reply(s, status, reason, "text/plain; charset=utf-8",
	    (const uint8_t *)msg, strlen(msg));
}

/* MSG_METRICS: the child's own counters (metrics_wire.h), then the
 * parent renders everything. */
static void
mscrape_ask(struct mscrape *s)
{
	struct net *n = s->srv->net;
	const struct conn_admit *a = &n->admit;
	uint64_t v[KH_METRICS_CHILD_N] = { 0 };
	struct wbuf w;

	v[MC_CONNS_OPEN] = n->nconns;
	v[MC_CONNS_ACCEPTED] = n->accepted_total;
	for (int i = 0; i < CR_END; i++)
		v[MC_CONNS_REFUSED] += a->refused_total[i];
	for (int i = 0; i < CT_END; i++)
		v[MC_CONNS_EVICTED] += a->evicted_total[i];
	v[MC_PENDING] = n->npending;
	v[MC_QUEUE_KEPT] = n->cfg.queue ? queue_answer_held() : 0;
	if (++s->srv->next_id == 0)
		s->srv->next_id = 1;
	s->id = s->srv->next_id;
	wbuf_init(&w);
	msg_begin(&w, MSG_METRICS, s->id);
	msg_put_u8(&w, KH_METRICS_CHILD_N);
	for (size_t i = 0; i < KH_METRICS_CHILD_N; i++)
		msg_put_u64(&w, v[i]);
	if (msg_finish(&w) < 0 || n->parent == NULL ||
	    bufferevent_write(n->parent, w.buf, w.len) < 0) {
		wbuf_free(&w);
		mscrape_text(s, 503, "Service Unavailable", "unavailable\n");
		return;
	}
	wbuf_free(&w);
	bufferevent_disable(s->bev, EV_READ);
}

/* The head is in (or too long): judge its request line only. */
static void
mscrape_read(struct bufferevent *bev, void *arg)
{
	struct mscrape *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char line[64];
	size_t ll;
	bool get, head;

	if (s->id != 0)
		return;
	if (end.pos < 0) {
		if (evbuffer_get_length(in) >= KH_METRICS_HEAD_MAX)
			mscrape_text(s, 431, "Request Header Fields Too Large",
			    "request head too large\n");
		return;
	}
	struct evbuffer_ptr eol = evbuffer_search(in, "\r\n", 2, NULL);
	ll = (size_t)eol.pos;
	if (ll >= sizeof(line)) {
		mscrape_text(s, 400, "Bad Request", "bad request\n");
		return;
	}
	evbuffer_copyout(in, line, ll);
	line[ll] = '\0';
	get = strncmp(line, "GET ", 4) == 0;
	head = strncmp(line, "HEAD ", 5) == 0;
	s->head = head;
	if (!get && !head) {
		mscrape_text(s, 405, "Method Not Allowed", "GET /metrics\n");
		return;
	}
	const char *t = line + (get ? 4 : 5), *sp = strchr(t, ' ');
	if (sp == NULL || t[0] != '/' || (strcmp(sp, " HTTP/1.1") != 0 &&
	    strcmp(sp, " HTTP/1.0") != 0))
		mscrape_text(s, 400, "Bad Request", "GET /metrics\n");
	else if (sp - t == 8 && strncmp(t, "/metrics", 8) == 0)
		mscrape_ask(s);
	else
		mscrape_text(s, 404, "Not Found", "GET /metrics\n");
}

static void
metrics_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct metrics_srv *m = arg;
	struct mscrape *s;
	struct timeval tv = { KH_METRICS_TIMEOUT_MS / 1000,
	    (KH_METRICS_TIMEOUT_MS % 1000) * 1000 };

	(void)l;
	(void)sa;
	(void)salen;
	if (m->n >= KH_METRICS_CONNS_MAX || (s = calloc(1, sizeof(*s))) == NULL) {
		close(fd);
		return;
	}
	s->srv = m;
	s->bev = bufferevent_socket_new(m->net->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		close(fd);
		free(s);
		return;
	}
	s->next = m->list;
	m->list = s;
	m->n++;
	bufferevent_setwatermark(s->bev, EV_READ, 0, KH_METRICS_HEAD_MAX);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_setcb(s->bev, mscrape_read, NULL, mscrape_event, s);
	bufferevent_enable(s->bev, EV_READ);
}

void
metrics_serve_start(struct net *n)
{
	struct metrics_srv *m = calloc(1, sizeof(*m));

	if (m == NULL)
		link_fatal("out of memory for the metrics listener");
	m->net = n;
	m->l = evconnlistener_new(n->base, metrics_accept, m,
	    LEV_OPT_CLOSE_ON_FREE, 0, KH_CHILD_FD_METRICS);
	if (m->l == NULL)
		link_fatal("cannot listen on the metrics fd");
	n->metrics = m;
}

/* Shutting down: no new scrape; those waiting for the parent still get
 * its answer while the child drains. */
void
metrics_serve_stop(struct net *n)
{
	if (n->metrics != NULL && n->metrics->l != NULL) {
		evconnlistener_free(n->metrics->l);
		n->metrics->l = NULL;
	}
}

int
metrics_serve_answer(struct net *n, uint64_t id, const uint8_t *text,
    size_t len, const char **why)
{
	struct metrics_srv *m = n->metrics;

	if (m == NULL) {
		*why = "METRICS_TEXT without a metrics listener";
		return -1;
	}
	for (struct mscrape *s = m->list; s != NULL; s = s->next)
		if (s->id == id) {
			mscrape_reply(s, 200, "OK",
			    "text/plain; version=0.0.4; charset=utf-8", text, len);
			return 0;
		}
	/* The scraper left (its deadline) before the parent answered. */
	if (id > m->next_id) {
		*why = "METRICS_TEXT for a scrape never asked";
		return -1;
	}
	return 0;
}
