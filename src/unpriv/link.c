/*
 * keyhole-net link to the parent (fd 3).  Same framing as the parent
 * (wire.h), same distrust: a frame the child does not expect, in a state
 * where it does not expect it, or malformed, ends the child.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "log.h"
#include "util.h"
#include "net.h"

struct net *kh_net;

int
link_send_blocking(struct wbuf *w)
{
	int rc = msg_finish(w) == 0 ?
	    util_write_all(KH_CHILD_FD_PARENT, w->buf, w->len) : -1;
	wbuf_free(w);
	return rc;
}

void
link_send(struct net *n, struct wbuf *w)
{
	if (msg_finish(w) == 0 && n->parent != NULL)
		bufferevent_write(n->parent, w->buf, w->len);
	wbuf_free(w);
}

static void
link_blob_free(const void *data, size_t len, void *extra)
{
	(void)len;
	(void)extra;
	free((void *)data);
}

/*
 * Queue w's frame, whose last field is a deferred blob of len bytes
 * (msg_put_blob_deferred), followed by blob[0..len).  The blob goes to the
 * output buffer by reference, not by copy, and is freed once written;
 * this function owns it in every case.  Returns 0, or -1 when nothing
 * was queued (the frame could not be built).
 */
int
link_send_owned(struct net *n, struct wbuf *w, uint8_t *blob, size_t len)
{
	struct evbuffer *out;

	if (msg_finish(w) < 0 || w->deferred != len || n->parent == NULL) {
		free(blob);
		wbuf_free(w);
		return -1;
	}
	out = bufferevent_get_output(n->parent);
	if (evbuffer_add(out, w->buf, w->len) < 0 || (len > 0 &&
	    evbuffer_add_reference(out, blob, len, link_blob_free, NULL) < 0)) {
		/* Half a frame may be queued: the stream is lost. */
		log_error("cannot queue a frame for the parent");
		_exit(1);
	}
	if (len == 0)
		free(blob);
	wbuf_free(w);
	return 0;
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

/* A request the child answered itself, for the parent's access log. */
void
link_send_access(struct net *n, const char *peer, const char *method,
    const char *path, int status, const char *reason, uint64_t bytes_in,
    uint64_t bytes_out)
{
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_ACCESS, 0);
	msg_put_str(&w, peer, strnlen(peer, 63));
	msg_put_str(&w, method, strnlen(method, KH_METHOD_MAX));
	msg_put_str(&w, path, strnlen(path, KH_PATH_MAX));
	msg_put_u16(&w, (uint16_t)status);
	msg_put_str(&w, reason, strnlen(reason, 255));
	msg_put_u64(&w, bytes_in);
	msg_put_u64(&w, bytes_out);
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

static void __attribute__((noreturn))
link_die(const char *why)
{
	log_error("bad frame from the parent: %s", why);
	_exit(1);
}

/* One frame.  Returns 0, or -1 with *why set when the child must not
 * accept it (before acting on any of it). */
static int
link_dispatch(void *arg, const struct msg_hdr *h, const uint8_t *payload,
    const char **why)
{
	struct net *n = arg;
	struct msg_reader r;

	msg_reader_init(&r, payload, h->length);
	switch (h->type) {
	case MSG_POLICY_OK:
		if (n->serving || msg_end(&r) < 0) {
			*why = "unexpected POLICY_OK";
			return -1;
		}
		n->serving = true;
		conn_listen_enable(n);
		if (n->cfg.queue)
			queue_start(n);
		log_debug("serving");
		return 0;
	case MSG_RESPONSE:
		if (!n->serving) {
			*why = "RESPONSE before POLICY_OK";
			return -1;
		}
		return conn_deliver(n, h->id, &r, why);
	case MSG_SHUTDOWN:
		if (msg_end(&r) < 0) {
			*why = "malformed SHUTDOWN";
			return -1;
		}
		queue_shutdown(n);
		conn_shutdown(n);
		return 0;
	case MSG_PING:
		/* The parent's liveness check: answered from the event loop,
		 * so a child whose loop is stuck answers nothing. */
		if (!n->serving || h->id == 0 || msg_end(&r) < 0) {
			*why = "unexpected or malformed PING";
			return -1;
		}
		link_send_pong(n, h->id);
		return 0;
	default:
		*why = "unknown message type";
		return -1;
	}
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

	if (link_feed(arg, bufferevent_get_input(bev), &why) < 0)
		link_die(why);
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
	if (n->parent == NULL) {
		log_error("cannot set up the link to the parent");
		_exit(1);
	}
	bufferevent_setcb(n->parent, link_read_cb, NULL, link_event_cb, n);
	bufferevent_setwatermark(n->parent, EV_READ, 0, KH_MSG_MAX);
	bufferevent_enable(n->parent, EV_READ | EV_WRITE);
}
