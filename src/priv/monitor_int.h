/* keyhole parent: what monitor.c and monitor_log.c share. */
#ifndef KH_MONITOR_INT_H
#define KH_MONITOR_INT_H

#include "priv.h"

/* Dispatch-table handlers for MSG_LOG, MSG_ACCESS, MSG_FATAL
 * (monitor_log.c).  Return 0, or -1 with *why: a protocol violation. */
int mon_log(struct parent *, struct child *, const struct msg_hdr *,
    struct msg_reader *, const char **why);
int mon_access(struct parent *, struct child *, const struct msg_hdr *,
    struct msg_reader *, const char **why);
int mon_fatal(struct parent *, struct child *, const struct msg_hdr *,
    struct msg_reader *, const char **why);
/* Write the summary of dropped lines now, if any were dropped. */
void monitor_relay_flush(struct parent *p);

#endif
