/*
 * Access-line batching (src/common/log.c, log_batch_begin): access lines
 * wait until log_batch_flush(), the first one of a batch calls `arm`
 * once, any other line writes what waits before itself (the order
 * stays), a batch never holds more than LOG_BATCH_MAX bytes and is
 * written as whole lines, log_batch_end() writes the rest and stops
 * batching, and a forked process never writes the parent's waiting
 * lines a second time.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kh_test.h"
#include "log.h"

static int rd, arms;

static void
arm(void)
{
	arms++;
}

static int
pending(void)
{
	int n = 0;

	ioctl(rd, FIONREAD, &n);
	return n;
}

static char *
drain(void)
{
	static char out[1 << 17];
	ssize_t n = read(rd, out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

static int
count(const char *s, const char *what)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

static void
access_line(unsigned long long id)
{
	struct log_access a = {
		.id = id, .peer = "unix", .method = "GET",
		.path = "/api/issues", .rule = "policy:1", .status = 200,
		.upstream_ms = 1,
	};
	log_access("keyhole", 1, &a);
}

int
main(void)
{
	int fds[2];
	char *out;

	if (pipe(fds) < 0)
		return 2;
	fcntl(fds[1], F_SETPIPE_SZ, 1 << 17);
	rd = fds[0];
	log_init("keyhole", NULL);
	log_set_format(LOG_FMT_TEXT);
	log_set_fd(fds[1]);

	/* Outside a batch, an access line is written at once. */
	access_line(1);
	CHECK(pending() > 0);
	drain();

	/* Lines wait; the first arms the flush, once. */
	log_batch_begin(arm);
	access_line(2);
	access_line(3);
	CHECK_EQ_INT(pending(), 0);
	CHECK_EQ_INT(arms, 1);
	log_batch_flush();
	out = drain();
	CHECK(strstr(out, "id=2 ") != NULL && strstr(out, "id=3 ") != NULL &&
	    strstr(out, "id=2 ") < strstr(out, "id=3 "));
	log_batch_flush();			/* nothing waits: no write */
	CHECK_EQ_INT(pending(), 0);

	/* Another line writes what waits first. */
	access_line(4);
	CHECK_EQ_INT(arms, 2);
	log_msg(LOG_WARN, "something else");
	out = drain();
	CHECK(strstr(out, "id=4 ") != NULL &&
	    strstr(out, "something else") != NULL &&
	    strstr(out, "id=4 ") < strstr(out, "something else"));

	/* A batch never holds more than LOG_BATCH_MAX bytes, and what is
	 * written is whole lines. */
	int written = 0, emitted = 0;
	for (unsigned long long id = 100; id < 400; id++) {
		int before = pending();
		access_line(id);
		int after = pending();
		if (after > before) {
			written = after;
			out = drain();
			CHECK(out[strlen(out) - 1] == '\n');
			CHECK((size_t)(after - before) <= LOG_BATCH_MAX);
			CHECK_EQ_INT(count(out, "\n"),
			    count(out, "info: request"));
			emitted += count(out, "\n");
		}
	}
	CHECK(written > 0);
	log_batch_flush();
	emitted += count(drain(), "\n");
	CHECK_EQ_INT(emitted, 300);

	/* A forked process does not write the parent's waiting line. */
	access_line(5000);
	pid_t pid = fork();
	if (pid == 0) {
		log_msg(LOG_WARN, "from the forked process");
		_exit(0);
	}
	int st;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	log_batch_end();
	out = drain();
	CHECK_EQ_INT(count(out, "id=5000 "), 1);
	CHECK_EQ_INT(count(out, "from the forked process"), 1);

	/* After log_batch_end, lines are written at once again. */
	access_line(6000);
	CHECK(strstr(drain(), "id=6000 ") != NULL);
	TEST_DONE();
}
