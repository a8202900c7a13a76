/*
 * keyhole-gateway: main, configured by the environment as Paperclip's
 * gateway is:
 *
 *   PAPERCLIP_API_BRIDGE_MODE          queue_v1 (or unset) or http2_v1
 *   PAPERCLIP_BRIDGE_TOKEN             bridge token (required)
 *   PAPERCLIP_BRIDGE_HOST / _PORT      listener (127.0.0.1, 0 = any port;
 *                                      http2_v1: the port the host gave,
 *                                      required)
 *   PAPERCLIP_BRIDGE_MAX_BODY_BYTES    request/response body (10 MiB+64 KiB)
 *   PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS  deadline per request (queue_v1
 *                                      30000, http2_v1 60000)
 *   queue_v1:
 *   PAPERCLIP_BRIDGE_QUEUE_DIR         queue directory (required)
 *   PAPERCLIP_BRIDGE_POLL_INTERVAL_MS  response polling (100)
 *   PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH   request files waiting (64)
 *   http2_v1:
 *   PAPERCLIP_BRIDGE_NONCE             echoed in the READY line
 *
 * A numeric variable that is not a number in its range is refused at
 * start (Paperclip's Number() turns "abc" into NaN, which disables its
 * body limit: spec W12).  keyhole-gateway-static (KH_GW_NO_QUEUE) serves
 * http2_v1 only.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "gateway_ready.h"
#include "util.h"

#ifdef KH_SANITIZE
/* Sanitizer builds only: the gateway is confined like keyhole-net, and
 * for the same reasons (src/unpriv/main/net_main.c): LeakSanitizer's
 * exit-time ptrace and isatty() are calls its filter kills. */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "detect_leaks=0:color=never";
}
#endif

/* keyhole-gateway's one fatal-error path: the reason on stderr (the
 * sandbox's to read: keyhole-gateway has no log of its own), exit 1. */
static void __attribute__((noreturn, format(printf, 1, 2)))
gw_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "keyhole-gateway: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static uint64_t
gw_env_num(const char *name, uint64_t def, uint64_t min, uint64_t max)
{
	const char *v = getenv(name);
	uint64_t n;

	if (v == NULL || *v == '\0')
		return def;
	if (util_parse_u64(v, min, max, &n) < 0)
		gw_die("%s='%s' is not a number in [%llu, %llu]", name, v,
		    (unsigned long long)min, (unsigned long long)max);
	return n;
}

static void
gw_usage(void)
{
	printf("usage: keyhole-gateway   (configured by the environment)\n"
	    "\n"
	    "The sandbox side of Paperclip's bridge: listens on\n"
	    "PAPERCLIP_BRIDGE_HOST:PAPERCLIP_BRIDGE_PORT (127.0.0.1) and checks\n"
	    "'Authorization: Bearer $PAPERCLIP_BRIDGE_TOKEN'.\n"
	    "\n"
	    "PAPERCLIP_API_BRIDGE_MODE=http2_v1: the host runs this program as a\n"
	    "command (ssh, docker exec -i, kubectl exec -i); once listening it\n"
	    "writes {\"version\":2,\"type\":\"ready\",\"nonce\":"
	    "\"$PAPERCLIP_BRIDGE_NONCE\"}\n"
	    "on stdout and then speaks HTTP/2 (h2c) over stdin/stdout, one stream\n"
	    "per request; PAPERCLIP_BRIDGE_PORT is required.  Diagnostics go to\n"
	    "stderr, only when the session ends.\n"
	    "\n"
	    "PAPERCLIP_API_BRIDGE_MODE=queue_v1 (the default): writes each request\n"
	    "to $PAPERCLIP_BRIDGE_QUEUE_DIR/requests/ and answers from\n"
	    "responses/; writes $PAPERCLIP_BRIDGE_QUEUE_DIR/ready.json once\n"
	    "listening.%s\n"
	    "\n"
	    "Other variables: PAPERCLIP_BRIDGE_MAX_BODY_BYTES (%u),\n"
	    "PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS (queue_v1 %u, http2_v1 %u),\n"
	    "PAPERCLIP_BRIDGE_POLL_INTERVAL_MS (%u), PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH\n"
	    "(%u); KEYHOLE_GATEWAY_INOTIFY=0 polls for responses only.\n",
#ifdef KH_GW_NO_QUEUE
	    "  (Not in this static build.)",
#else
	    "",
#endif
	    KH_GW_DEF_BODY, KH_GW_DEF_TIMEOUT_MS, KH_GW_H2_DEF_TIMEOUT_MS,
	    KH_GW_DEF_POLL_MS, KH_GW_DEF_QUEUE_DEPTH);
}

