/* keyhole systemd readiness notification ($NOTIFY_SOCKET, sd_notify(3)). */
#ifndef KH_SDNOTIFY_H
#define KH_SDNOTIFY_H

/* Open the notification socket named by $NOTIFY_SOCKET (if any) and remove
 * the variable from the environment.  Call before the parent's seccomp. */
void sdnotify_init(void);
/* Send one datagram such as "READY=1\nSTATUS=serving"; no-op without a
 * socket.  Best effort: systemd may be gone. */
void sdnotify_send(const char *msg);

#endif
