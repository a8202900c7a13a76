/*
 * keyhole syslog output, in its own file because <syslog.h> defines
 * LOG_INFO/LOG_DEBUG as macros that would clash with enum log_level.
 */
#include <errno.h>
#include <paths.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "log_syslog.h"

/*
 * glibc's openlog() never says whether it reached the syslog socket, and
 * syslog() drops every line when it did not: with no /dev/log (a
 * container, a chroot, a host without a syslog daemon) --log syslog lost
 * every line, the fatal ones included, without a word.  So connect to it
 * ourselves first, as glibc would (a datagram socket, else a stream one),
 * and let the caller refuse to start.
 */
static int
logsys_probe(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_STREAM };
	struct sockaddr_un sa;
	int err = ENOENT;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strncpy(sa.sun_path, _PATH_LOG, sizeof(sa.sun_path) - 1);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		err = errno;
		close(fd);
		if (rc == 0)
			return 0;
		if (err != EPROTOTYPE)
			break;
	}
	errno = err;
	return -1;
}

int
logsys_open(const char *ident)
{
	if (logsys_probe() < 0)
		return -1;
	/* LOG_NDELAY: connect to /dev/log now, before seccomp. */
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	return 0;
}

const char *
logsys_path(void)
{
	return _PATH_LOG;
}

void
logsys_write(int kh_level, const char *line)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

	if (kh_level < 0 || kh_level > 3)
		kh_level = 0;
	syslog(prio[kh_level], "%s", line);
}
