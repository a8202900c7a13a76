/*
 * keyhole-gateway: main, configured by the environment as Paperclip's
 * gateway is:
 *
 *   PAPERCLIP_BRIDGE_QUEUE_DIR         queue directory (required)
 *   PAPERCLIP_BRIDGE_TOKEN             bridge token (required)
 *   PAPERCLIP_BRIDGE_HOST / _PORT      listener (127.0.0.1, 0 = any port)
 *   PAPERCLIP_BRIDGE_POLL_INTERVAL_MS  response polling (100)
 *   PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS  deadline per request (30000)
 *   PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH   request files waiting (64)
 *   PAPERCLIP_BRIDGE_MAX_BODY_BYTES    request/response body (10 MiB+64 KiB)
 *   PAPERCLIP_API_BRIDGE_MODE          queue_v1 or unset
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "gateway.h"
#include "util.h"

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
	    "The sandbox side of Paperclip's queue_v1 bridge: listens on\n"
	    "PAPERCLIP_BRIDGE_HOST:PAPERCLIP_BRIDGE_PORT (127.0.0.1:0), checks\n"
	    "'Authorization: Bearer $PAPERCLIP_BRIDGE_TOKEN', writes each request\n"
	    "to $PAPERCLIP_BRIDGE_QUEUE_DIR/requests/ and answers from\n"
	    "responses/.  Writes $PAPERCLIP_BRIDGE_QUEUE_DIR/ready.json once\n"
	    "listening.  Other variables: PAPERCLIP_BRIDGE_POLL_INTERVAL_MS (%u),\n"
	    "PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS (%u),\n"
	    "PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH (%u), PAPERCLIP_BRIDGE_MAX_BODY_BYTES\n"
	    "(%u); KEYHOLE_GATEWAY_INOTIFY=0 polls for responses only.\n",
	    KH_GW_DEF_POLL_MS, KH_GW_DEF_TIMEOUT_MS, KH_GW_DEF_QUEUE_DEPTH,
	    KH_GW_DEF_BODY);
}

int
main(int argc, char **argv)
{
	static struct gw G;
	struct gw *g = &G;
	const char *v;
	struct event *sig[2];

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
	if (v != NULL && *v != '\0' && strcmp(v, "queue_v1") != 0)
		gw_die("Unsupported PAPERCLIP_API_BRIDGE_MODE: %s (keyhole-gateway "
		    "serves queue_v1)", v);
	g->qdir = getenv("PAPERCLIP_BRIDGE_QUEUE_DIR");
	v = getenv("PAPERCLIP_BRIDGE_TOKEN");
	if (g->qdir == NULL || *g->qdir == '\0' || v == NULL || *v == '\0')
		gw_die("%s", "PAPERCLIP_BRIDGE_QUEUE_DIR and PAPERCLIP_BRIDGE_TOKEN "
		    "are required.");
	g->token = strdup(v);
	g->token_len = strlen(v);
	if (g->token == NULL)
		gw_die("%s", "out of memory");
	g->host = getenv("PAPERCLIP_BRIDGE_HOST");
	if (g->host == NULL || *g->host == '\0')
		g->host = "127.0.0.1";
	g->port = (uint16_t)gw_env_num("PAPERCLIP_BRIDGE_PORT", 0, 0, 65535);
	g->poll_ms = (uint32_t)gw_env_num("PAPERCLIP_BRIDGE_POLL_INTERVAL_MS",
	    KH_GW_DEF_POLL_MS, 1, KH_QUEUE_POLL_MAX_MS);
	g->timeout_ms = (uint32_t)gw_env_num("PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS",
	    KH_GW_DEF_TIMEOUT_MS, 1, KH_TIMEOUT_MAX_MS);
	g->max_depth = (uint32_t)gw_env_num("PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH",
	    KH_GW_DEF_QUEUE_DEPTH, 1, KH_GW_QUEUE_DEPTH_MAX);
	g->max_body = gw_env_num("PAPERCLIP_BRIDGE_MAX_BODY_BYTES",
	    KH_GW_DEF_BODY, 0, KH_GW_BODY_MAX);
	/* The token stays in this process only: wiped where the kernel shows
	 * the environment (/proc/PID/environ reads the original block, which
	 * unsetenv leaves as it was). */
	explicit_bzero(getenv("PAPERCLIP_BRIDGE_TOKEN"), g->token_len);
	unsetenv("PAPERCLIP_BRIDGE_TOKEN");
	g->lim.max_head = KH_DEF_HEAD;
	g->lim.max_fields = KH_DEF_HEADERS;
	g->lim.max_body = g->max_body;

	g->base = event_base_new();
	if (g->base == NULL)
		gw_die("%s", "cannot create the event loop");
	if (gw_queue_open(g) < 0)
		gw_die("cannot set up the queue directory %s (requests/, "
		    "responses/, logs/)", g->qdir);	/* the reason is printed */
	int lr = gw_listen(g);
	if (lr < 0) {
		if (lr == -2)
			gw_die("PAPERCLIP_BRIDGE_HOST='%s' is not a numeric IP "
			    "address", g->host);
		gw_die("cannot listen on %s:%u: %s", g->host, g->port,
		    strerror(errno));
	}
	gw_queue_watch(g);
	sig[0] = evsignal_new(g->base, SIGTERM, gw_signal_cb, g);
	sig[1] = evsignal_new(g->base, SIGINT, gw_signal_cb, g);
	if (sig[0] == NULL || sig[1] == NULL || event_add(sig[0], NULL) < 0 ||
	    event_add(sig[1], NULL) < 0)
		gw_die("%s", "cannot install signal handlers");
	if (gw_write_ready(g) < 0)
		gw_die("cannot write %s/ready.json", g->qdir);
	fprintf(stderr, "keyhole-gateway: listening on http://%s:%u, queue %s "
	    "(%s)\n", g->host, g->port, g->qdir, g->notify_fd >= 0 ?
	    "inotify + polling" : "polling");
	event_base_dispatch(g->base);
	return 0;
}
