/*
 * The child's end of the socketpair (src/unpriv/link.c), run in a forked
 * process whose fd 3 is one end of a socketpair, as keyhole-net's is:
 *
 *  - child_fatal_after_start_reaches_the_parent: an error after the event
 *    loop started (a bad frame from the parent) ends the child with
 *    status 1, and the parent still receives, in order, the log line the
 *    child had queued and MSG_FATAL naming the error.  (Before, the
 *    reason was a log line queued in the bufferevent and lost with the
 *    _exit that followed: the parent saw the socket close, nothing else.)
 *  - child_fatal_before_start_reaches_the_parent: the same path with no
 *    event loop yet writes MSG_FATAL at once.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "kh_test.h"
#include "log.h"
#include "net.h"
#include "util.h"

static struct net N;

/* Read every frame from fd until EOF; return the types in order (up to
 * cap) and the text of the last MSG_LOG / MSG_FATAL line seen. */
static size_t
read_frames(int fd, uint8_t *types, size_t cap, char *log, char *fatal,
    size_t tcap)
{
	static uint8_t buf[1 << 20];
	size_t have = 0, n = 0, off = 0;
	ssize_t r;

	while (have < sizeof(buf) &&
	    (r = read(fd, buf + have, sizeof(buf) - have)) > 0)
		have += (size_t)r;
	while (have - off >= KH_WIRE_HDR) {
		struct msg_hdr h;
		struct msg_reader rd;
		const char *s;
		size_t sl;
		uint8_t level;

		if (msg_hdr_decode(buf + off, &h) < 0 ||
		    have - off - KH_WIRE_HDR < h.length)
			break;
		msg_reader_init(&rd, buf + off + KH_WIRE_HDR, h.length);
		if (h.type == MSG_LOG) {
			msg_get_u8(&rd, &level);
			if (msg_get_str(&rd, &s, &sl, KH_LOG_MAX) == 0 &&
			    sl < tcap) {
				memcpy(log, s, sl);
				log[sl] = '\0';
			}
		} else if (h.type == MSG_FATAL) {
			if (msg_get_str(&rd, &s, &sl, KH_LOG_MAX) == 0 &&
			    sl < tcap) {
				memcpy(fatal, s, sl);
				fatal[sl] = '\0';
			}
		}
		if (n < cap)
			types[n] = h.type;
		n++;
		off += KH_WIRE_HDR + h.length;
	}
	return n;
}

/* Fork a child with sv[1] at KH_CHILD_FD_PARENT; it runs fn. */
static pid_t
spawn(int sv[2], void (*fn)(void))
{
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		exit(1);
	if ((pid = fork()) < 0)
		exit(1);
	if (pid == 0) {
		close(sv[0]);
		if (dup2(sv[1], KH_CHILD_FD_PARENT) < 0)
			_exit(99);
		fn();
		_exit(98);
	}
	close(sv[1]);
	return pid;
}

static void
run_loop_child(void)
{
	N.base = event_base_new();
	if (N.base == NULL)
		_exit(97);
	log_init("keyhole-net", link_log_sink);
	kh_net = &N;
	link_attach(&N);
	/* Queued in the bufferevent, not yet written. */
	log_info("a line queued before the error");
	event_base_dispatch(N.base);
	_exit(96);
}

static void
child_fatal_after_start_reaches_the_parent(void)
{
	static const uint8_t bad[KH_WIRE_HDR] = { KH_WIRE_VERSION + 1, 0 };
	uint8_t types[8];
	char log[KH_LOG_MAX] = "", fatal[KH_LOG_MAX] = "";
	int sv[2], status;
	pid_t pid = spawn(sv, run_loop_child);
	size_t n;

	CHECK_EQ_INT(util_write_all(sv[0], bad, sizeof(bad)), 0);
	n = read_frames(sv[0], types, 8, log, fatal, sizeof(log));
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	CHECK_EQ_INT(n, 2);
	CHECK(n >= 2 && types[0] == MSG_LOG && types[1] == MSG_FATAL);
	CHECK_EQ_STR(log, "a line queued before the error");
	CHECK(strstr(fatal, "bad frame from the parent") != NULL);
	close(sv[0]);
}

static void
run_fatal_child(void)
{
	log_init("keyhole-net", link_log_sink);
	link_fatal("policy has %d errors", 3);
}

static void
child_fatal_before_start_reaches_the_parent(void)
{
	uint8_t types[8];
	char log[KH_LOG_MAX] = "", fatal[KH_LOG_MAX] = "";
	int sv[2], status;
	pid_t pid = spawn(sv, run_fatal_child);
	size_t n;

	n = read_frames(sv[0], types, 8, log, fatal, sizeof(log));
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	CHECK_EQ_INT(n, 1);
	CHECK(n >= 1 && types[0] == MSG_FATAL);
	CHECK_EQ_STR(fatal, "policy has 3 errors");
	close(sv[0]);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	child_fatal_after_start_reaches_the_parent();
	child_fatal_before_start_reaches_the_parent();
	TEST_DONE();
}
