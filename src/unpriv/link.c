/*
 * keyhole-net's end of the socketpair (fd 3): the child's protocol
 * endpoint, as monitor.c is the parent's.  Every frame the parent sends is
 * read by the frame pump (wire_pump), its type looked up in link_table
 * with the states it is permitted in, decoded and checked whole by its
 * handler, and only then acted on; a frame that is unknown, not permitted
 * now, or malformed ends the child (the parent restarts it).  Every frame
 * the child sends is written here too.
 *
 * Data flows one way: a request is read (conn_read.c, queue.c), gated and
 * decided (gate.c, decide.c) and sent (link_send_request); its answer
 * comes back through link_response, which checks it and hands it to the
 * request's owner (a connection, a queue item) through the completion
 * callback the owner registered (conn_deliver, queue_deliver), which
 * writes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "hdr.h"
#include "evloop.h"
#include "log.h"
#include "util.h"
#include "h2.h"
#include "net.h"

struct net *kh_net;

/* The child's states, as bits so the table can name several. */
#define LS_STARTING	0x1u	/* policy table sent, no MSG_POLICY_OK yet */
#define LS_SERVING	0x2u	/* MSG_POLICY_OK received */

static int link_policy_ok(struct net *, const struct msg_hdr *,
    struct msg_reader *, const char **);
static int link_response(struct net *, const struct msg_hdr *,
    struct msg_reader *, const char **);
static int link_shutdown(struct net *, const struct msg_hdr *,
    struct msg_reader *, const char **);
static int link_ping(struct net *, const struct msg_hdr *,
    struct msg_reader *, const char **);
static int link_metrics_text(struct net *, const struct msg_hdr *,
    struct msg_reader *, const char **);
static int link_retire(struct net *, const struct msg_hdr *,
    struct msg_reader *, const char **);
static int link_queue_start(struct net *, const struct msg_hdr *,
    struct msg_reader *, const char **);

static const struct link_entry {
	uint8_t type;
	unsigned states;		/* LS_* in which it is permitted */
	/* Returns 0, or -1 with *why set, having changed nothing. */
	int (*handler)(struct net *, const struct msg_hdr *,
	    struct msg_reader *, const char **why);
} link_table[] = {
	{ MSG_POLICY_OK, LS_STARTING, link_policy_ok },
	{ MSG_RESPONSE, LS_SERVING, link_response },
	/* SIGTERM may reach the parent before it accepted the table. */
	{ MSG_SHUTDOWN, LS_STARTING | LS_SERVING, link_shutdown },
	{ MSG_PING, LS_SERVING, link_ping },
	{ MSG_METRICS_TEXT, LS_SERVING, link_metrics_text },
	/* A reload; each handler checks its own once-only conditions. */
	{ MSG_RETIRE, LS_SERVING, link_retire },
	{ MSG_QUEUE_START, LS_SERVING, link_queue_start },
};

/* ------------------------------------------------------------------ */
/* Sending. */

int
link_send_blocking(struct wbuf *w)
{
	int rc = msg_finish(w) == 0 ?
	    util_write_all(KH_CHILD_FD_PARENT, w->buf, w->len) : -1;
	wbuf_free(w);
	return rc;
}

static void
link_send(struct net *n, struct wbuf *w)
{
	if (msg_finish(w) == 0 && n->parent != NULL)
		bufferevent_write(n->parent, w->buf, w->len);
	wbuf_free(w);
}

/* Queue w's frame, whose last field is a deferred blob of len bytes, and
 * blob[0..len), taken over in every case (wire_send: by reference, whole
 * or not at all).  Returns 0, or -1 when nothing was queued. */
static int
link_send_owned(struct net *n, struct wbuf *w, uint8_t *blob, size_t len)
{
	return wire_send(n->parent, w, blob, len, true);
}

/* Log lines go to the parent, which alone writes logs.  Before the event
 * loop exists the write is blocking; after, it is queued. */
void
link_log_sink(enum log_level level, const char *line)
{
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_LOG, 0);
	msg_put_u8(&w, (uint8_t)level);
	msg_put_str(&w, line, strnlen(line, KH_LOG_MAX - 1));
	if (kh_net != NULL && kh_net->parent != NULL)
		link_send(kh_net, &w);
	else
		(void)link_send_blocking(&w);
}

