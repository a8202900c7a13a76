/* keyhole syslog output (see log_syslog.c). */
#ifndef KH_LOG_SYSLOG_H
#define KH_LOG_SYSLOG_H

/* Returns 0, or -1 with errno when the syslog socket (logsys_path())
 * cannot be reached: nothing would be logged. */
int logsys_open(const char *ident);
const char *logsys_path(void);
/* kh_level: enum log_level value (0 error .. 3 debug). */
void logsys_write(int kh_level, const char *line);

#endif
