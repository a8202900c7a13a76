/*
 * keyhole-net: the child that faces the sandbox.
 *
 *   keyhole-net child N        started by keyhole only: fds 3 (parent),
 *                              4 (policy text), 5..5+N-1 (listeners)
 *   keyhole-net check-policy F [--var K=V]...
 *                              compile F, print it or its errors
 *   keyhole-net explain F METHOD PATH [--var K=V]...
 *                              which rule of F allows the request, or why
 *                              it is denied
 *
 * Start-up order (docs/design.md, "Processes"): check the fixed fds → close every other fd →
 * read MSG_CONFIG → read the policy text → create the event base →
 * confine (sandbox.c: first whatever would open a file by name later —
 * the time zone, libcap-ng's /proc reads —, then the chroot, after which
 * nothing is looked up by name) → compile the policy → send the table to
 * the parent → wait for POLICY_OK → only then accept connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "evloop.h"
#include "net.h"
#include "policy_compile.h"
#include "policy_explain.h"
#include "sandbox.h"
#include "util.h"

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

static void
net_diag_to_parent(void *arg, bool warning, const char *msg)
{
	(void)arg;
	if (warning)
		log_warn("%s", msg);
	else
		log_error("%s", msg);
}

static void
net_diag_to_stderr(void *arg, bool warning, const char *msg)
{
	int *nwarn = arg;

	if (warning && nwarn != NULL)
		(*nwarn)++;
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
	ssize_t n = util_read_upto(fd, buf, cap);

	*len = n > 0 ? (size_t)n : 0;
	return n < 0 || (size_t)n == cap ? -1 : 0;	/* error, over the limit */
}

/* Read and compile FILE for check-policy / explain (operator tools, run
 * outside any sandbox).  Returns 0, 1 (errors, reported) or 2. */
static int
net_compile_file(const char *file, const struct pol_bindings *bind,
    unsigned flags, struct policy *pol)
{
	static uint8_t text[KH_POLICY_TEXT_MAX + 1];
	size_t len;
	int nwarn = 0;
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
	int errs = policy_compile(file, text, len, bind, flags, pol,
	    net_diag_to_stderr, &nwarn);
	if (errs > 0) {
		fprintf(stderr, "%s: %d error%s\n", file, errs,
		    errs == 1 ? "" : "s");
		return 1;
	}
	return 0;
}

/* argv[from..argc) must be `--var NAME=VALUE` pairs; then
 * $KEYHOLE_VAR_NAME for every name they leave unbound, as `keyhole
 * serve` reads them.  Returns 0 or 2. */
static int
net_parse_vars(int argc, char **argv, int from, struct pol_bindings *b)
{
	const char *bad = NULL;
	char why[512];

	for (int i = from; i < argc; i += 2) {
		if (strcmp(argv[i], "--var") != 0 || i + 1 == argc) {
			fprintf(stderr, "keyhole: unexpected argument '%s' "
			    "(expected --var NAME=VALUE)\n", argv[i]);
			return 2;
		}
		if (policy_binding_add(b, argv[i + 1], why, sizeof(why)) < 0) {
			fprintf(stderr, "keyhole: --var %s: %s\n", argv[i + 1],
			    why);
			return 2;
		}
	}
	if (policy_bindings_env(b, environ, &bad, why, sizeof(why)) < 0) {
		fprintf(stderr, "keyhole: %.*s: %s\n", (int)strcspn(bad, "="),
		    bad, why);
		return 2;
	}
	return 0;
}

/* check-policy FILE [--var K=V]...: without a binding (--var or
 * $KEYHOLE_VAR_*), variables may stay unbound (the policy is audited, not
 * run); with any, exactly as `keyhole serve` with them would compile it. */
