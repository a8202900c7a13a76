/*
 * keyhole sd_notify: the protocol is one datagram of "KEY=value" lines to
 * the AF_UNIX socket named in $NOTIFY_SOCKET ('@' = abstract namespace).
 * Small enough to write here instead of linking libsystemd.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sdnotify.h"

static int sdnotify_fd = -1;

void
sdnotify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	size_t len;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(sun.sun_path)) {
		log_warn("NOTIFY_SOCKET is too long; not notifying systemd");
		return;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	sdnotify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sdnotify_fd < 0)
		return;
	if (connect(sdnotify_fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
		log_warn("cannot connect to NOTIFY_SOCKET");
		close(sdnotify_fd);
		sdnotify_fd = -1;
	}
	unsetenv("NOTIFY_SOCKET");
}

void
sdnotify_send(const char *msg)
{
	if (sdnotify_fd >= 0) {
		ssize_t w = send(sdnotify_fd, msg, strlen(msg), MSG_NOSIGNAL);
		(void)w;
	}
}
