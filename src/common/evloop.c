/*
 * evloop.c -- see evloop.h.
 */
#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "evloop.h"

/* One slice of evloop_read_more: large enough that a 64 KiB body plus
 * its frame header is one readv in the common case. */
#define EVLOOP_SLICE	(128 * 1024)

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
	return base;
}

long
evloop_read_more(struct bufferevent *bev, size_t limit)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	int fd = bufferevent_getfd(bev);
	long total = 0;

	if (fd < 0)
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