/* The listener; in http2_v1 a port still held by the gateway of the
 * host's previous session is tried again for KH_GW_BIND_RETRY_MS. */
static void
gw_bind(struct gw *g, bool retry)
{
	int64_t until = util_now_ms() + KH_GW_BIND_RETRY_MS;
	int lr;

	while ((lr = gw_listen(g)) == -1 && errno == EADDRINUSE && retry &&
	    util_now_ms() < until) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (lr == -2)
		gw_die("PAPERCLIP_BRIDGE_HOST='%s' is not a numeric IP "
		    "address", g->host);
	if (lr < 0)
		gw_die("cannot listen on %s:%u: %s", g->host, g->port,
		    strerror(errno));
}

/* The test hook of it.test_h2_gateway: a forbidden system call once
 * confined, which must kill the process (SIGSYS). */
static void
gw_test_forbidden(void)
{
	const char *v = getenv("KEYHOLE_GATEWAY_TEST_EXECVE");

	if (v != NULL && strcmp(v, "1") == 0) {
		char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };
		execve("/bin/true", argv, envp);
		gw_die("execve returned: %s", strerror(errno));
	}
}

int
main(int argc, char **argv)
{
	static struct gw G;
	struct gw *g = &G;
	const char *v;
	struct event *sig[2];
	bool h2 = false;

	if (argc > 1) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			gw_usage();
			return 0;
		}
		fprintf(stderr, "keyhole-gateway takes no arguments; see --help\n");
		return 2;
	}
	/* Not dumpable: no other process of this user (the sandbox's other
	 * programs) may ptrace it or read its memory or environment through
	 * /proc, where the token is. */
	if (prctl(PR_SET_DUMPABLE, 0) != 0)
		gw_die("PR_SET_DUMPABLE: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	v = getenv("PAPERCLIP_API_BRIDGE_MODE");
	if (v != NULL && strcmp(v, "http2_v1") == 0)
		h2 = true;
	else if (v != NULL && *v != '\0' && strcmp(v, "queue_v1") != 0)
		gw_die("Unsupported PAPERCLIP_API_BRIDGE_MODE: %s (keyhole-gateway "
		    "serves queue_v1 and http2_v1)", v);
#ifdef KH_GW_NO_QUEUE
	if (!h2)
		gw_die("%s", "this static build serves PAPERCLIP_API_BRIDGE_MODE="
		    "http2_v1 only; queue_v1 is keyhole-gateway's");
#endif
#ifdef KH_GW_NO_QUEUE
	g->ops = &gw_stdio_ops;
#else
	g->ops = h2 ? &gw_stdio_ops : &gw_queue_ops;
#endif
	g->qdir = getenv("PAPERCLIP_BRIDGE_QUEUE_DIR");
	v = getenv("PAPERCLIP_BRIDGE_TOKEN");
	if (v == NULL || *v == '\0')
		gw_die("%s", "PAPERCLIP_BRIDGE_TOKEN is required.");
	if (!h2 && (g->qdir == NULL || *g->qdir == '\0'))
		gw_die("%s", "PAPERCLIP_BRIDGE_QUEUE_DIR is required in queue_v1.");
	g->token = strdup(v);
	g->token_len = strlen(v);
	if (g->token == NULL)
		gw_die("%s", "out of memory");
	g->host = getenv("PAPERCLIP_BRIDGE_HOST");
	if (g->host == NULL || *g->host == '\0')
		g->host = "127.0.0.1";
	g->port = (uint16_t)gw_env_num("PAPERCLIP_BRIDGE_PORT", 0, h2 ? 1 : 0,
	    65535);
	if (h2 && g->port == 0)
		gw_die("%s", "http2_v1 requires a positive assigned "
		    "PAPERCLIP_BRIDGE_PORT");
	g->poll_ms = (uint32_t)gw_env_num("PAPERCLIP_BRIDGE_POLL_INTERVAL_MS",
	    KH_GW_DEF_POLL_MS, 1, KH_QUEUE_POLL_MAX_MS);
	g->timeout_ms = (uint32_t)gw_env_num("PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS",
	    h2 ? KH_GW_H2_DEF_TIMEOUT_MS : KH_GW_DEF_TIMEOUT_MS, 1,
	    KH_TIMEOUT_MAX_MS);
	g->max_depth = (uint32_t)gw_env_num("PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH",
	    KH_GW_DEF_QUEUE_DEPTH, 1, KH_GW_QUEUE_DEPTH_MAX);
	g->max_body = gw_env_num("PAPERCLIP_BRIDGE_MAX_BODY_BYTES",
	    KH_GW_DEF_BODY, 0, KH_GW_BODY_MAX);
	g->nonce = getenv("PAPERCLIP_BRIDGE_NONCE");
	if (g->nonce == NULL)
		g->nonce = "";
	g->nonce_len = strlen(g->nonce);
	if (h2 && !gw_nonce_ok(g->nonce, g->nonce_len))
		gw_die("PAPERCLIP_BRIDGE_NONCE must be printable ASCII of at most "
		    "%u bytes", KH_GW_NONCE_MAX);
	/* The token stays in this process only: wiped where the kernel shows
	 * the environment (/proc/PID/environ reads the original block, which
	 * unsetenv leaves as it was). */
	explicit_bzero(getenv("PAPERCLIP_BRIDGE_TOKEN"), g->token_len);
	unsetenv("PAPERCLIP_BRIDGE_TOKEN");
	g->body_ceiling = g->max_body * KH_GW_LEDGER_BODIES;
	g->lim.max_head = KH_DEF_HEAD;
	g->lim.max_fields = KH_DEF_HEADERS;
	g->lim.max_body = g->max_body;

	g->base = event_base_new();
	if (g->base == NULL)
		gw_die("%s", "cannot create the event loop");
#ifndef KH_GW_NO_QUEUE
	if (!h2 && gw_queue_open(g) < 0)
		gw_die("cannot set up the queue directory %s (requests/, "
		    "responses/, logs/)", g->qdir);	/* the reason is printed */
#endif
	gw_bind(g, h2);
	if (h2 && gw_stdio_open(g) < 0)
		gw_die("%s", "cannot set up the session on stdin/stdout");
#ifndef KH_GW_NO_QUEUE
	if (!h2)
		gw_queue_watch(g);
#endif
	sig[0] = evsignal_new(g->base, SIGTERM, gw_signal_cb, g);
	sig[1] = evsignal_new(g->base, SIGINT, gw_signal_cb, g);
	if (sig[0] == NULL || sig[1] == NULL || event_add(sig[0], NULL) < 0 ||
	    event_add(sig[1], NULL) < 0)
		gw_die("%s", "cannot install signal handlers");
#ifndef KH_GW_NO_QUEUE
	if (!h2 && gw_write_ready(g) < 0)
		gw_die("cannot write %s/ready.json", g->qdir);
#endif
	if (h2)
		fprintf(stderr, "keyhole-gateway: listening on http://%s:%u, "
		    "http2_v1 on stdin/stdout\n", g->host, g->port);
	else
		fprintf(stderr, "keyhole-gateway: listening on http://%s:%u, "
		    "queue %s (%s)\n", g->host, g->port, g->qdir,
		    g->notify_fd >= 0 ? "inotify + polling" : "polling");
	/* Set up: from here on the system calls of serving only. */
	if (gw_confine(g, !h2) < 0)
		gw_die("cannot install the seccomp filter: %s", strerror(errno));
	gw_test_forbidden();
	if (h2)
		gw_stdio_start(g);
	event_base_dispatch(g->base);
	return g->exit_code;
}
