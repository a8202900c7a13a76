/*
 * keyhole-net: reading one request from a client connection.
 *
 * Head: a resumable linear scan of the bufferevent's input finds its end
 * (http_head_end_from), then the head is copied once out of the input
 * (the parsed fields point into the copy).  Body: copied once, from the
 * input into c->body, one contiguous allocation that gate.c validates and
 * hands to the parent by reference; chunked bodies are decoded straight
 * from the input's chains (evbuffer_peek), never pulled up.
 *
 * Deadlines: the head must be complete within head_timeout_ms (counted
 * from accept on a new connection, from its first byte on a kept-alive
 * one); the body within body_timeout_ms and at body_min_rate bytes/s per
 * KH_BODY_RATE_WINDOW_MS window.  Each answers 408 and closes.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "log.h"
#include "net.h"

/* Start a minimum-rate window: by its end the client must have sent
 * rate * window bytes, or all of what is left of a Content-Length body. */
static void
conn_rate_window(struct conn *c)
{
	uint32_t rate = c->net->cfg.body_min_rate;
	struct timeval tv = { KH_BODY_RATE_WINDOW_MS / 1000,
	    (KH_BODY_RATE_WINDOW_MS % 1000) * 1000 };
	uint64_t need;

	if (rate == 0)
		return;
	need = (uint64_t)rate * KH_BODY_RATE_WINDOW_MS / 1000;
	if (c->req->body == HTTP_BODY_LENGTH && c->body_left < need)
		need = c->body_left;
	c->rate_need = need;
	c->rate_got = 0;
	evtimer_add(c->rate_timer, &tv);
}

void
conn_rate_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->phase != PH_BODY)
		return;
	if (c->rate_got < c->rate_need) {
		log_info("peer=%s: request body slower than %u bytes/s: 408",
		    c->peer, c->net->cfg.body_min_rate);
		conn_fail(c, PC_HTTP_BODY_SLOW);
		return;
	}
	conn_rate_window(c);
}

/* Make room for n more body bytes.  The chunked decoder has already
 * checked the total against max_body, so this never exceeds it. */
static int
conn_body_room(struct conn *c, size_t n)
{
	size_t want = c->body_len + n, cap;
	uint8_t *nb;

	if (want <= c->body_cap)
		return 0;
	cap = c->body_cap ? c->body_cap * 2 : 16384;
	if (cap < want)
		cap = want;
	if (cap > c->body_limit && want <= c->body_limit)
		cap = (size_t)c->body_limit;
	/* glibc moves large (mmap'ed) blocks with mremap: no copy. */
	nb = realloc(c->body, cap);
	if (nb == NULL)
		return -1;
	c->body = nb;
	c->body_cap = cap;
	return 0;
}

static bool
conn_read_head(struct conn *c, struct evbuffer *in)
{
	struct net *n = c->net;
	size_t len = evbuffer_get_length(in), hl = 0;
	size_t take = len < n->lim.max_head ? len : n->lim.max_head;
	const uint8_t *p;
	int r;

	if (len == 0)
		return false;
	if (c->phase == PH_IDLE) {
		conn_set_phase(c, PH_HEAD);
		/* A new connection's head deadline runs from accept (a
		 * retire re-armed that timer for its own wait). */
		if (c->nrequests > 0 || n->retiring)
			conn_arm(c, n->cfg.head_timeout_ms);
	}
	p = evbuffer_pullup(in, (ssize_t)take);
	r = http_head_end_from(p, take, c->head_scanned > 0 ?
	    c->head_scanned - 1 : 0, &n->lim, &hl);
	if (r == HTTP_NEED_MORE) {
		c->head_scanned = take;
		if (take >= n->lim.max_head)
			conn_fail(c, PC_HTTP_FIELDS);
		return false;
	}
	c->head_scanned = 0;
	if (r != HTTP_OK) {
		conn_fail(c, pc_http_error(r));
		return false;
	}
	/* The request's state exists from here on only: an idle or slow
	 * connection does not carry its 12 KiB. */
	struct http_req *req = malloc(sizeof(*req));
	c->head = malloc(hl);
	if (c->head == NULL || req == NULL) {
		free(req);
		conn_fail(c, PC_OUT_OF_MEMORY);
		return false;
	}
	if (c->req != &conn_no_req)
		free(c->req);
	c->req = req;
	evbuffer_remove(in, c->head, hl);
	c->head_len = hl;
	c->nrequests++;
	r = http_head_parse(c->head, hl, &n->lim, req);
	if (r != HTTP_OK) {
		conn_fail(c, pc_http_error(r));
		return false;
	}
	if (!req->keep_alive)
		c->close_after = true;
	if (gate_head(c) != 0)
		return false;	/* answered (and closing if a body is unread) */
	switch (req->body) {
	case HTTP_BODY_NONE:
		conn_send_request(c);
		return false;
	case HTTP_BODY_LENGTH:
		c->body_left = req->content_length;
		if (c->body_left == 0) {
			conn_send_request(c);
			return false;
		}
		/* gate_head held it to max_body.  The pages of a large
		 * block are only touched as the body arrives. */
		c->body = malloc((size_t)c->body_left);
		if (c->body == NULL) {
			conn_fail(c, PC_OUT_OF_MEMORY);
			return false;
		}
		c->body_cap = (size_t)c->body_left;
		break;
	case HTTP_BODY_CHUNKED:
		c->chunk = malloc(sizeof(*c->chunk));
		if (c->chunk == NULL) {
			conn_fail(c, PC_OUT_OF_MEMORY);
			return false;
		}
		http_chunked_init(c->chunk, &n->lim);
		/* The matched rule's limit (gate_head), not the largest. */
		c->chunk->lim.max_body = c->body_limit;
		break;
	}
	if (req->expect_continue)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "HTTP/1.1 100 Continue\r\n\r\n");
	conn_set_phase(c, PH_BODY);
	conn_arm(c, n->cfg.body_timeout_ms);
	conn_rate_window(c);
	return true;
}

