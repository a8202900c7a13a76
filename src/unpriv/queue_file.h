/* keyhole-net: reading one hostile queue file (queue_file.c). */
#ifndef KH_QUEUE_FILE_H
#define KH_QUEUE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* The raw fstat syscall: glibc's fstat() is newfstatat(fd, "",
 * AT_EMPTY_PATH), a path-taking call the child's filter does not allow. */
int queue_file_fstat(int fd, struct stat *st);

/*
 * Read dirfd/name, a file the sandbox controls: never following a
 * symlink, never opening a FIFO or device for reading (an O_PATH handle
 * is looked at first), one link only, at most max bytes (checked before
 * reading), the same inode when opened, and unchanged (size, mtime, ctime)
 * from the first fstat to after the last read.  Returns 0 with a heap
 * buffer of *len bytes (NUL-terminated), or 400 / 413 / 503 with *why.
 */
int queue_file_read(int dirfd, const char *name, uint64_t max, uint8_t **out,
    size_t *len, const char **why);

/* Tests only: called with the open fd between the first fstat and the
 * first read, to change the file at the worst moment. */
extern void (*queue_file_test_hook)(int fd);

#endif