static int
net_check_policy(int argc, char **argv)
{
	struct pol_bindings bind;
	struct policy pol;
	int rc;

	memset(&bind, 0, sizeof(bind));
	if ((rc = net_parse_vars(argc, argv, 3, &bind)) != 0)
		return rc;
	if ((rc = net_compile_file(argv[2], &bind, bind.n > 0 ? 0 :
	    POLICY_LENIENT, &pol)) != 0)
		return rc;
	policy_print(stdout, &pol);
	policy_free(&pol);
	return 0;
}

/* explain FILE METHOD PATH [--var K=V]...: exit 0 allowed, 1 denied, 2
 * when the policy or the arguments are wrong. */
static int
net_explain(int argc, char **argv)
{
	struct pol_bindings bind;
	struct policy pol;
	int rc;

	memset(&bind, 0, sizeof(bind));
	if ((rc = net_parse_vars(argc, argv, 5, &bind)) != 0)
		return rc;
	if (net_compile_file(argv[2], &bind, POLICY_LENIENT, &pol) != 0)
		return 2;
	rc = policy_explain(stdout, &pol, argv[3], argv[4], KH_DEF_BODY);
	policy_free(&pol);
	return rc;
}

/* The parent promised exactly these fds; anything else is a bug worth
 * stopping for. */
static void
net_check_fds(unsigned nlisten)
{
	struct stat st;

	if (fstat(KH_CHILD_FD_PARENT, &st) < 0 || !S_ISSOCK(st.st_mode))
		_exit(1);
	/* Keep the queue fds' range (13-17) until MSG_CONFIG says whether
	 * the queue transport is on (net_check_queue_fds). */
	if (KH_CHILD_FD_LISTEN + (int)nlisten < KH_CHILD_FD_QREQ)
		syscall(SYS_close_range, KH_CHILD_FD_LISTEN + nlisten,
		    KH_CHILD_FD_QREQ - 1, 0);
	syscall(SYS_close_range, KH_CHILD_FD_LAST + 1, ~0U, 0);
	if (fstat(KH_CHILD_FD_POLICY, &st) < 0)
		link_fatal("fd 4 (policy) missing");
	for (unsigned i = 0; i < nlisten; i++)
		if (fstat(KH_CHILD_FD_LISTEN + (int)i, &st) < 0 ||
		    !S_ISSOCK(st.st_mode))
			link_fatal("listener fd missing");
}

/* The operator's metrics listener (fd 18), or nothing there. */
static void
net_check_metrics_fd(const struct child_config *cfg)
{
	struct stat st;

	if (!cfg->metrics)
		close(KH_CHILD_FD_METRICS);
	else if (fstat(KH_CHILD_FD_METRICS, &st) < 0 || !S_ISSOCK(st.st_mode))
		link_fatal("metrics listener fd missing");
}

/* queue_v1: three directories, an inotify instance (when used) and the
 * queue root (when chrooting); without the queue, none of 13-17. */
static void
net_check_queue_fds(const struct child_config *cfg)
{
	struct stat st;

	if (!cfg->queue) {
		syscall(SYS_close_range, KH_CHILD_FD_QREQ, KH_CHILD_FD_QROOT, 0);
		return;
	}
	for (int fd = KH_CHILD_FD_QREQ; fd <= KH_CHILD_FD_QRESP; fd++)
		if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
			link_fatal("queue directory fd missing");
	if (!cfg->queue_inotify)
		close(KH_CHILD_FD_QNOTIFY);
	else if (fcntl(KH_CHILD_FD_QNOTIFY, F_GETFD) < 0)
		link_fatal("queue inotify fd missing");
	if (!cfg->queue_chroot)
		close(KH_CHILD_FD_QROOT);
	else if (fstat(KH_CHILD_FD_QROOT, &st) < 0 || !S_ISDIR(st.st_mode))
		link_fatal("queue root fd missing");
}

/* http2_v1 (--connect): the command's stdout, stdin, stderr; without it,
 * none of 19-21. */