/*
 * Feed the chunked decoder from the input's chains.  Returns with the
 * consumed bytes drained; false when the input is used up or the request
 * is complete or refused (the phase says which).
 */
static bool
conn_read_chunked(struct conn *c, struct evbuffer *in)
{
	struct evbuffer_iovec v[16];
	size_t used_total = 0;
	int nv, i;

	nv = evbuffer_peek(in, -1, NULL, v, 16);
	if (nv > 16)
		nv = 16;
	for (i = 0; i < nv; i++) {
		const uint8_t *p = v[i].iov_base;
		size_t left = v[i].iov_len;

		while (left > 0) {
			const uint8_t *data = NULL;
			size_t used = 0, dlen = 0;
			int r = http_chunked_feed(c->chunk, p, left, &used,
			    &data, &dlen);

			if (r != HTTP_OK && r != HTTP_NEED_MORE) {
				conn_fail(c, pc_http_error(r));
				return false;
			}
			if (dlen > 0) {
				if (conn_body_room(c, dlen) < 0) {
					conn_fail(c, PC_OUT_OF_MEMORY);
					return false;
				}
				memcpy(c->body + c->body_len, data, dlen);
				c->body_len += dlen;
			}
			p += used;
			left -= used;
			used_total += used;
			c->rate_got += used;
			if (r == HTTP_OK) {
				evbuffer_drain(in, used_total);
				conn_send_request(c);
				return false;
			}
			if (used == 0)
				break;	/* cannot happen: the decoder
					   consumes whenever len > 0 */
		}
	}
	evbuffer_drain(in, used_total);
	/* More chains than one peek returned: go round again. */
	return used_total > 0 && evbuffer_get_length(in) > 0;
}

static bool
conn_read_body(struct conn *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in), take;

	if (len == 0)
		return false;
	if (c->req->body == HTTP_BODY_CHUNKED)
		return conn_read_chunked(c, in);
	take = len < c->body_left ? len : (size_t)c->body_left;
	evbuffer_remove(in, c->body + c->body_len, take);
	c->body_len += take;
	c->body_left -= take;
	c->rate_got += take;
	if (c->body_left == 0)
		conn_send_request(c);
	return false;
}

/* Input discarded after an answer that closes the connection. */
static void
conn_read_linger(struct conn *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);

	evbuffer_drain(in, len);
	if (len >= c->linger_left)
		conn_free(c);
	else
		c->linger_left -= len;
}

void
conn_process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	for (;;) {
		switch (c->phase) {
		case PH_IDLE:
		case PH_HEAD:
			if (!conn_read_head(c, in))
				return;
			break;
		case PH_BODY:
			if (!conn_read_body(c, in))
				return;
			break;
		case PH_CLOSING:
			conn_read_linger(c, in);
			return;
		case PH_UPSTREAM:
		case PH_WRITING:
			return;
		}
	}
}
