/*
 * keyhole parent, queue_v1 transport: the queue directory's set-up.  The
 * parent never reads a request file (they come from the sandbox); it only
 * opens the directories once, at start, so every child gets the same fds
 * (child_config.h: 13 requests/, 14 processing/, 15 responses/, 16 an
 * inotify instance watching requests/, 17 the queue directory to chroot
 * into when root).
 *
 *   DIR/requests/    written by the gateway in the sandbox
 *   DIR/processing/  requests keyhole has claimed (at-most-once)
 *   DIR/responses/   written by keyhole
 *   DIR/logs/        the gateway's (Paperclip's gateway logs there)
 *   DIR/ready.json   written by the GATEWAY, about its own listener: the
 *                    host side never writes it (Paperclip's host waits for
 *                    the gateway's)
 *
 * Every component is opened O_DIRECTORY|O_NOFOLLOW relative to DIR's fd:
 * a symlink planted in DIR is refused, never followed.  As root, the
 * directories keyhole creates belong to the child's user, so the child
 * (setuid to it) can use them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "priv.h"
#include "sbx.h"

/*
 * The child (root: --user, default nobody; else keyhole's own uid) must be
 * able to list, create and remove entries.  As root, a directory owned by
 * root (created by keyhole, or by a gateway running as root) is given to
 * the child's user; one owned by anybody else is left alone and must
 * already allow it — a start-up error says how otherwise.
 */
static int
queue_subdir_usable(struct parent *p, int fd, const char *name)
{
	const char *dir = p->cfg->queue_dir;
	struct stat st;
	bool ok;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!p->ccfg.drop_user) {
		ok = faccessat(fd, ".", R_OK | W_OK | X_OK, AT_EACCESS) == 0;
	} else {
		if (st.st_uid == 0 && fchown(fd, (uid_t)p->ccfg.uid, (gid_t)-1) == 0)
			st.st_uid = (uid_t)p->ccfg.uid;
		mode_t m = st.st_mode;
		if (st.st_uid == (uid_t)p->ccfg.uid)
			ok = (m & S_IRWXU) == S_IRWXU;
		else if (st.st_gid == (gid_t)p->ccfg.gid)
			ok = (m & S_IRWXG) == S_IRWXG;
		else
			ok = (m & S_IRWXO) == S_IRWXO;
	}
	if (!ok) {
		log_fatal("--queue-dir %s: %s/ must be readable, "
		    "writable and searchable by keyhole's child (uid %u): chown "
		    "it, or run with --user set to its owner", dir, name,
		    p->ccfg.drop_user ? p->ccfg.uid : (unsigned)geteuid());
		return -1;
	}
	return 0;
}

static int
queue_subdir(struct parent *p, int dfd, const char *name, mode_t mode)
{
	const char *dir = p->cfg->queue_dir;
	struct stat st;
	bool created;
	int fd;

	created = mkdirat(dfd, name, mode) == 0;
	if (!created && errno != EEXIST) {
		log_fatal("--queue-dir %s: cannot create %s/: "
		    "%s", dir, name, strerror(errno));
		return -1;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		log_fatal("--queue-dir %s: %s/ %s", dir, name,
		    errno == ELOOP || errno == ENOTDIR ? "is not a directory "
		    "(a symlink or a file); remove it" : strerror(errno));
		return -1;
	}
	/* DIR is the sandbox's to write: between mkdirat and openat the name
	 * may have become another entry.  Whatever was opened is what gets
	 * checked and chown'ed, through its fd, never again by name; only a
	 * root-owned directory (the one just made) is given away. */
	if (created && p->ccfg.drop_user) {
		if (fstat(fd, &st) < 0 || (st.st_uid == 0 &&
		    fchown(fd, (uid_t)p->ccfg.uid, (gid_t)p->ccfg.gid) < 0)) {
			log_fatal("--queue-dir %s: cannot give "
			    "%s/ to uid %u: %s", dir, name, p->ccfg.uid,
			    strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (strcmp(name, "logs") != 0 && queue_subdir_usable(p, fd, name) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * What keeps a compromised child inside the queue: as root, the chroot
 * into it; otherwise only Landlock (seccomp lets openat(13, "../../x",
 * O_NOFOLLOW) through, and the child has keyhole's own uid).  Without
 * either, refuse to start rather than serve a queue the child could leave
 * (the child refuses too, sandbox.c).
 */
static int
queue_confinement_check(const struct parent *p)
{
	long abi;

	if (p->ccfg.queue_chroot)
		return 0;
	if ((abi = sbx_landlock_abi()) >= KH_LANDLOCK_ABI_MIN)
		return 0;
	log_fatal("--queue-dir %s: keyhole is not running as "
	    "root, so its child cannot be chrooted into the queue, and this "
	    "kernel offers no Landlock ABI %d (found %ld; Linux 5.19 or later "
	    "with landlock in its lsm= list): nothing would keep a compromised "
	    "child inside the queue directory; it could read every file uid "
	    "%u can, the credential included.  Run keyhole as root (the child "
	    "then chroots into the queue and runs as --user), or on a kernel "
	    "with Landlock enabled.", p->cfg->queue_dir, KH_LANDLOCK_ABI_MIN,
	    abi, (unsigned)geteuid());
	return -1;
}

int
queue_dirs_open(struct parent *p)
{
	const char *dir = p->cfg->queue_dir;
	int dfd, fds[3];

	for (size_t i = 0; i < 5; i++)
		p->queue_fds[i] = -1;
	if (queue_confinement_check(p) < 0)
		return -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		log_fatal("--queue-dir %s: %s (create it, a "
		    "directory, not a symlink)", dir, strerror(errno));
		return -1;
	}
	if ((fds[0] = queue_subdir(p, dfd, "requests", 0770)) < 0 ||
	    (fds[1] = queue_subdir(p, dfd, "processing", 0700)) < 0 ||
	    (fds[2] = queue_subdir(p, dfd, "responses", 0770)) < 0) {
		close(dfd);
		return -1;
	}
	/* One keyhole per queue: a second one would answer the first one's
	 * in-flight claims as "left by a previous run".  The lock lives on
	 * processing/'s open file, so it ends with the last process holding
	 * it (the child dies with the parent). */
	if (flock(fds[1], LOCK_EX | LOCK_NB) < 0) {
		log_fatal("--queue-dir %s: %s", dir,
		    errno == EWOULDBLOCK ? "another keyhole serves this queue "
		    "(processing/ is locked)" : strerror(errno));
		close(dfd);
		return -1;
	}
	int lfd = queue_subdir(p, dfd, "logs", 0770);
	if (lfd < 0) {
		close(dfd);
		return -1;
	}
	close(lfd);
	p->queue_fds[0] = fds[0];
	p->queue_fds[1] = fds[1];
	p->queue_fds[2] = fds[2];
	p->queue_fds[4] = dfd;
	p->ccfg.queue = true;
	p->ccfg.queue_poll_ms = p->cfg->queue_poll_ms;
	if (p->cfg->queue_poll)
		return 0;
	/* The watch names the directory through the fd already opened, so it
	 * watches exactly that inode whatever happens to the path. */
	int ifd = notify_watch(fds[0], IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE);
	if (ifd < 0) {
		log_warn("queue: inotify unavailable (%s); polling every %u ms",
		    strerror(errno), p->cfg->queue_poll_ms);
		return 0;
	}
	p->queue_fds[3] = ifd;
	p->ccfg.queue_inotify = true;
	return 0;
}