static void
net_check_h2_fds(const struct child_config *cfg)
{
	if (!cfg->connect) {
		syscall(SYS_close_range, KH_CHILD_FD_H2IN, KH_CHILD_FD_H2ERR, 0);
		return;
	}
	for (int fd = KH_CHILD_FD_H2IN; fd <= KH_CHILD_FD_H2ERR; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			link_fatal("connect: the command's pipe fd %d missing",
			    fd);
	/* A write to a command that has exited is EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
}

static int
net_child(unsigned nlisten)
{
	static struct net N;
	static uint8_t text[KH_POLICY_TEXT_MAX + 1];
	static uint8_t cbuf[KH_CONFIG_MAX];
	struct net *n = &N;
	struct msg_hdr h;
	struct msg_reader r;
	size_t len;

	net_check_fds(nlisten);
	log_init("keyhole-net", link_log_sink);
	event_set_log_callback(net_event_log);
	if (link_read_frame_blocking(cbuf, sizeof(cbuf), &h) < 0 ||
	    h.type != MSG_CONFIG)
		link_fatal("expected MSG_CONFIG");
	msg_reader_init(&r, cbuf, h.length);
	if (child_config_decode(&r, &n->cfg) < 0 ||
	    n->cfg.nlisteners != nlisten)
		link_fatal("malformed MSG_CONFIG");
	/* The child's lines are cut to KH_LOG_MAX before the parent sees
	 * them: mask the token here too, so a cut cannot leave its first
	 * bytes for the parent to miss. */
	log_redact(n->cfg.token, n->cfg.token_len);
	net_check_queue_fds(&n->cfg);
	net_check_metrics_fd(&n->cfg);
	/* The parent writes these upstream itself: the policy may not
	 * allowlist them, nor may a request carry them (as the parent's own
	 * request_check refuses them). */
	for (size_t i = 0; i < n->cfg.nforbid; i++)
		if (policy_forbid_add(n->cfg.forbid[i],
		    strlen(n->cfg.forbid[i])) < 0)
			link_fatal("malformed MSG_CONFIG");
	net_check_h2_fds(&n->cfg);
	if (net_read_fd(KH_CHILD_FD_POLICY, text, sizeof(text), &len) < 0)
		link_fatal("policy text unreadable or too large");
	close(KH_CHILD_FD_POLICY);
	n->nlisteners = nlisten;
	conn_mem_tune();
	n->base = evloop_base_new();
	if (n->base == NULL)
		link_fatal("cannot create the event base");

	sandbox_confine(&n->cfg);

	/* From here on every byte is parsed under the full sandbox. */
	policy_init(&n->policy);
	int errs = policy_compile(n->cfg.policy_name, text, len, &n->cfg.vars,
	    0, &n->policy, net_diag_to_parent, NULL);
	if (errs > 0)
		link_fatal("policy has %d error%s", errs, errs == 1 ? "" : "s");
	/* The parser reads up to the largest limit of any rule; gate_head
	 * then holds each request to its own rule's. */
	n->max_body = policy_body_limit_any(&n->policy, n->cfg.max_body);
	if (budget_init(&n->budget, &n->policy, n->cfg.mutations_used,
	    (uint64_t)util_now_ms()) < 0)
		link_fatal("out of memory for the budgets");
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
	if (argc >= 3 && strcmp(argv[1], "check-policy") == 0)
		return net_check_policy(argc, argv);
	if (argc >= 5 && strcmp(argv[1], "explain") == 0)
		return net_explain(argc, argv);
	if (argc == 3 && strcmp(argv[1], "child") == 0 &&
	    argv[2][0] >= '0' && argv[2][0] <= '0' + (int)KH_LISTENERS_MAX &&
	    argv[2][1] == '\0')
		return net_child((unsigned)(argv[2][0] - '0'));
	fprintf(stderr, "keyhole-net is started by keyhole; see keyhole --help\n");
	return 2;
}
