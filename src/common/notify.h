/*
 * keyhole's inotify instances (notify.c): the parent's watch on the
 * queue's requests/ (its child only reads the instance, fd 16: it makes
 * no inotify call), keyhole-gateway's on responses/.
 */
#ifndef KH_NOTIFY_H
#define KH_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* A non-blocking, close-on-exec inotify instance watching the directory
 * dirfd already names (through /proc/self/fd/N: exactly the inode opened,
 * whatever happens to its path) for mask (IN_ONLYDIR is added).  Returns
 * its fd, or -1 with errno set. */
int notify_watch(int dirfd, uint32_t mask);

/* Read every event waiting on the instance fd and give each to fn: its
 * mask, and its name (NUL-terminated) or NULL when it has none
 * (IN_Q_OVERFLOW).  fn returns false to stop; the events left are
 * dropped (the caller's next scan finds their files). */
void notify_read(int fd, bool (*fn)(void *arg, uint32_t mask,
    const char *name), void *arg);

#endif
