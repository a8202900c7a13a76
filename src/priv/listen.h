/* keyhole listening sockets (created by the parent, used by the child). */
#ifndef KH_LISTEN_H
#define KH_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

struct listener {
	int fd;
	struct listen_spec spec;	/* tcp: port is the bound port */
	/* unix (keyhole's own, not systemd's): the socket's directory and
	 * the inode bound there, so the socket is removed at exit only while
	 * that name still is it; -1 otherwise. */
	int dirfd;
	dev_t dev;
	ino_t ino;
};

/* Create, bind and listen every configured socket.  Returns 0 or -1 after
 * printing an error naming the address. */
int listen_open(const struct kh_config *cfg, struct listener *out, size_t *n);
void listen_close(struct listener *l, size_t n);
/* One socket (in keyhole's own network namespace), a Unix one with this
 * mode: the operator's metrics listener.  Returns 0 or -1 after an error. */
int listen_one(struct listener *l, const struct listen_spec *spec,
    unsigned mode);
/* Number of sockets systemd passed us (LISTEN_PID/LISTEN_FDS), else 0. */
size_t listen_activated(void);

#endif
