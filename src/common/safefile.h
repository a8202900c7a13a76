/*
 * keyhole's files where someone else may be able to write (OpenSSH's
 * safe_path, OpenSMTPD's queue): the directory is opened once, and from
 * then on everything is done by descriptor or relative to it; a file is
 * created O_CREAT|O_EXCL|O_NOFOLLOW under a name nobody can predict and
 * renamed into place, so a planted symlink, FIFO or hard link at any name
 * keyhole uses is never followed, truncated or written through.
 */
#ifndef KH_SAFEFILE_H
#define KH_SAFEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Longest final name safefile_replace_at takes (its temporary name adds
 * ".<16 hex>.tmp" and must stay within NAME_MAX). */
#define SAFEFILE_NAME_MAX 200

/* Write len bytes to `name` in the directory dfd: a new file
 * ".<name>.<random>.tmp" (O_CREAT|O_EXCL|O_NOFOLLOW, mode, fsync'ed) is
 * renamed over `name`, which is replaced, never followed.  Returns 0, or
 * -1 with errno set and no temporary file left. */
int safefile_replace_at(int dfd, const char *name, const void *buf,
    size_t len, mode_t mode);

/* The same for a path: its directory (the operator named it) is opened
 * once and the file written relative to that fd. */
int safefile_replace(const char *path, const void *buf, size_t len,
    mode_t mode);

/* Open the directory holding `path` (O_DIRECTORY, following the operator's
 * own path) and return its fd; *base points at the final name in path.
 * Returns -1 with errno set (ENAMETOOLONG, EINVAL for a name ending in
 * '/' or ".."). */
int safefile_open_parent(const char *path, const char **base);

/* True when only root and `uid` can change the directory's entries: it is
 * owned by one of them and writable by neither its group nor others.  A
 * sticky bit does not help: others could still create the names keyhole
 * is about to use. */
bool safefile_dir_private(const struct stat *st, uid_t uid);

#endif
