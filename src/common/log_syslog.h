/* keyhole syslog output (see log_syslog.c). */
#ifndef KH_LOG_SYSLOG_H
#define KH_LOG_SYSLOG_H

void logsys_open(const char *ident);
/* kh_level: enum log_level value (0 error .. 3 debug). */
void logsys_write(int kh_level, const char *line);

#endif
