/*
 * keyhole-net: the child that faces the sandbox.
 *
 *   keyhole-net child N        started by keyhole only: fds 3 (parent),
 *                              4 (policy text), 5..5+N-1 (listeners)
 *   keyhole-net check-policy F compile F, print it or its errors
 *
 * Start-up order (DESIGN.md): check the fixed fds → close every other fd →
 * read MSG_CONFIG → read the policy text → create the event base →
 * confine (sandbox.c) → compile the policy → send the table to the parent
 * → wait for POLICY_OK → only then accept connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "net.h"
#include "policy_compile.h"
#include "sandbox.h"

#ifdef KH_SANITIZE
/*
 * Sanitizer builds only (cmake -DKH_SANITIZE=ON, for tests).  The child
 * starts with an empty environment, so ASAN_OPTIONS cannot reach it; these
 * are its defaults.  Its reports go to fd 2, the parent's stderr in these
 * builds (supervise.c), unsymbolized inside the sandbox (module+offset:
 * `addr2line -e keyhole-net OFFSET`).
 *  - detect_leaks=0: LeakSanitizer's exit-time check stops the world with
 *    a ptrace()ing thread (clone + ptrace), which the child's seccomp
 *    filter kills.  Leaks are the unit tests' and the fuzzers' job, where
 *    nothing is confined.
 *  - color=never: deciding on colours calls isatty(), an ioctl the filter
 *    kills, before a word of the report is written.
 */
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);

const char *
__asan_default_options(void)
{
	return "detect_leaks=0:color=never";
}

const char *
__ubsan_default_options(void)
{
	return "color=never:print_stacktrace=1";
}
#endif

static void __attribute__((noreturn))
net_fatal(const char *why)
{
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_FATAL, 0);
	msg_put_cstr(&w, why);
	(void)link_send_blocking(&w);
	_exit(1);
}

static void
net_diag_to_parent(void *arg, const char *msg)
{
	(void)arg;
	log_error("%s", msg);
}

static void
net_diag_to_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

/* libevent's own warnings go to the parent like every other line. */
static void
net_event_log(int severity, const char *msg)
{
	log_msg(severity >= EVENT_LOG_ERR ? LOG_ERROR :
	    severity == EVENT_LOG_WARN ? LOG_WARN : LOG_DEBUG, "libevent: %s",
	    msg);
}

static int
net_read_fd(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	*len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		*len += (size_t)n;
		if (*len == cap)
			return -1;	/* over the limit */
	}
}

static int
net_check_policy(const char *file)
{
	static uint8_t text[KH_POLICY_TEXT_MAX + 1];
	struct policy pol;
	size_t len;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		fprintf(stderr, "%s: cannot open: %s\n", file, strerror(errno));
		return 1;
	}
	if (net_read_fd(fd, text, sizeof(text), &len) < 0) {
		fprintf(stderr, "%s: unreadable or larger than %u bytes\n", file,
		    KH_POLICY_TEXT_MAX);
		close(fd);
		return 1;
	}
	close(fd);
	policy_init(&pol);
	int errs = policy_compile(file, text, len, &pol, net_diag_to_stderr,
	    NULL);
	if (errs > 0) {
		fprintf(stderr, "%s: %d error%s\n", file, errs,
		    errs == 1 ? "" : "s");
		return 1;
	}
	policy_print(stdout, &pol);
	policy_free(&pol);
	return 0;
}

/* The parent promised exactly these fds; anything else is a bug worth
 * stopping for. */
static void
net_check_fds(unsigned nlisten)
{
	struct stat st;

	if (fstat(KH_CHILD_FD_PARENT, &st) < 0 || !S_ISSOCK(st.st_mode))
		_exit(1);
	syscall(SYS_close_range, KH_CHILD_FD_LISTEN + nlisten, ~0U, 0);
	if (fstat(KH_CHILD_FD_POLICY, &st) < 0)
		net_fatal("fd 4 (policy) missing");
	for (unsigned i = 0; i < nlisten; i++)
		if (fstat(KH_CHILD_FD_LISTEN + (int)i, &st) < 0 ||
		    !S_ISSOCK(st.st_mode))
			net_fatal("listener fd missing");
}

static int
net_child(unsigned nlisten)
{
	static struct net N;
	static uint8_t text[KH_POLICY_TEXT_MAX + 1];
	static uint8_t cbuf[4096];
	struct net *n = &N;
	struct msg_hdr h;
	struct msg_reader r;
	size_t len;

	net_check_fds(nlisten);
	log_init("keyhole-net", link_log_sink);
	event_set_log_callback(net_event_log);
	if (link_read_frame_blocking(cbuf, sizeof(cbuf), &h) < 0 ||
	    h.type != MSG_CONFIG)
		net_fatal("expected MSG_CONFIG");
	msg_reader_init(&r, cbuf, h.length);
	if (child_config_decode(&r, &n->cfg) < 0 ||
	    n->cfg.nlisteners != nlisten)
		net_fatal("malformed MSG_CONFIG");
	if (net_read_fd(KH_CHILD_FD_POLICY, text, sizeof(text), &len) < 0)
		net_fatal("policy text unreadable or too large");
	close(KH_CHILD_FD_POLICY);
	n->nlisteners = nlisten;
	n->base = event_base_new();
	if (n->base == NULL)
		net_fatal("cannot create the event base");

	sandbox_confine(&n->cfg);

	/* From here on every byte is parsed under the full sandbox. */
	policy_init(&n->policy);
	int errs = policy_compile(n->cfg.policy_name, text, len, &n->policy,
	    net_diag_to_parent, NULL);
	if (errs > 0) {
		char why[64];
		snprintf(why, sizeof(why), "policy has %d error%s", errs,
		    errs == 1 ? "" : "s");
		net_fatal(why);
	}
	n->max_body = n->cfg.max_body;
	if (n->policy.max_body != 0 && n->policy.max_body < n->max_body)
		n->max_body = n->policy.max_body;
	n->lim.max_head = n->cfg.max_head;
	n->lim.max_fields = n->cfg.max_headers;
	n->lim.max_body = n->max_body;

	struct wbuf w;
	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	policy_encode(&n->policy, &w);
	if (link_send_blocking(&w) < 0)
		_exit(1);
	kh_net = n;
	link_attach(n);
	event_base_dispatch(n->base);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "check-policy") == 0)
		return net_check_policy(argv[2]);
	if (argc == 3 && strcmp(argv[1], "child") == 0 &&
	    argv[2][0] >= '1' && argv[2][0] <= '0' + (int)KH_LISTENERS_MAX &&
	    argv[2][1] == '\0')
		return net_child((unsigned)(argv[2][0] - '0'));
	fprintf(stderr, "keyhole-net is started by keyhole; see keyhole --help\n");
	return 2;
}