/*
 * The child's one way to end on an error, before its event loop exists
 * and after: what is queued for the parent (log lines, answers) is
 * written first, then MSG_FATAL with the reason, both blocking, then
 * _exit(1).  The parent writes the reason to its log (monitor.c).  Before,
 * an error after start-up was a log line queued in the bufferevent and
 * lost with the _exit that followed it.
 */
void
link_fatal(const char *fmt, ...)
{
	char why[KH_LOG_MAX];
	struct wbuf w;
	va_list ap;
	int fl;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_sanitize(why, strlen(why));
	if (kh_net != NULL && kh_net->parent != NULL) {
		struct evbuffer *out = bufferevent_get_output(kh_net->parent);
		/* The loop made the socket non-blocking; wait for it now. */
		if ((fl = fcntl(KH_CHILD_FD_PARENT, F_GETFL)) >= 0)
			(void)fcntl(KH_CHILD_FD_PARENT, F_SETFL, fl & ~O_NONBLOCK);
		/* A socket bufferevent freezes its output's start: without
		 * this, nothing queued was written (conn_exit). */
		evbuffer_unfreeze(out, 1);
		while (evbuffer_get_length(out) > 0 &&
		    evbuffer_write(out, KH_CHILD_FD_PARENT) > 0)
			;
	}
	wbuf_init(&w);
	msg_begin(&w, MSG_FATAL, 0);
	msg_put_str(&w, why, strlen(why));
	(void)link_send_blocking(&w);
	_exit(1);
}

/* A request the child answered itself, for the parent's access log. */
void
link_send_access(struct net *n, const char *peer, const char *method,
    const char *path, int status, const char *reason, uint64_t bytes_in,
    uint64_t bytes_out)
{
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_ACCESS, 0);
	msg_put_str(&w, peer, strnlen(peer, KH_PEER_MAX));
	msg_put_str(&w, method, strnlen(method, KH_METHOD_MAX));
	msg_put_str(&w, path, strnlen(path, KH_PATH_MAX));
	msg_put_u16(&w, (uint16_t)status);
	msg_put_str(&w, reason, strnlen(reason, KH_REASON_MAX));
	msg_put_u64(&w, bytes_in);
	msg_put_u64(&w, bytes_out);
	link_send(n, &w);
}

/*
 * MSG_REQUEST (wire.h) for what decide_forward let through.  body (heap,
 * q->body_len bytes, or NULL) follows the frame by reference and is taken
 * over in every case.  Returns the pending request, linked into
 * n->pending, or NULL when nothing was sent.
 */
struct pending *
link_send_request(struct net *n, const struct link_request *q, uint8_t *body)
{
	struct pending *p = calloc(1, sizeof(*p));
	struct wbuf w;

	if (p == NULL) {
		free(body);
		return NULL;
	}
	p->id = ++n->next_id;
	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, p->id);
	msg_put_cstr(&w, q->method);
	msg_put_str(&w, q->path, q->path_len);
	msg_put_u8(&w, q->has_query ? 1 : 0);
	msg_put_str(&w, q->query, q->query_len);
	msg_put_cstr(&w, q->peer);
	msg_put_u16(&w, (uint16_t)q->nh);
	for (size_t k = 0; k < q->nh; k++) {
		msg_put_cstr(&w, q->names[k]);
		msg_put_str(&w, q->values[k], q->vlens[k]);
	}
	msg_put_u8(&w, q->media);
	msg_put_u8(&w, q->media_flags);
	msg_put_str(&w, q->boundary, q->blen);
	msg_put_blob_deferred(&w, q->body_len);
	if (link_send_owned(n, &w, body, q->body_len) != 0) {
		free(p);
		return NULL;
	}
	p->next = n->pending;
	n->pending = p;
	n->npending++;
	return p;
}

void
link_send_retired(struct net *n)
{
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_RETIRED, 0);
	link_send(n, &w);
}

static void
link_send_pong(struct net *n, uint64_t nonce)
{
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_PONG, nonce);
	link_send(n, &w);
}

