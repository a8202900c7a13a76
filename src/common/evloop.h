/*
 * evloop.h -- libevent set up the way keyhole's hot path needs it.
 *
 * Both processes run one event loop each; per request a connection's
 * events are switched off and on again (read disabled while the parent
 * answers, write enabled for the answer, ...).  Two things in Debian's
 * libevent 2.1.12 cost a syscall each time and are fixed here, once:
 *
 * - evloop_base_new(): an event base with epoll's change list
 *   (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST): an event switched off and on
 *   within one loop turn costs no epoll_ctl at all.  Its one caveat
 *   (two fds sharing one open file, e.g. after dup()) does not arise:
 *   every fd keyhole watches is its own socket, pipe or inotify fd.
 *
 * - evloop_write_through(): a socket bufferevent asks epoll whether the
 *   socket is writable before every write (epoll_ctl to add EPOLLOUT,
 *   epoll_wait, writev, epoll_ctl to remove it): three syscalls a frame
 *   or an answer that a socket with room in its buffer never needed.
 *   With it, what the loop turn added to the output is written once, at
 *   the end of the turn (one writev for every frame of the turn); only
 *   what the socket does not take goes back to libevent, which writes it
 *   when epoll says it can and reports an error as it always did.  The
 *   bufferevent's write callback runs as libevent would run it: after a
 *   write, when the output is at or below its low watermark.
 *
 * - evloop_read_more(): libevent 2.1's evbuffer_read() reads at most
 *   4096 bytes per call (EVBUFFER_MAX_READ; 2.2 made it settable), and a
 *   socket bufferevent calls it once per readiness event, so a 64 KiB
 *   frame took 16 epoll_wait + ioctl + readv rounds.  Called from a read
 *   callback, it reads on into the same input buffer, in large slices,
 *   until the socket is empty or `room` bytes more are buffered.
 */
#ifndef KH_EVLOOP_H
#define KH_EVLOOP_H

#include <stddef.h>

struct event_base;
struct bufferevent;

struct event_base *evloop_base_new(void);

/* Read what `bev`'s socket holds into its input, at most until the
 * input holds `limit` bytes.  Returns the bytes read (0: nothing more),
 * or -1 on EOF or an error, which the bufferevent's own next read
 * reports through its event callback as usual. */
long evloop_read_more(struct bufferevent *bev, size_t limit);

/* Write `bev`'s output through at the end of each loop turn (above).
 * Call once, after its callbacks are set and it is enabled; a bufferevent
 * on a base that evloop_base_new() did not make is left as it is. */
void evloop_write_through(struct bufferevent *bev);

/* Call fn at the end of every turn that writes, before any bufferevent
 * made write-through writes anything (once set, also what libevent would
 * otherwise write of an output its socket could not take at once is
 * written then).  The parent's access lines: log.h, log_batch_begin. */
void evloop_before_write(void (*fn)(void));
/* Run the end-of-turn pass (and its before-write hook) in this turn. */
void evloop_flush_soon(void);

/* The bufferevent writes up to EVLOOP_WRITE_MAX bytes per writev
 * (libevent's default is 16 KiB: five writes for a 64 KiB answer). */
#define EVLOOP_WRITE_MAX	(256 * 1024)
void evloop_write_max(struct bufferevent *bev);

#endif
