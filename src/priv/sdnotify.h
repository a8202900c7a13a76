/* keyhole systemd notification ($NOTIFY_SOCKET, sd_notify(3)) and
 * watchdog ($WATCHDOG_USEC, sd_watchdog_enabled(3)). */
#ifndef KH_SDNOTIFY_H
#define KH_SDNOTIFY_H

#include <stdint.h>

/* Open the notification socket named by $NOTIFY_SOCKET (if any), read
 * $WATCHDOG_USEC (honoured when $WATCHDOG_PID is unset or names this
 * process) and remove the three variables from the environment.  Call
 * before the parent's seccomp. */
void sdnotify_init(void);
/* Send one datagram such as "READY=1\nSTATUS=serving"; no-op without a
 * socket.  Best effort: systemd may be gone. */
void sdnotify_send(const char *msg);
/* The watchdog period in milliseconds, 0 when systemd set none. */
uint32_t sdnotify_watchdog_ms(void);
/* The child just proved it is live (liveness.c): send WATCHDOG=1 unless
 * one went out less than a quarter period ago.  Nothing else sends it, so
 * systemd sees the watchdog stop while the child is stuck, dead or
 * restarting. */
void sdnotify_watchdog(int64_t now_ms);

#endif