static int
link_read_all(uint8_t *p, size_t n)
{
	return util_read_upto(KH_CHILD_FD_PARENT, p, n) == (ssize_t)n ? 0 : -1;
}

int
link_read_frame_blocking(uint8_t *buf, size_t cap, struct msg_hdr *h)
{
	uint8_t hb[KH_WIRE_HDR];

	if (link_read_all(hb, sizeof(hb)) < 0 || msg_hdr_decode(hb, h) < 0 ||
	    h->length > cap)
		return -1;
	return link_read_all(buf, h->length);
}

/* ------------------------------------------------------------------ */
/* Receiving: the handlers of link_table. */

static int
link_policy_ok(struct net *n, const struct msg_hdr *h, struct msg_reader *r,
    const char **why)
{
	(void)h;
	if (msg_end(r) < 0) {
		*why = "malformed POLICY_OK";
		return -1;
	}
	n->serving = true;
	conn_listen_enable(n);
	/* The queue waits for MSG_QUEUE_START: after a reload the retired
	 * child may still hold claimed files. */
	if (n->cfg.metrics)
		metrics_serve_start(n);
	if (n->cfg.connect)
		h2_start(n);
	log_debug("serving");
	return 0;
}

/* MSG_RESPONSE: u16 status, u16 nheaders, nheaders*(str, str), blob;
 * for a pending id.  Checked whole before anything changes.  The parent
 * only sends a final status and headers it took from its allowlist with
 * forwardable values; anything else would be written into a client's
 * response (a 1xx as the final answer, CR LF in a value), so it is
 * refused here too.  Then the owner gets it (p->done) and p is freed. */
static int
link_response(struct net *n, const struct msg_hdr *h, struct msg_reader *r,
    const char **why)
{
	char namez[KH_FWD_HEADERS_MAX][KH_HNAME_MAX + 1];
	struct link_answer a;
	struct pending **pp, *p = NULL;
	uint16_t status, nh;
	size_t nl;

	for (pp = &n->pending; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == h->id) {
			p = *pp;
			break;
		}
	if (p == NULL) {
		*why = "response for an unknown request id";
		return -1;
	}
	msg_get_u16(r, &status);
	msg_get_u16(r, &nh);
	if (nh > KH_FWD_HEADERS_MAX) {
		*why = "response with too many headers";
		return -1;
	}
	for (size_t i = 0; i < nh; i++) {
		const char *name;
		msg_get_str(r, &name, &nl, KH_HNAME_MAX);
		msg_get_str(r, &a.values[i], &a.vlens[i], KH_HVALUE_MAX);
		if (r->failed)
			break;
		if (!hdr_lower_token(name, nl) ||
		    !hdr_value_forwardable(a.values[i], a.vlens[i])) {
			*why = "response header the child would not write";
			return -1;
		}
		memcpy(namez[i], name, nl);
		namez[i][nl] = '\0';
		a.names[i] = namez[i];
	}
	msg_get_blob(r, &a.body, &a.blen, KH_RESPONSE_MAX);
	if (msg_end(r) < 0 || status < 200 || status > 599) {
		*why = "malformed response frame";
		return -1;
	}
	a.status = status;
	a.nh = nh;
	*pp = p->next;
	n->npending--;
	p->done(n, p, &a);
	free(p);
	conn_maybe_exit(n);
	return 0;
}

static int
link_shutdown(struct net *n, const struct msg_hdr *h, struct msg_reader *r,
    const char **why)
{
	(void)h;
	if (msg_end(r) < 0) {
		*why = "malformed SHUTDOWN";
		return -1;
	}
	queue_shutdown(n);
	h2_shutdown(n);
	conn_shutdown(n);
	metrics_serve_stop(n);
	return 0;
}

/* MSG_METRICS_TEXT: the parent's text for an operator's scrape. */
static int
link_metrics_text(struct net *n, const struct msg_hdr *h,
    struct msg_reader *r, const char **why)
{
	const uint8_t *text;
	size_t len;

	if (msg_get_blob(r, &text, &len, KH_MSG_MAX) < 0 || msg_end(r) < 0 ||
	    h->id == 0) {
		*why = "malformed METRICS_TEXT";
		return -1;
	}
	return metrics_serve_answer(n, h->id, text, len, why);
}

