/*
 * keyhole listening sockets.  The parent binds them (it may need privilege
 * or a network namespace to do so) and hands them to every child at fixed
 * fd numbers; they survive child restarts, so clients never see the port
 * close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kh_limits.h"
#include "listen.h"
#include "log.h"
#include "safefile.h"
#include "util.h"

static int
listen_tcp(struct listen_spec *s)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s->host, &((struct sockaddr_in *)&ss)->sin_addr)
	    == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(s->port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, s->host,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(s->port);
		sl = sizeof(*sin6);
	} else {
		log_fatal("listen address '%s' is not a numeric "
		    "IPv4 or IPv6 address", s->host);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, KH_LISTEN_BACKLOG) < 0) {
		log_fatal("cannot listen on %s:%u: %s", s->host,
		    s->port, strerror(errno));
		close(fd);
		return -1;
	}
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		s->port = ntohs(ss.ss_family == AF_INET ?
		    ((struct sockaddr_in *)&ss)->sin_port :
		    ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* Resolve "USER[:GROUP]"; returns 0 or -1 after an error message. */
static int
listen_owner(const char *spec, uid_t *uid, gid_t *gid)
{
	char user[128];
	const char *colon = strchr(spec, ':');
	size_t ul = colon ? (size_t)(colon - spec) : strlen(spec);
	struct passwd *pw;

	if (ul == 0 || ul >= sizeof(user))
		goto bad;
	memcpy(user, spec, ul);
	user[ul] = '\0';
	if ((pw = getpwnam(user)) == NULL)
		goto bad;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (colon != NULL) {
		struct group *gr = getgrnam(colon + 1);
		if (gr == NULL)
			goto bad;
		*gid = gr->gr_gid;
	}
	return 0;
bad:
	log_fatal("--unix-owner '%s': no such user or group",
	    spec);
	return -1;
}

static void
listen_unix_fail(const struct listen_spec *s, const char *what)
{
	log_fatal("--listen unix:%s: %s: %s", s->path, what,
	    strerror(errno));
}

/*
 * A Unix socket at PATH, in a directory only root and keyhole's own user
 * can change: whoever else could write it could swap the names keyhole
 * uses between two calls, so such a directory is refused.  Even so, the
 * socket is never acted on by name in that directory: it is bound inside
 * a private 0700 directory made beside PATH (reached as
 * /proc/self/fd/N/s), given its mode and owner there, where nobody else
 * can reach it, and renamed into place.  Anything but a socket at PATH is
 * refused, never removed; a stale socket is replaced by the rename.
 */
