/* keyhole-net: reading one hostile queue file; see queue_file.h. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "queue_file.h"
#include "util.h"

void (*queue_file_test_hook)(int fd);

int
queue_file_fstat(int fd, struct stat *st)
{
	return (int)syscall(SYS_fstat, fd, st);
}

static bool
queue_file_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int
queue_file_read(int dirfd, const char *name, uint64_t max, uint8_t **out,
    size_t *len, const char **why)
{
	struct stat pst, st, st2;
	int pfd, fd;
	uint8_t *buf;
	ssize_t got;

	*out = NULL;
	*len = 0;
	pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0) {
		*why = "vanished";
		return 400;
	}
	if (queue_file_fstat(pfd, &pst) < 0 || !S_ISREG(pst.st_mode)) {
		close(pfd);
		*why = "not a regular file (symlink, FIFO, device or directory)";
		return 400;
	}
	close(pfd);
	if (pst.st_nlink != 1) {
		*why = "a hard link";
		return 400;
	}
	if ((uint64_t)pst.st_size > max) {
		*why = "larger than the envelope limit";
		return 413;
	}
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	if (fd < 0) {
		*why = "cannot be opened";
		return 400;
	}
	if (queue_file_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    !queue_file_same(&pst, &st)) {
		close(fd);
		*why = "replaced or changed while being opened";
		return 400;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		*why = "out of memory";
		return 503;
	}
	if (queue_file_test_hook != NULL)
		queue_file_test_hook(fd);
	/* Ask for one byte more than fstat promised: getting it means the
	 * file grew. */
	got = util_read_upto(fd, buf, (size_t)st.st_size + 1);
	if (got != (ssize_t)st.st_size || queue_file_fstat(fd, &st2) < 0 ||
	    !queue_file_same(&st, &st2)) {
		close(fd);
		free(buf);
		*why = "changed while being read";
		return 400;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = (size_t)got;
	return 0;
}