/* MSG_RETIRE: str token (empty only without listeners: the queue alone
 * needs none).  Once, while serving, never after SHUTDOWN. */
static int
link_retire(struct net *n, const struct msg_hdr *h, struct msg_reader *r,
    const char **why)
{
	const char *tok;
	size_t len;

	msg_get_str(r, &tok, &len, KH_TOKEN_MAX);
	/* Empty only where MSG_CONFIG may have none: no listener. */
	if (h->id != 0 || msg_end(r) < 0 || (len < KH_TOKEN_MIN &&
	    (len > 0 || n->nlisteners > 0))) {
		*why = "malformed RETIRE";
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)tok[i] < 0x21 || (unsigned char)tok[i] > 0x7e) {
			*why = "RETIRE with a token that is not visible ASCII";
			return -1;
		}
	if (n->retiring || n->shutting_down) {
		*why = "RETIRE twice or after SHUTDOWN";
		return -1;
	}
	conn_retire(n, tok, len);
	return 0;
}

/* MSG_QUEUE_START (empty): once, with the queue on, before any retire. */
static int
link_queue_start(struct net *n, const struct msg_hdr *h, struct msg_reader *r,
    const char **why)
{
	if (h->id != 0 || msg_end(r) < 0) {
		*why = "malformed QUEUE_START";
		return -1;
	}
	if (!n->cfg.queue || n->queue_started || n->retiring) {
		*why = "QUEUE_START not expected";
		return -1;
	}
	n->queue_started = true;
	if (!n->shutting_down)
		queue_start(n);
	return 0;
}

/* The parent's liveness check: answered from the event loop, so a child
 * whose loop is stuck answers nothing. */
static int
link_ping(struct net *n, const struct msg_hdr *h, struct msg_reader *r,
    const char **why)
{
	if (h->id == 0 || msg_end(r) < 0) {
		*why = "malformed PING";
		return -1;
	}
	link_send_pong(n, h->id);
	return 0;
}

/* One frame: its type in link_table, permitted in this state, then its
 * handler.  Returns 0, or -1 with *why set before acting on any of it. */
static int
link_dispatch(void *arg, const struct msg_hdr *h, const uint8_t *payload,
    const char **why)
{
	struct net *n = arg;
	const struct link_entry *e = NULL;
	struct msg_reader r;

	for (size_t i = 0; i < sizeof(link_table) / sizeof(link_table[0]); i++)
		if (link_table[i].type == h->type)
			e = &link_table[i];
	if (e == NULL) {
		*why = "unknown message type";
		return -1;
	}
	if ((e->states & (n->serving ? LS_SERVING : LS_STARTING)) == 0) {
		*why = "message type not permitted in this state";
		return -1;
	}
	msg_reader_init(&r, payload, h->length);
	return e->handler(n, h, &r, why);
}

int
link_feed(struct net *n, struct evbuffer *in, const char **why)
{
	return wire_pump(in, link_dispatch, NULL, n, why);
}

static void
link_read_cb(struct bufferevent *bev, void *arg)
{
	const char *why = NULL;

	(void)evloop_read_more(bev, KH_MSG_MAX);
	if (link_feed(arg, bufferevent_get_input(bev), &why) < 0)
		link_fatal("bad frame from the parent: %s", why);
}

static void
link_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		_exit(0);	/* the parent is gone: nothing to serve for */
}

void
link_attach(struct net *n)
{
	evutil_make_socket_nonblocking(KH_CHILD_FD_PARENT);
	n->parent = bufferevent_socket_new(n->base, KH_CHILD_FD_PARENT, 0);
	if (n->parent == NULL)
		link_fatal("cannot set up the link to the parent");
	bufferevent_setcb(n->parent, link_read_cb, NULL, link_event_cb, n);
	bufferevent_setwatermark(n->parent, EV_READ, 0, KH_MSG_MAX);
	evloop_write_max(n->parent);
	bufferevent_enable(n->parent, EV_READ | EV_WRITE);
	evloop_write_through(n->parent);
}
