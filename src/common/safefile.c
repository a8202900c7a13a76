/* keyhole's safe file writing: see safefile.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "safefile.h"
#include "util.h"

/* Attempts at an unused temporary name: with 64 random bits a collision
 * means someone is guessing, not chance. */
#define SAFEFILE_TRIES 4

static int
safefile_tmpname(const char *name, char *out, size_t cap)
{
	uint8_t r[8];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	if (snprintf(out, cap, ".%s.%02x%02x%02x%02x%02x%02x%02x%02x.tmp", name,
	    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) >= (int)cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
safefile_replace_at(int dfd, const char *name, const void *buf, size_t len,
    mode_t mode)
{
	char tmp[SAFEFILE_NAME_MAX + 32];
	int fd = -1, saved;

	if (strlen(name) > SAFEFILE_NAME_MAX || strchr(name, '/') != NULL ||
	    name[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < SAFEFILE_TRIES && fd < 0; i++) {
		if (safefile_tmpname(name, tmp, sizeof(tmp)) < 0)
			return -1;
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC | O_NOCTTY, mode);
		if (fd < 0 && errno != EEXIST)
			return -1;
	}
	if (fd < 0)
		return -1;
	if (util_write_all(fd, buf, len) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, name) < 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	(void)unlinkat(dfd, tmp, 0);
	errno = saved;
	return -1;
}

int
safefile_open_parent(const char *path, const char **base)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t dl;

	if (slash == NULL) {
		*base = path;
		return open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	*base = slash + 1;
	if (**base == '\0' || strcmp(*base, "..") == 0 ||
	    strcmp(*base, ".") == 0) {
		errno = EINVAL;
		return -1;
	}
	dl = slash == path ? 1 : (size_t)(slash - path);
	if (dl >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, dl);
	dir[dl] = '\0';
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int
safefile_replace(const char *path, const void *buf, size_t len, mode_t mode)
{
	const char *base;
	int dfd = safefile_open_parent(path, &base), rc, saved;

	if (dfd < 0)
		return -1;
	rc = safefile_replace_at(dfd, base, buf, len, mode);
	saved = errno;
	close(dfd);
	errno = saved;
	return rc;
}

bool
safefile_dir_private(const struct stat *st, uid_t uid)
{
	return S_ISDIR(st->st_mode) && (st->st_uid == 0 || st->st_uid == uid) &&
	    (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}
