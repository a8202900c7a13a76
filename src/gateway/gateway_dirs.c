/*
 * keyhole-gateway, the queue directory: made as Paperclip's gateway makes
 * it (mkdir -p, then requests/, responses/, logs/), but only where no
 * other user of the sandbox can interfere.  Other users must not read a
 * request body, plant a response, or hand the gateway a directory they
 * prepared (OpenSSH's safe_path is the model):
 *
 *   - the path is walked from "/" (or the working directory) one component
 *     at a time by fd, O_NOFOLLOW: a symlink anywhere is refused;
 *   - every existing ancestor belongs to root or to the gateway's user and
 *     is writable by nobody else, or is sticky (/tmp: others cannot rename
 *     or remove the gateway's entries there, and a name they took first
 *     belongs to them, which the next component's check refuses);
 *   - the queue directory itself belongs to root or to the gateway's user
 *     and is writable by nobody else (no sticky exception: others could
 *     create the names the gateway uses);
 *   - what the gateway creates is 0700 (request files are 0600,
 *     gateway_queue.c); an existing subdirectory may belong to the host
 *     side's user (keyhole gives it to its child), never be writable by
 *     everyone.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway.h"
#include "safefile.h"

/* Mode of everything the gateway creates: its own user only. */
#define GW_DIR_MODE 0700

static int
gw_dir_refuse(const struct gw *g, const char *what, const struct stat *st,
    const char *why)
{
	char whom[48] = "root";

	if (geteuid() != 0)
		snprintf(whom, sizeof(whom), "uid %u (or root)",
		    (unsigned)geteuid());
	fprintf(stderr, "keyhole-gateway: PAPERCLIP_BRIDGE_QUEUE_DIR=%s: %s "
	    "(owner uid %u, mode %04o) %s; use a directory that belongs to "
	    "%s and that no other user can write\n", g->qdir, what,
	    (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777), why, whom);
	return -1;
}

/* mkdir (0700) if missing, then open it by fd, never following a link. */
static int
gw_dir_step(const struct gw *g, int dfd, const char *name, const char *what)
{
	int fd;

	if (mkdirat(dfd, name, GW_DIR_MODE) < 0 && errno != EEXIST) {
		fprintf(stderr, "keyhole-gateway: PAPERCLIP_BRIDGE_QUEUE_DIR=%s: "
		    "cannot create %s: %s\n", g->qdir, what, strerror(errno));
		return -1;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "keyhole-gateway: PAPERCLIP_BRIDGE_QUEUE_DIR=%s: "
		    "%s: %s\n", g->qdir, what, errno == ELOOP || errno == ENOTDIR ?
		    "not a directory (a symlink or a file)" : strerror(errno));
	return fd;
}

/* Walk g->qdir; returns the queue directory's fd or -1 (reported). */
static int
gw_dir_walk(const struct gw *g)
{
	char path[PATH_MAX], *comp, *save = NULL;
	struct stat st;
	int fd, next;

	if (snprintf(path, sizeof(path), "%s", g->qdir) >= (int)sizeof(path)) {
		fprintf(stderr, "keyhole-gateway: PAPERCLIP_BRIDGE_QUEUE_DIR is "
		    "too long\n");
		return -1;
	}
	fd = open(path[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (comp = strtok_r(path, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		/* fd is the directory that holds comp */
		if (fstat(fd, &st) < 0 || (!safefile_dir_private(&st, geteuid()) &&
		    !(S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) &&
		    (st.st_uid == 0 || st.st_uid == geteuid())))) {
			char what[PATH_MAX + 16];
			snprintf(what, sizeof(what), "its directory '%.*s'",
			    comp == path ? 1 : (int)(comp - path), comp == path ?
			    "." : g->qdir);
			close(fd);
			return gw_dir_refuse(g, what, &st, "can be changed by "
			    "another user");
		}
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			fprintf(stderr, "keyhole-gateway: PAPERCLIP_BRIDGE_QUEUE_DIR"
			    "=%s: give a path without '..'\n", g->qdir);
			close(fd);
			return -1;
		}
		next = gw_dir_step(g, fd, comp, comp);
		close(fd);
		if (next < 0)
			return -1;
		fd = next;
	}
	if (fstat(fd, &st) < 0 || !safefile_dir_private(&st, geteuid())) {
		close(fd);
		return gw_dir_refuse(g, "the queue directory", &st,
		    "belongs to another user or can be written by others");
	}
	return fd;
}

/* requests/, responses/, logs/: ours when created; an existing one may be
 * the host side's, but never writable by everyone. */
static int
gw_dir_sub(const struct gw *g, const char *name)
{
	struct stat st;
	int fd = gw_dir_step(g, g->qfd, name, name);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (st.st_mode & S_IWOTH) != 0) {
		close(fd);
		return gw_dir_refuse(g, name, &st, "can be written by everyone");
	}
	return fd;
}

int
gw_queue_open(struct gw *g)
{
	int lfd;

	g->reqfd = g->respfd = -1;
	if ((g->qfd = gw_dir_walk(g)) < 0)
		return -1;
	g->reqfd = gw_dir_sub(g, "requests");
	g->respfd = g->reqfd < 0 ? -1 : gw_dir_sub(g, "responses");
	lfd = g->respfd < 0 ? -1 : gw_dir_sub(g, "logs");
	if (lfd < 0)
		return -1;
	close(lfd);
	return 0;
}
