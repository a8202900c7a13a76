/*
 * keyhole sd_notify: the protocol is one datagram of "KEY=value" lines to
 * the AF_UNIX socket named in $NOTIFY_SOCKET ('@' = abstract namespace).
 * Small enough to write here instead of linking libsystemd.
 *
 * Watchdog (WatchdogSec= in the unit): systemd passes the period in
 * $WATCHDOG_USEC and expects "WATCHDOG=1" more often than that.  keyhole
 * sends it only when the child has just answered a liveness ping
 * (liveness.c), at most every quarter period: a parent whose child is
 * stuck, dead or cannot be restarted stops feeding the watchdog, and
 * systemd restarts the whole service.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sdnotify.h"

static int sdnotify_fd = -1;
static uint32_t sdnotify_wd_ms;		/* watchdog period, 0 = none */
static int64_t sdnotify_wd_last = INT64_MIN;	/* last WATCHDOG=1 sent */

/* $WATCHDOG_USEC, as sd_watchdog_enabled(3) reads it: a positive number
 * of microseconds, for this process if $WATCHDOG_PID says so. */
static void
sdnotify_watchdog_init(void)
{
	const char *us = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	char *end;
	unsigned long long v;

	if (us == NULL)
		return;
	errno = 0;
	v = strtoull(us, &end, 10);
	if (errno != 0 || end == us || *end != '\0' || v == 0 ||
	    v / 1000 > UINT32_MAX) {
		log_warn("WATCHDOG_USEC is not a number of microseconds; "
		    "not feeding the watchdog");
		return;
	}
	if (pid != NULL) {
		long long wp = strtoll(pid, &end, 10);
		if (end == pid || *end != '\0' || wp != (long long)getpid())
			return;		/* meant for another process */
	}
	sdnotify_wd_ms = v / 1000 > 0 ? (uint32_t)(v / 1000) : 1;
}

void
sdnotify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	size_t len;

	sdnotify_watchdog_init();
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
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

uint32_t
sdnotify_watchdog_ms(void)
{
	return sdnotify_fd >= 0 ? sdnotify_wd_ms : 0;
}

void
sdnotify_watchdog(int64_t now_ms)
{
	if (sdnotify_watchdog_ms() == 0 ||
	    (sdnotify_wd_last != INT64_MIN &&
	    now_ms - sdnotify_wd_last < sdnotify_wd_ms / 4))
		return;
	sdnotify_wd_last = now_ms;
	sdnotify_send("WATCHDOG=1");
}
