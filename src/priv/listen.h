/* keyhole listening sockets (created by the parent, used by the child). */
#ifndef KH_LISTEN_H
#define KH_LISTEN_H

#include <stddef.h>

#include "config.h"

struct listener {
	int fd;
	struct listen_spec spec;	/* tcp: port is the bound port */
};

/* Create, bind and listen every configured socket.  Returns 0 or -1 after
 * printing an error naming the address. */
int listen_open(const struct kh_config *cfg, struct listener *out, size_t *n);
void listen_close(struct listener *l, size_t n);
/* Number of sockets systemd passed us (LISTEN_PID/LISTEN_FDS), else 0. */
size_t listen_activated(void);
/* Write {pid,host,port,baseUrl,startedAt} to path atomically (tmp+rename). */
int listen_write_ready(const char *path, const struct listener *l);

#endif