static int
listen_unix(struct listener *l, unsigned mode, const char *owner)
{
	struct listen_spec *s = &l->spec;
	struct sockaddr_un sun;
	struct stat st;
	char tmpdir[32];
	const char *base;
	uint8_t r[8];
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	int dfd, tfd = -1, fd = -1;

	if (owner != NULL && listen_owner(owner, &uid, &gid) < 0)
		return -1;
	if ((dfd = safefile_open_parent(s->path, &base)) < 0 ||
	    fstat(dfd, &st) < 0) {
		listen_unix_fail(s, "cannot open its directory");
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	if (!safefile_dir_private(&st, geteuid())) {
		log_fatal("--listen unix:%s: its directory is "
		    "writable by other users (owner uid %u, mode %04o): whoever "
		    "can write it could swap the names keyhole uses; choose a "
		    "directory only root%s can write, e.g. /run/keyhole",
		    s->path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
		    geteuid() == 0 ? "" : " or keyhole's own user");
		close(dfd);
		return -1;
	}
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISSOCK(st.st_mode)) {
		log_fatal("%s exists and is not a socket; "
		    "remove it or choose another path", s->path);
		close(dfd);
		return -1;
	}
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		goto fail;
	snprintf(tmpdir, sizeof(tmpdir), ".keyhole-%02x%02x%02x%02x%02x%02x"
	    "%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	if (mkdirat(dfd, tmpdir, 0700) < 0) {
		tmpdir[0] = '\0';
		goto fail;
	}
	if ((tfd = openat(dfd, tmpdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0 || fstat(tfd, &st) < 0 || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0) {
		errno = EPERM;
		goto fail;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "/proc/self/fd/%d/s", tfd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto fail;
	if (fchmodat(tfd, "s", mode, 0) < 0 ||
	    (owner != NULL &&
	    fchownat(tfd, "s", uid, gid, AT_SYMLINK_NOFOLLOW) < 0) ||
	    fstatat(tfd, "s", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    listen(fd, KH_LISTEN_BACKLOG) < 0 || renameat(tfd, "s", dfd, base) < 0)
		goto fail;
	(void)unlinkat(dfd, tmpdir, AT_REMOVEDIR);
	close(tfd);
	l->dirfd = dfd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return fd;
fail:
	listen_unix_fail(s, "cannot set up the socket");
	if (tfd >= 0) {
		(void)unlinkat(tfd, "s", 0);
		close(tfd);
	}
	if (tmpdir[0] != '\0')
		(void)unlinkat(dfd, tmpdir, AT_REMOVEDIR);
	if (fd >= 0)
		close(fd);
	close(dfd);
	return -1;
}

size_t
listen_activated(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	uint64_t p, n;

	if (pid == NULL || fds == NULL ||
	    util_parse_u64(pid, 1, INT32_MAX, &p) < 0 ||
	    (pid_t)p != getpid() ||
	    util_parse_u64(fds, 1, KH_LISTENERS_MAX, &n) < 0)
		return 0;
	return (size_t)n;
}

/* systemd socket activation: fds 3.. are listening sockets. */
static int
listen_take_activated(struct listener *out, size_t *n)
{
	size_t count = listen_activated();
	const char *names = getenv("LISTEN_FDNAMES");

	for (size_t i = 0; i < count; i++) {
		int fd = 3 + (int)i, acc = 0;
		socklen_t al = sizeof(acc);
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct stat st;
		struct listener *l = &out[*n];

		if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 ||
		    !acc || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
			log_fatal("inherited fd %d (LISTEN_FDS) is "
			    "not a listening socket", fd);
			return -1;
		}
		memset(l, 0, sizeof(*l));
		l->fd = fd;
		l->dirfd = -1;
		l->spec.activated = true;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (ss.ss_family == AF_UNIX) {
			l->spec.is_unix = true;
			const char *sp = ((struct sockaddr_un *)&ss)->sun_path;
			size_t spl = strnlen(sp, sizeof(l->spec.path) - 1);
			memcpy(l->spec.path, sp, spl);
			l->spec.path[spl] = '\0';
		} else if (ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &sin->sin_addr, l->spec.host,
			    sizeof(l->spec.host));
			l->spec.port = ntohs(sin->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &sin6->sin6_addr, l->spec.host,
			    sizeof(l->spec.host));
			l->spec.port = ntohs(sin6->sin6_port);
		}
		(*n)++;
	}
	(void)names;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 0;
}

/* Enter the namespace only to create the sockets, then return at once:
 * a socket keeps the namespace it was created in. */
static int
listen_netns_enter(const char *path, int *orig)
{
	int target = open(path, O_RDONLY | O_CLOEXEC);

	*orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (target < 0 || *orig < 0 || setns(target, CLONE_NEWNET) < 0) {
		log_fatal("cannot enter network namespace %s: "
		    "%s (needs root or CAP_SYS_ADMIN)", path, strerror(errno));
		if (target >= 0)
			close(target);
		if (*orig >= 0)
			close(*orig);
		return -1;
	}
	close(target);
	return 0;
}

int
listen_open(const struct kh_config *cfg, struct listener *out, size_t *n)
{
	int orig = -1;
	bool failed = false;

	*n = 0;
	if (listen_take_activated(out, n) < 0)
		return -1;
	if (*n + cfg->nlisten > KH_LISTENERS_MAX) {
		log_fatal("more than %u listeners",
		    KH_LISTENERS_MAX);
		return -1;
	}
	if (cfg->netns != NULL && listen_netns_enter(cfg->netns, &orig) < 0)
		return -1;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		struct listener *l = &out[*n];
		memset(l, 0, sizeof(*l));
		l->dirfd = -1;
		l->spec = cfg->listen[i];
		l->fd = l->spec.is_unix ? listen_unix(l, cfg->unix_mode,
		    cfg->unix_owner) : listen_tcp(&l->spec);
		if (l->fd < 0) {
			failed = true;	/* message printed */
			break;
		}
		(*n)++;
	}
	if (orig >= 0) {
		if (setns(orig, CLONE_NEWNET) < 0) {
			log_fatal("cannot return from network "
			    "namespace: %s", strerror(errno));
			failed = true;
		}
		close(orig);
	}
	if (failed || (*n == 0 && cfg->queue_dir == NULL && cfg->connect == NULL)) {
		listen_close(out, *n);
		return -1;
	}
	return 0;
}

int
listen_one(struct listener *l, const struct listen_spec *spec, unsigned mode)
{
	memset(l, 0, sizeof(*l));
	l->dirfd = -1;
	l->spec = *spec;
	l->fd = spec->is_unix ? listen_unix(l, mode, NULL) :
	    listen_tcp(&l->spec);
	return l->fd < 0 ? -1 : 0;
}

void
listen_close(struct listener *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		const char *slash = strrchr(l[i].spec.path, '/');

		if (l[i].fd >= 0)
			close(l[i].fd);
		/* Our own socket files only (systemd owns activated ones), and
		 * only while the name is still the socket we bound. */
		if (l[i].dirfd >= 0 && slash != NULL &&
		    fstatat(l[i].dirfd, slash + 1, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISSOCK(st.st_mode) && st.st_dev == l[i].dev &&
		    st.st_ino == l[i].ino)
			(void)unlinkat(l[i].dirfd, slash + 1, 0);
		if (l[i].dirfd >= 0)
			close(l[i].dirfd);
		l[i].fd = -1;
		l[i].dirfd = -1;
	}
}

