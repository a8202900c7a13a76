/*
 * queue_file_read: a request file is read only when it is a regular file
 * with one link, within the size limit, and unchanged from the first fstat
 * to after the read.  The test hook changes the file at the worst moment
 * (after the checks, before the read), deterministically.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kh_test.h"
#include "queue_file.h"

static char dir[] = "/tmp/kh-qfile-XXXXXX";
static int dfd;

static void
put(const char *name, const char *data)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		abort();
	close(fd);
}

static int
rd(const char *name, uint64_t max, const char **why)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int st = queue_file_read(dfd, name, max, &buf, &len, why);
	if (st == 0 && (buf == NULL || buf[len] != '\0'))
		st = -1;
	free(buf);
	return st;
}

static void hook_append(int fd) { (void)fd; put("grow.json.w", ""); int w = openat(dfd, "grow.json", O_WRONLY | O_APPEND); if (write(w, " ", 1) != 1) abort(); close(w); }
static void hook_truncate(int fd) { (void)fd; int w = openat(dfd, "shrink.json", O_WRONLY); if (ftruncate(w, 3) != 0) abort(); close(w); }

int
main(void)
{
	const char *why = NULL;

	if (mkdtemp(dir) == NULL)
		return 2;
	dfd = open(dir, O_RDONLY | O_DIRECTORY);

	/* queue_file_reads_a_regular_file */
	put("ok.json", "{\"a\":1}");
	CHECK_EQ_INT(rd("ok.json", 100, &why), 0);

	/* queue_file_refuses_symlink_fifo_directory_hardlink */
	put("target", "{}");
	CHECK(symlinkat("target", dfd, "link.json") == 0);
	CHECK_EQ_INT(rd("link.json", 100, &why), 400);
	CHECK(mkfifoat(dfd, "fifo.json", 0600) == 0);
	CHECK_EQ_INT(rd("fifo.json", 100, &why), 400);	/* and did not block */
	CHECK(mkdirat(dfd, "dir.json", 0700) == 0);
	CHECK_EQ_INT(rd("dir.json", 100, &why), 400);
	CHECK(linkat(dfd, "target", dfd, "hard.json", 0) == 0);
	CHECK_EQ_INT(rd("hard.json", 100, &why), 400);
	CHECK_EQ_INT(rd("missing.json", 100, &why), 400);

	/* queue_file_size_checked_before_reading */
	put("big.json", "0123456789");
	CHECK_EQ_INT(rd("big.json", 9, &why), 413);
	CHECK_EQ_INT(rd("big.json", 10, &why), 0);

	/* queue_file_refuses_a_file_that_grows_while_read */
	put("grow.json", "{\"a\":1}  ");
	queue_file_test_hook = hook_append;
	CHECK_EQ_INT(rd("grow.json", 100, &why), 400);
	CHECK_EQ_STR(why, "changed while being read");
	/* queue_file_refuses_a_file_that_shrinks_while_read */
	put("shrink.json", "{\"a\":1}  ");
	queue_file_test_hook = hook_truncate;
	CHECK_EQ_INT(rd("shrink.json", 100, &why), 400);
	CHECK_EQ_STR(why, "changed while being read");
	queue_file_test_hook = NULL;

	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 2;
	TEST_DONE();
}
