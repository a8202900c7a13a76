/*
 * The end-of-turn pass's hook (src/common/evloop.c, evloop_before_write):
 * once it is set, output added to a write-through bufferevent is never
 * written before the hook has run for it, also when the socket was full
 * and libevent's own writer is on and about to run in the same turn.
 * The parent's access lines depend on it (log.h, log_batch_begin): no
 * answer leaves before its line.
 *
 * The turn is arranged so that both are ready in one epoll_wait, in this
 * order: a pipe whose callback adds "MARK" to the bufferevent's output,
 * then the bufferevent's socket, which has room again (libevent's writer
 * would write the rest of its output, MARK with it).  The hook reads
 * what reached the other end so far: MARK must not be there yet.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "evloop.h"
#include "kh_test.h"

static int peer;		/* the other end of the bufferevent's socket */
static struct bufferevent *bev;
static bool mark_added, mark_early, mark_seen;
static int hooks_after_mark;

/* Read everything the peer has now; note whether MARK was in it. */
static bool
drain_peer(void)
{
	static char tail[4];
	char buf[65536];
	bool seen = false;
	ssize_t n;

	while ((n = read(peer, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			memmove(tail, tail + 1, 3);
			tail[3] = buf[i];
			if (memcmp(tail, "MARK", 4) == 0)
				seen = true;
		}
	}
	return seen;
}

static void
hook(void)
{
	if (!mark_added)
		return;
	hooks_after_mark++;
	if (drain_peer()) {
		mark_early = true;	/* written before this hook ran */
		mark_seen = true;
	}
}

static void
add_mark_cb(evutil_socket_t fd, short what, void *arg)
{
	char c;

	(void)what;
	(void)arg;
	if (read(fd, &c, 1) != 1)
		return;
	/* libevent's writer is on: the socket was full. */
	CHECK(bufferevent_get_enabled(bev) & EV_WRITE);
	bufferevent_write(bev, "MARK", 4);
	mark_added = true;
	evloop_flush_soon();	/* as an access line waiting does */
}

static void
bev_event_cb(struct bufferevent *b, short what, void *arg)
{
	(void)b;
	(void)what;
	(void)arg;
}

int
main(void)
{
	struct event_base *base = evloop_base_new();
	int sv[2], pp[2];
	static char fill[1 << 20];

	if (base == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
	    pipe(pp) < 0)
		return 2;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	peer = sv[1];
	/* What the socket takes in one write, so that what is left for
	 * libevent's writer is small enough for it to write with MARK. */
	int sndbuf = 16384;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	memset(fill, 'f', sizeof(fill));
	ssize_t cap = write(sv[0], fill, sizeof(fill));
	if (cap <= 0 || (size_t)cap + 4096 > sizeof(fill))
		return 2;
	(void)drain_peer();
	evloop_before_write(hook);
	bev = bufferevent_socket_new(base, sv[0], 0);
	bufferevent_setcb(bev, NULL, NULL, bev_event_cb, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	evloop_write_through(bev);
	struct event *pev = event_new(base, pp[0], EV_READ | EV_PERSIST,
	    add_mark_cb, NULL);
	event_add(pev, NULL);

	/* 4 KiB more than the socket takes: the rest goes to libevent's
	 * writer. */
	bufferevent_write(bev, fill, (size_t)cap + 4096);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK(bufferevent_get_enabled(bev) & EV_WRITE);
	CHECK(evbuffer_get_length(bufferevent_get_output(bev)) > 0);

	/* Ready in this order: the pipe, then the socket with room. */
	if (write(pp[1], "x", 1) != 1)
		return 2;
	(void)drain_peer();
	event_base_loop(base, EVLOOP_ONCE);
	CHECK(mark_added);
	CHECK(hooks_after_mark > 0);
	CHECK(!mark_early);

	/* And MARK does get there. */
	for (int i = 0; i < 1000 && !mark_seen; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (drain_peer())
			mark_seen = true;
	}
	CHECK(mark_seen);
	CHECK(!mark_early);
	event_free(pev);
	bufferevent_free(bev);
	TEST_DONE();
}
