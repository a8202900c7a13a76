/*
 * evloop.c -- see evloop.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "evloop.h"

/* One slice of evloop_read_more: large enough that a 64 KiB body plus
 * its frame header is one readv in the common case. */
#define EVLOOP_SLICE	(128 * 1024)

/* The bufferevents with output to write at the end of this turn, each
 * holding a reference (so one freed meanwhile is still memory). */
static struct {
	struct event_base *base;
	struct event *ev;		/* made active when the queue gets one */
	struct bufferevent **q;
	size_t n, cap;
	void (*before)(void);		/* evloop_before_write */
} wt;

static void wt_flush_cb(evutil_socket_t, short, void *);

struct event_base *
evloop_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base != NULL && wt.ev == NULL) {
		wt.ev = event_new(base, -1, 0, wt_flush_cb, NULL);
		if (wt.ev == NULL) {
			event_base_free(base);
			return NULL;
		}
		wt.base = base;
	}
	return base;
}

/* One bufferevent's output, written now.  What the socket does not take,
 * and any error, go back to libevent (EV_WRITE enabled). */
static void
wt_flush_one(struct bufferevent *bev)
{
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	void *arg;
	struct evbuffer *out = bufferevent_get_output(bev);
	int fd = bufferevent_getfd(bev);

	bufferevent_getcb(bev, &rcb, &wcb, &ecb, &arg);
	/* Freed since it was queued (bufferevent_free clears the callbacks),
	 * or libevent writes it already. */
	if (fd < 0 || (rcb == NULL && wcb == NULL && ecb == NULL) ||
	    (bufferevent_get_enabled(bev) & EV_WRITE) ||
	    evbuffer_get_length(out) == 0)
		return;
	/* As libevent's own writer does: the start of a socket bufferevent's
	 * output is frozen for everyone but the writer. */
	evbuffer_unfreeze(out, 1);
	int res = evbuffer_write_atmost(out, fd, EVLOOP_WRITE_MAX);
	evbuffer_freeze(out, 1);
	if (res <= 0 || evbuffer_get_length(out) > 0) {
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	size_t low = 0;
	(void)bufferevent_getwatermark(bev, EV_WRITE, &low, NULL);
	if (wcb != NULL && evbuffer_get_length(out) <= low)
		wcb(bev, arg);
}

static void
wt_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (wt.before != NULL)
		wt.before();	/* also when nothing is queued */
	/* A write callback may add output (to this or another bufferevent):
	 * it is queued behind and written in this same pass, after the hook
	 * has run again for what that callback did. */
	for (size_t i = 0; i < wt.n; i++) {
		struct bufferevent *bev = wt.q[i];
		if (wt.before != NULL && i > 0)
			wt.before();
		wt_flush_one(bev);
		bufferevent_decref(bev);
	}
	wt.n = 0;
}

static void
wt_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct bufferevent *bev = arg;

	if (info->n_added == 0) {
		/* Drained by libevent's writer after a fall-back: write
		 * through again from the next turn. */
		if (evbuffer_get_length(buf) == 0 &&
		    (bufferevent_get_enabled(bev) & EV_WRITE))
			bufferevent_disable(bev, EV_WRITE);
		return;
	}
	if (bufferevent_get_enabled(bev) & EV_WRITE) {
		if (wt.before == NULL)
			return;		/* libevent's */
		/* libevent would write it when epoll next says the socket
		 * can take more, maybe within this turn, before the hook
		 * ran: taken back, written at the end of the turn. */
		bufferevent_disable(bev, EV_WRITE);
	} else if (info->orig_size > 0) {
		return;		/* queued already */
	}
	if (wt.n == wt.cap) {
		size_t cap = wt.cap ? wt.cap * 2 : 64;
		struct bufferevent **q = realloc(wt.q, cap * sizeof(*q));
		if (q == NULL) {
			/* No room to queue it: libevent writes it. */
			if (wt.before != NULL)
				wt.before();
			bufferevent_enable(bev, EV_WRITE);
			return;
		}
		wt.q = q;
		wt.cap = cap;
	}
	bufferevent_incref(bev);
	wt.q[wt.n++] = bev;
	if (wt.n == 1)
		event_active(wt.ev, EV_WRITE, 0);
}

void
evloop_before_write(void (*fn)(void))
{
	wt.before = fn;
}

void
evloop_flush_soon(void)
{
	if (wt.ev != NULL)
		event_active(wt.ev, EV_WRITE, 0);
}

void
evloop_write_through(struct bufferevent *bev)
{
	if (wt.ev == NULL || bufferevent_get_base(bev) != wt.base)
		return;
	if (evbuffer_add_cb(bufferevent_get_output(bev), wt_out_cb, bev) == NULL)
		return;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

long
evloop_read_more(struct bufferevent *bev, size_t limit)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	int fd = bufferevent_getfd(bev);
	long total = 0;

	if (fd < 0)
		return 0;
	/* libevent's own read got less than its 4 KiB: the socket was
	 * empty then; no readv to learn it again. */
	if (evbuffer_get_length(in) < 4096)
		return 0;
	/* A socket bufferevent freezes the end of its input between its own
	 * reads; this read is one of its reads, done from its callback. */
	evbuffer_unfreeze(in, 0);
	for (;;) {
		size_t have = evbuffer_get_length(in);
		if (have >= limit)
			break;
		size_t want = limit - have;
		if (want > EVLOOP_SLICE)
			want = EVLOOP_SLICE;
		struct evbuffer_iovec v[2];
		int nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);
		if (nv <= 0)
			break;
		struct iovec iov[2];
		size_t cap = 0;
		for (int i = 0; i < nv; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
			cap += v[i].iov_len;
		}
		ssize_t r;
		do
			r = readv(fd, iov, nv);
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			evbuffer_commit_space(in, v, 0);
			if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				total = total ? total : -1;
			break;
		}
		/* Commit exactly what arrived: the slices it filled. */
		size_t left = (size_t)r;
		int used = 0;
		while (used < nv && left > 0) {
			if (v[used].iov_len > left)
				v[used].iov_len = left;
			left -= v[used].iov_len;
			used++;
		}
		evbuffer_commit_space(in, v, used);
		total += r;
		if ((size_t)r < cap)
			break;		/* the socket is empty */
	}
	evbuffer_freeze(in, 0);
	return total;
}

void
evloop_write_max(struct bufferevent *bev)
{
	bufferevent_set_max_single_write(bev, EVLOOP_WRITE_MAX);
}
