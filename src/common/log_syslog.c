/*
 * keyhole syslog output, in its own file because <syslog.h> defines
 * LOG_INFO/LOG_DEBUG as macros that would clash with enum log_level.
 */
#include <syslog.h>

#include "log_syslog.h"

void
logsys_open(const char *ident)
{
	/* LOG_NDELAY: connect to /dev/log now, before seccomp. */
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
logsys_write(int kh_level, const char *line)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

	if (kh_level < 0 || kh_level > 3)
		kh_level = 0;
	syslog(prio[kh_level], "%s", line);
}
