/* keyhole's inotify instances: see notify.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "notify.h"

int
notify_watch(int dirfd, uint32_t mask)
{
	char self[64];
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), e;

	if (fd < 0)
		return -1;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", dirfd);
	if (inotify_add_watch(fd, self, mask | IN_ONLYDIR) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

void
notify_read(int fd, bool (*fn)(void *arg, uint32_t mask, const char *name),
    void *arg)
{
	char buf[16384] __attribute__((aligned(8)));

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (ssize_t off = 0; off < n;) {
			const struct inotify_event *ev =
			    (const struct inotify_event *)(buf + off);
			const char *name = ev->len > 0 &&
			    memchr(ev->name, '\0', ev->len) != NULL ?
			    ev->name : NULL;
			off += (ssize_t)(sizeof(*ev) + ev->len);
			if (!fn(arg, ev->mask, name))
				return;
		}
	}
}
