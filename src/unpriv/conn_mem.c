/*
 * keyhole-net: the memory of connections, given back.
 *
 * After a flood the child should be as small as before it; it kept
 * 147 MiB after 10,000 connections had closed.  (That each idle
 * connection is small in the first place: conn_read.c allocates a
 * request's state only once its head is complete.)
 */
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include "net.h"

/*
 * libevent keeps, for every fd number it has ever watched, a small record (evmap_io, about 32 bytes) that it
 * never frees.  Allocated as connections arrive, one of those sits
 * between the ~1.5 KiB each connection frees again, and no free page is
 * left whole for malloc_trim to return: 10,000 closed connections kept
 * ~15 MiB.  So every fd number the child may ever use is watched once,
 * before the first connection: the records are allocated together, apart
 * from what connections allocate later.  The fd numbers come from
 * fcntl(F_DUPFD) of the link (until RLIMIT_NOFILE refuses one), each
 * closed at once; no fd stays open and no new syscall is needed.
 */
static void
conn_prewarm_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

void
conn_mem_prewarm(struct net *n)
{
	int k = 0;

	while (k < (int)(KH_CONNS_MAX + KH_CONNS_FD_RESERVE)) {
		int fd = fcntl(KH_CHILD_FD_PARENT, F_DUPFD_CLOEXEC, k);
		struct event *ev;

		if (fd < 0)
			break;		/* EMFILE, EINVAL: the fd limit */
		ev = event_new(n->base, fd, EV_READ, conn_prewarm_cb, NULL);
		if (ev != NULL) {
			(void)event_add(ev, NULL);
			event_free(ev);
		}
		close(fd);
		k = fd + 1;
	}
}

/*
 * Memory reused under load.  Large responses arrive in slices of up to
 * 128 KiB (evloop_read_more), and glibc's default for its heap top
 * (given back by brk once 2x the mmap threshold is free, about 264 KiB
 * after the first large free) made the child shrink and regrow its heap
 * again and again: 5.4 page faults per 64 KiB response, each one a
 * zeroed page, about 5% of the child's CPU.  A fixed threshold keeps up
 * to KH_HEAP_KEEP free at the top while requests come and go (1 MiB: 0.5
 * faults per such response; 2 MiB: none, but a higher peak); blocks of
 * KH_HEAP_MMAP or more still get their own mapping, unmapped when freed,
 * and conn_mem_trim_cb gives everything back after a flood as before.
 */
#define KH_HEAP_KEEP (1024u * 1024)
#define KH_HEAP_MMAP (512u * 1024)

void
conn_mem_tune(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, KH_HEAP_MMAP);
	(void)mallopt(M_TRIM_THRESHOLD, KH_HEAP_KEEP);
}

/*
 * malloc returns the top of its heap by itself, but not freed pages below
 * memory still in use (a client that stayed connected through the flood,
 * a request in flight).  So once KH_TRIM_CONNS connections have closed
 * since the most the child held, malloc_trim(0) runs KH_TRIM_DELAY_MS
 * later: one call however many close, none while the count holds steady
 * (a flood evicting and accepting at the same rate).  It needs brk and
 * madvise, both already in the child's seccomp allowlist.
 */
static void
conn_mem_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *n = arg;

	(void)fd;
	(void)what;
	malloc_trim(0);
	n->admit.trim_peak = n->nconns;
}

/* A connection has closed (n->nconns counts it no more). */
void
conn_mem_closed(struct net *n)
{
	struct conn_admit *a = &n->admit;
	static const struct timeval tv = { KH_TRIM_DELAY_MS / 1000,
	    (KH_TRIM_DELAY_MS % 1000) * 1000 };

	if (n->nconns + 1 > a->trim_peak)
		a->trim_peak = n->nconns + 1;
	if (a->trim_peak - n->nconns < KH_TRIM_CONNS || n->base == NULL)
		return;
	if (a->trim_ev == NULL && (a->trim_ev = evtimer_new(n->base,
	    conn_mem_trim_cb, n)) == NULL)
		return;
	if (!evtimer_pending(a->trim_ev, NULL))
		evtimer_add(a->trim_ev, &tv);
}
