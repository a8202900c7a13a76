/*
 * keyhole parent configuration: `keyhole serve` options and the Paperclip
 * bridge's environment variables.  Options override the environment.
 * Every error names the option or variable and how to fix it, and exits 2.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "kh_limits.h"
#include "listen.h"
#include "log.h"
#include "util.h"

void
config_usage(FILE *f)
{
	fprintf(f,
"usage: keyhole serve --policy FILE --upstream URL [options]\n"
"       keyhole run [serve options] [--cmd-user USER] -- CMD [ARGS...]\n"
"       keyhole reload --ready-file FILE [--pid PID] [--timeout-ms MS]\n"
"       keyhole gateway            (in the sandbox; see keyhole-gateway --help)\n"
"       keyhole check-policy FILE [--var NAME=VALUE]...\n"
"       keyhole explain FILE METHOD PATH [--var NAME=VALUE]...\n"
"       keyhole audit verify [--pubkey PEMFILE] FILE...\n"
"       keyhole --help | --version\n"
"\n"
"keyhole lets code in a sandbox call the routes a policy allows on ONE\n"
"upstream HTTP API without ever holding the API's credential.\n"
"\n"
"keyhole reload asks the bridge that wrote FILE (--ready-file) to reload\n"
"(as SIGHUP does: the policy, --var-file, the credential and token files)\n"
"and waits for the outcome: exit status 0 once the new configuration\n"
"serves, 1 when it was refused (the old one still serves; the reason is\n"
"printed), 2 on a usage error.\n"
"\n"
"keyhole run starts the bridge, runs CMD with PAPERCLIP_API_URL (the\n"
"bridge URL) and PAPERCLIP_API_KEY (the bridge token; a fresh random one\n"
"when none is configured) in its environment, forwards SIGINT, SIGTERM\n"
"and SIGHUP to it, drains the bridge when it exits and exits with its\n"
"status (128+N when killed by signal N).  Started as root, CMD runs as\n"
"--cmd-user USER (default nobody) with no capability, no supplementary\n"
"group and no_new_privs; --cmd-user root keeps root (CMD can then read\n"
"the credential).  NOT started as root, CMD runs as keyhole's own user\n"
"and can read every file that user can, the credential file included,\n"
"unless CMD is sandboxed itself (bubblewrap, a user namespace).\n"
"\n"
"serve options:\n"
"  --policy FILE            route policy (see docs/policy.md)\n"
"  --upstream URL           upstream base URL (http or https, no userinfo,\n"
"                           query or fragment)\n"
"  --credential-file FILE   upstream credential (mode 0600 or stricter);\n"
"                           else $KEYHOLE_CREDENTIAL (removed from the\n"
"                           environment at once), else\n"
"                           $CREDENTIALS_DIRECTORY/keyhole-credential\n"
"  --token-file FILE        bridge token the sandbox presents as\n"
"                           'Authorization: Bearer TOKEN'; else\n"
"                           $PAPERCLIP_BRIDGE_TOKEN (at least %u bytes)\n"
"  --run-id ID              sent upstream as x-paperclip-run-id\n"
"  --run-id-header NAME     the run id's header instead (another API's)\n"
"  --auth bearer|basic|header:NAME  how the credential goes upstream:\n"
"                           'authorization: Bearer CRED' (default),\n"
"                           'authorization: Basic base64(CRED)' (the\n"
"                           credential file holds user:password), or\n"
"                           'NAME: CRED' (e.g. header:x-api-key)\n"
"  --upstream-header 'NAME: VALUE'  a fixed header on every upstream\n"
"                           request (repeatable, up to 8; e.g. an API\n"
"                           version).  The sandbox can never send a header\n"
"                           keyhole injects: no policy may allowlist it\n"
"  --metrics unix:PATH|tcp:HOST:PORT  serve Prometheus metrics (GET\n"
"                           /metrics) to the operator on this listener,\n"
"                           never the sandbox's (off by default)\n"
"  --metrics-mode MODE      mode of a unix: metrics socket (default 0600)\n"
"  --var NAME=VALUE         bind the policy variable {NAME} for this run\n"
"                           (repeatable; also $KEYHOLE_VAR_NAME); VALUE is\n"
"                           one path segment, e.g. --var issue=BRI-7\n"
"  --var-file FILE          more bindings, one NAME=VALUE per line ('#'\n"
"                           comments), re-read by a reload (SIGHUP);\n"
"                           a name --var binds may not appear in it\n"
"  --listen tcp:HOST:PORT   listening address (default 127.0.0.1:0, or\n"
"                           $PAPERCLIP_BRIDGE_HOST/$PAPERCLIP_BRIDGE_PORT);\n"
"                           port 0 picks a free port\n"
"  --listen unix:PATH       a Unix-domain socket (a stale socket there is\n"
"                           replaced; any other file is an error); the\n"
"                           option may be repeated, up to 8 listeners\n"
"  --unix-mode MODE         mode of Unix sockets (octal, default 0660)\n"
"  --unix-owner USER[:GROUP]  owner of Unix sockets (root only)\n"
"  --netns PATH             create the TCP listeners inside this network\n"
"                           namespace (/var/run/netns/NAME or\n"
"                           /proc/PID/ns/net); needs root\n"
"  systemd socket activation ($LISTEN_FDS) adds the inherited sockets\n"
"  --queue-dir DIR          serve Paperclip's queue_v1 file transport from DIR\n"
"                           (requests/, responses/, processing/, logs/ are\n"
"                           created if missing); without --listen, no HTTP\n"
"                           listener is opened\n"
"  --queue-watch inotify|poll  how new request files are noticed (default\n"
"                           inotify, polling if inotify is unavailable)\n"
"  --queue-poll-ms MS       polling interval (default %u;\n"
"                           $PAPERCLIP_BRIDGE_POLL_INTERVAL_MS)\n"
"  --connect 'CMD [ARGS...]'  serve Paperclip's http2_v1 over CMD's stdio\n"
"                           instead of listening: CMD (run by /bin/sh -c\n"
"                           with only PATH, --connect-keep-env and the\n"
"                           gateway's settings in its environment) reaches\n"
"                           a gateway in the sandbox (ssh -T host ...,\n"
"                           docker exec -i ..., kubectl exec -i ...), which\n"
"                           answers READY and speaks h2c on its stdout;\n"
"                           restarted with back-off when it ends\n"
"  --gateway-port PORT      the gateway's PAPERCLIP_BRIDGE_PORT, where the\n"
"                           agent in the sandbox connects (required)\n"
"  --gateway-host HOST      its PAPERCLIP_BRIDGE_HOST (default 127.0.0.1)\n"
"  --gateway-cmd 'CMD'      script mode, for channels that drop the\n"
"                           environment (ssh): CMD ends in a shell reading\n"
"                           its stdin (ssh -T host sh); keyhole writes it a\n"
"                           script that exports the settings (the token\n"
"                           never in an argv) and execs this command\n"
"  --gateway-upload FILE    script mode: also install FILE (a static\n"
"                           keyhole-gateway) in the sandbox at\n"
"                           --gateway-path (hash checked, written under a\n"
"                           temporary name, verified, renamed) and run it\n"
"  --gateway-path PATH      where the upload goes (default\n"
"                           /tmp/keyhole/keyhole-gateway)\n"
"  --connect-keep-env NAME  pass keyhole's NAME to CMD (HOME,\n"
"                           SSH_AUTH_SOCK, KUBECONFIG...; repeatable)\n"
"  --h2-max-streams N       HTTP/2 streams at once (default %u, max %u)\n"
"  --ready-file FILE        write {pid,host,port,baseUrl,startedAt} once serving\n"
"  --user NAME              unprivileged user for the child when run as root\n"
"                           (default nobody)\n"
"  --chroot DIR             empty root-owned directory the child chroots to\n"
"                           when run as root (default /run/keyhole/empty)\n"
"  --ca-file FILE           CA bundle for an https upstream\n"
"  --max-body BYTES         request body limit (default %u, max %u;\n"
"                           $PAPERCLIP_BRIDGE_MAX_BODY_BYTES)\n"
"  --max-response BYTES     upstream response limit (default %u, max %u)\n"
"  --max-inflight N         requests in flight upstream (default %u;\n"
"                           $PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH)\n"
"  --max-conns N            client connections held at once (default: the\n"
"                           hard RLIMIT_NOFILE less %u, at most %u); when\n"
"                           full, a new one takes the place of the oldest\n"
"                           idle one; 503 only when all are busy\n"
"  --max-conns-per-peer N   connections one TCP client address may hold\n"
"                           (default max-conns/%u; 0 = no cap; Unix-socket\n"
"                           clients have no address and no cap)\n"
"  --max-head BYTES         request head limit (default %u, max %u)\n"
"  --max-headers N          header fields per request (default %u, max %u)\n"
"  --upstream-timeout-ms MS (default %u; $PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS)\n"
"  --head-timeout-ms MS     whole request head must arrive (default %u)\n"
"  --body-timeout-ms MS     whole request body must arrive (default %u)\n"
"  --body-min-rate BYTES    minimum request body rate in bytes/s over\n"
"                           %u ms windows, else 408 (default %u; 0 = off)\n"
"  --idle-timeout-ms MS     keep-alive idle limit (default %u)\n"
"  --write-timeout-ms MS    a response must be taken by the client within\n"
"                           this, else the connection is closed (default %u)\n"
"  --drain-ms MS            on SIGTERM/SIGINT, time to finish in-flight\n"
"                           requests; after a reload, the replaced\n"
"                           child's (default %u)\n"
"  --child-timeout-ms MS    a starting child must be ready, and a serving\n"
"                           child must answer a ping, within this; else it\n"
"                           is killed and restarted (default %u, min %u)\n"
"  --net-binary PATH        run PATH as the child (tests only)\n"
"  --log-format text|json   log lines as text or JSON objects (default:\n"
"                           json unless stderr is a terminal)\n"
"  --log stderr|syslog      where log lines go (default stderr; syslog\n"
"                           reaches journald)\n"
"  --audit-log FILE         append a hash-chained, signed record of every\n"
"                           decision and lifecycle event to FILE (created\n"
"                           0600; keyhole-audit(5)); SIGUSR1 reopens it\n"
"  --audit-key FILE         Ed25519 private key (PEM, mode 0600 or stricter:\n"
"                           openssl genpkey -algorithm ed25519) that signs\n"
"                           the checkpoints; else $CREDENTIALS_DIRECTORY/\n"
"                           keyhole-audit-key\n"
"  --audit-checkpoint-records N  a signed checkpoint every N records\n"
"                           (default %u)\n"
"  --audit-checkpoint-secs S     and every S seconds with new records\n"
"                           (default %u)\n"
"  --audit-max-bytes BYTES  rotate FILE to FILE.<first seq> at this size\n"
"                           (default 0: only on SIGUSR1)\n"
"  --audit-sync mutations|all  fdatasync before answering a mutation\n"
"                           (default), or before every answer\n"
"  -v, --verbose            debug logging\n",
	    KH_TOKEN_MIN, KH_DEF_QUEUE_POLL_MS, KH_H2_DEF_STREAMS,
	    KH_H2_STREAMS_MAX, KH_DEF_BODY, KH_BODY_MAX, KH_DEF_RESPONSE,
	    KH_RESPONSE_MAX, KH_DEF_INFLIGHT, KH_CONNS_FD_RESERVE,
	    KH_DEF_CONNS_AUTO_MAX, KH_DEF_PEER_SHARE_DIV, KH_DEF_HEAD,
	    KH_HEAD_MAX, KH_DEF_HEADERS, KH_HEADERS_MAX,
	    KH_DEF_UPSTREAM_TIMEOUT_MS, KH_DEF_HEAD_TIMEOUT_MS,
	    KH_DEF_BODY_TIMEOUT_MS, KH_BODY_RATE_WINDOW_MS,
	    KH_DEF_BODY_MIN_RATE, KH_DEF_IDLE_TIMEOUT_MS,
	    KH_DEF_WRITE_TIMEOUT_MS, KH_DEF_DRAIN_MS, KH_DEF_CHILD_TIMEOUT_MS,
	    KH_CHILD_TIMEOUT_MIN_MS, KH_DEF_AUDIT_CKPT_RECORDS,
	    KH_DEF_AUDIT_CKPT_SECS);
}

void
config_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vfatal(fmt, ap);
	va_end(ap);
	fprintf(stderr, "(see keyhole --help)\n");
	exit(2);
}

uint64_t
config_num(const char *what, const char *s, uint64_t min, uint64_t max)
{
	uint64_t v;
	if (util_parse_u64(s, min, max, &v) < 0)
		config_die("%s: '%s' is not a number in [%llu, %llu]", what, s,
		    (unsigned long long)min, (unsigned long long)max);
	return v;
}

static void config_listen_spec(struct listen_spec *l, const char *opt,
    const char *arg);

static void
config_listen(struct kh_config *cfg, const char *arg)
{
	if (cfg->nlisten >= KH_LISTENERS_MAX)
		config_die("--listen: at most %u listeners", KH_LISTENERS_MAX);
	config_listen_spec(&cfg->listen[cfg->nlisten], "--listen", arg);
	cfg->nlisten++;
}

/* unix:PATH, tcp:HOST:PORT (an IPv6 HOST as it is: tcp:::1:8787, the port
 * after the last colon). */
static void
config_listen_spec(struct listen_spec *l, const char *opt, const char *arg)
{
	memset(l, 0, sizeof(*l));
	if (strncmp(arg, "unix:", 5) == 0) {
		const char *p = arg + 5;
		if (*p != '/' || strlen(p) >= sizeof(l->path))
			config_die("%s: '%s' needs an absolute path shorter than 108 bytes",
			    opt, arg);
		l->is_unix = true;
		strcpy(l->path, p);
	} else if (strncmp(arg, "tcp:", 4) == 0) {
		const char *hp = arg + 4;
		const char *colon = strrchr(hp, ':');
		if (colon == NULL || colon == hp ||
		    (size_t)(colon - hp) >= sizeof(l->host))
			config_die("%s: '%s' is not tcp:HOST:PORT", opt, arg);
		/* An IPv6 address may be bracketed, as in a URL. */
		if (hp[0] == '[' && colon[-1] == ']' && colon - hp > 2)
			memcpy(l->host, hp + 1, (size_t)(colon - hp - 2));
		else
			memcpy(l->host, hp, (size_t)(colon - hp));
		l->port = (uint16_t)config_num("--listen port", colon + 1, 0, 65535);
	} else {
		config_die("%s: '%s' must start with tcp: or unix:", opt, arg);
	}
}

enum {
	OPT_POLICY = 256, OPT_UPSTREAM, OPT_CRED, OPT_TOKEN, OPT_RUNID,
	OPT_LISTEN, OPT_READY, OPT_USER, OPT_CHROOT, OPT_CA, OPT_MAXBODY,
	OPT_MAXRESP, OPT_INFLIGHT, OPT_CONNS, OPT_HEAD, OPT_HEADERS,
	OPT_UTIMEOUT, OPT_HTIMEOUT, OPT_BTIMEOUT, OPT_ITIMEOUT, OPT_DRAIN,
	OPT_NETBIN, OPT_LOGFMT, OPT_LOG, OPT_NETNS, OPT_UMODE, OPT_UOWNER,
	OPT_QDIR, OPT_QWATCH, OPT_QPOLL, OPT_VAR, OPT_WTIMEOUT, OPT_MINRATE,
	OPT_CTIMEOUT, OPT_PEERCONNS, OPT_VARFILE, OPT_AUTH, OPT_RUNIDHDR,
	OPT_UPHDR, OPT_METRICS, OPT_METRICSMODE,
	/* --audit-log and its options: config_audit.c */
	OPT_AUDIT_LOG, OPT_AUDIT_KEY, OPT_AUDIT_RECORDS, OPT_AUDIT_SECS,
	OPT_AUDIT_MAX, OPT_AUDIT_SYNC,
	/* --connect and its options: config_connect.c */
	OPT_CONNECT, OPT_GWHOST, OPT_GWPORT, OPT_GWCMD, OPT_GWUPLOAD,
	OPT_GWPATH, OPT_KEEPENV, OPT_H2STREAMS,
};

static const struct option config_opts[] = {
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "upstream", required_argument, NULL, OPT_UPSTREAM },
	{ "credential-file", required_argument, NULL, OPT_CRED },
	{ "token-file", required_argument, NULL, OPT_TOKEN },
	{ "run-id", required_argument, NULL, OPT_RUNID },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "ready-file", required_argument, NULL, OPT_READY },
	{ "user", required_argument, NULL, OPT_USER },
	{ "chroot", required_argument, NULL, OPT_CHROOT },
	{ "ca-file", required_argument, NULL, OPT_CA },
	{ "max-body", required_argument, NULL, OPT_MAXBODY },
	{ "max-response", required_argument, NULL, OPT_MAXRESP },
	{ "max-inflight", required_argument, NULL, OPT_INFLIGHT },
	{ "max-conns", required_argument, NULL, OPT_CONNS },
	{ "max-conns-per-peer", required_argument, NULL, OPT_PEERCONNS },
	{ "max-head", required_argument, NULL, OPT_HEAD },
	{ "max-headers", required_argument, NULL, OPT_HEADERS },
	{ "upstream-timeout-ms", required_argument, NULL, OPT_UTIMEOUT },
	{ "head-timeout-ms", required_argument, NULL, OPT_HTIMEOUT },
	{ "body-timeout-ms", required_argument, NULL, OPT_BTIMEOUT },
	{ "idle-timeout-ms", required_argument, NULL, OPT_ITIMEOUT },
	{ "write-timeout-ms", required_argument, NULL, OPT_WTIMEOUT },
	{ "body-min-rate", required_argument, NULL, OPT_MINRATE },
	{ "drain-ms", required_argument, NULL, OPT_DRAIN },
	{ "child-timeout-ms", required_argument, NULL, OPT_CTIMEOUT },
	{ "net-binary", required_argument, NULL, OPT_NETBIN },
	{ "log-format", required_argument, NULL, OPT_LOGFMT },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "unix-mode", required_argument, NULL, OPT_UMODE },
	{ "unix-owner", required_argument, NULL, OPT_UOWNER },
	{ "queue-dir", required_argument, NULL, OPT_QDIR },
	{ "queue-watch", required_argument, NULL, OPT_QWATCH },
	{ "queue-poll-ms", required_argument, NULL, OPT_QPOLL },
	{ "var", required_argument, NULL, OPT_VAR },
	{ "var-file", required_argument, NULL, OPT_VARFILE },
	{ "audit-log", required_argument, NULL, OPT_AUDIT_LOG },
	{ "audit-key", required_argument, NULL, OPT_AUDIT_KEY },
	{ "audit-checkpoint-records", required_argument, NULL, OPT_AUDIT_RECORDS },
	{ "audit-checkpoint-secs", required_argument, NULL, OPT_AUDIT_SECS },
	{ "audit-max-bytes", required_argument, NULL, OPT_AUDIT_MAX },
	{ "audit-sync", required_argument, NULL, OPT_AUDIT_SYNC },
	{ "auth", required_argument, NULL, OPT_AUTH },
	{ "run-id-header", required_argument, NULL, OPT_RUNIDHDR },
	{ "upstream-header", required_argument, NULL, OPT_UPHDR },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "metrics-mode", required_argument, NULL, OPT_METRICSMODE },
	{ "connect", required_argument, NULL, OPT_CONNECT },
	{ "gateway-host", required_argument, NULL, OPT_GWHOST },
	{ "gateway-port", required_argument, NULL, OPT_GWPORT },
	{ "gateway-cmd", required_argument, NULL, OPT_GWCMD },
	{ "gateway-upload", required_argument, NULL, OPT_GWUPLOAD },
	{ "gateway-path", required_argument, NULL, OPT_GWPATH },
	{ "connect-keep-env", required_argument, NULL, OPT_KEEPENV },
	{ "h2-max-streams", required_argument, NULL, OPT_H2STREAMS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
config_env(struct kh_config *cfg)
{
	const char *v;

	if ((v = getenv("PAPERCLIP_BRIDGE_MAX_BODY_BYTES")) && *v)
		cfg->max_body = config_num("PAPERCLIP_BRIDGE_MAX_BODY_BYTES", v,
		    0, KH_BODY_MAX);
	if ((v = getenv("PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH")) && *v)
		cfg->max_inflight = (uint32_t)config_num(
		    "PAPERCLIP_BRIDGE_MAX_QUEUE_DEPTH", v, 1, KH_INFLIGHT_MAX);
	if ((v = getenv("PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS")) && *v)
		cfg->upstream_timeout_ms = (uint32_t)config_num(
		    "PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS", v, 1,
		    KH_TIMEOUT_MAX_MS);
	if ((v = getenv("PAPERCLIP_BRIDGE_POLL_INTERVAL_MS")) && *v)
		cfg->queue_poll_ms = (uint32_t)config_num(
		    "PAPERCLIP_BRIDGE_POLL_INTERVAL_MS", v, 1,
		    KH_QUEUE_POLL_MAX_MS);
}

/*
 * The connection limits, sized from RLIMIT_NOFILE.  Every client
 * connection is one fd in the child, which sets its own limit to what it
 * needs (sandbox.c) and can raise it only up to the hard limit it
 * inherits.  Without --max-conns: that hard limit less
 * KH_CONNS_FD_RESERVE, at most KH_DEF_CONNS_AUTO_MAX.  An explicit
 * --max-conns the hard limit cannot hold is refused here, with what to
 * do, instead of a child that dies at start-up.  Without
 * --max-conns-per-peer: max_conns / KH_DEF_PEER_SHARE_DIV.
 */
static void
config_conn_limits(struct kh_config *cfg)
{
	uint64_t fds = (uint64_t)KH_CONNS_MAX + KH_CONNS_FD_RESERVE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_max != RLIM_INFINITY && rl.rlim_max < fds)
		fds = rl.rlim_max;
	if (fds < KH_NOFILE_MIN)
		config_die("the hard RLIMIT_NOFILE is %llu, keyhole needs at "
		    "least %u: raise it (ulimit -Hn, systemd LimitNOFILE=)",
		    (unsigned long long)fds, KH_NOFILE_MIN);
	if (cfg->max_conns == 0) {
		fds -= KH_CONNS_FD_RESERVE;
		cfg->max_conns = fds < KH_DEF_CONNS_AUTO_MAX ? (uint32_t)fds :
		    KH_DEF_CONNS_AUTO_MAX;
	} else if ((uint64_t)cfg->max_conns + KH_CONNS_FD_RESERVE > fds) {
		config_die("--max-conns %u needs %u open files, but the hard "
		    "RLIMIT_NOFILE is %llu: raise it (ulimit -Hn, systemd "
		    "LimitNOFILE=) or lower --max-conns", cfg->max_conns,
		    cfg->max_conns + KH_CONNS_FD_RESERVE,
		    (unsigned long long)fds);
	}
	if (cfg->max_conns_per_peer == UINT32_MAX) {
		cfg->max_conns_per_peer = cfg->max_conns / KH_DEF_PEER_SHARE_DIV;
		if (cfg->max_conns_per_peer == 0)
			cfg->max_conns_per_peer = 1;
	} else if (cfg->max_conns_per_peer > cfg->max_conns) {
		cfg->max_conns_per_peer = cfg->max_conns;	/* the table's */
	}
}

/* KEYHOLE_VAR_name=value for every name no --var bound. */
static void
config_env_vars(struct kh_config *cfg)
{
	const char *bad = NULL;
	char why[512];

	if (policy_bindings_env(&cfg->vars, environ, &bad, why,
	    sizeof(why)) < 0)
		config_die("%.*s: %s", (int)strcspn(bad, "="), bad, why);
}

static void
config_env_listen(struct kh_config *cfg)
{
	const char *host = getenv("PAPERCLIP_BRIDGE_HOST");
	const char *port = getenv("PAPERCLIP_BRIDGE_PORT");
	struct listen_spec *l = &cfg->listen[0];

	memset(l, 0, sizeof(*l));
	if (host == NULL || *host == '\0')
		host = "127.0.0.1";
	if (strlen(host) >= sizeof(l->host))
		config_die("%s: '%s' is too long", "PAPERCLIP_BRIDGE_HOST", host);
	strcpy(l->host, host);
	if (port != NULL && *port != '\0')
		l->port = (uint16_t)config_num("PAPERCLIP_BRIDGE_PORT", port, 0,
		    65535);
	cfg->nlisten = 1;
}

void
config_parse_serve(int argc, char **argv, struct kh_config *cfg)
{
	const char *bad = NULL;
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->max_body = KH_DEF_BODY;
	cfg->max_response = KH_DEF_RESPONSE;
	cfg->max_inflight = KH_DEF_INFLIGHT;
	cfg->max_conns = 0;			/* config_conn_limits */
	cfg->max_conns_per_peer = UINT32_MAX;	/* likewise */
	cfg->max_head = KH_DEF_HEAD;
	cfg->max_headers = KH_DEF_HEADERS;
	cfg->upstream_timeout_ms = KH_DEF_UPSTREAM_TIMEOUT_MS;
	cfg->head_timeout_ms = KH_DEF_HEAD_TIMEOUT_MS;
	cfg->body_timeout_ms = KH_DEF_BODY_TIMEOUT_MS;
	cfg->idle_timeout_ms = KH_DEF_IDLE_TIMEOUT_MS;
	cfg->write_timeout_ms = KH_DEF_WRITE_TIMEOUT_MS;
	cfg->body_min_rate = KH_DEF_BODY_MIN_RATE;
	cfg->drain_ms = KH_DEF_DRAIN_MS;
	cfg->child_timeout_ms = KH_DEF_CHILD_TIMEOUT_MS;
	cfg->chroot_dir = "/run/keyhole/empty";
	cfg->log_format = -1;
	cfg->unix_mode = 0660;
	cfg->queue_poll_ms = KH_DEF_QUEUE_POLL_MS;
	config_audit_defaults(cfg);
	cfg->metrics_mode = 0600;
	inject_init(&cfg->inject);
	config_env(cfg);

	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", config_opts, NULL)) != -1) {
		switch (c) {
		case OPT_POLICY: cfg->policy_file = optarg; break;
		case OPT_UPSTREAM: cfg->upstream = optarg; break;
		case OPT_CRED: cfg->credential_file = optarg; break;
		case OPT_TOKEN: cfg->token_file = optarg; break;
		case OPT_RUNID: cfg->run_id = optarg; break;
		case OPT_LISTEN: config_listen(cfg, optarg); break;
		case OPT_READY: cfg->ready_file = optarg; break;
		case OPT_USER: cfg->user = optarg; break;
		case OPT_CHROOT: cfg->chroot_dir = optarg; break;
		case OPT_CA: cfg->ca_file = optarg; break;
		case OPT_NETBIN: cfg->net_binary = optarg; break;
		case OPT_QDIR:
			if (optarg[0] != '/')
				config_die("--queue-dir %s: give an absolute path",
				    optarg);
			cfg->queue_dir = optarg;
			break;
		case OPT_QWATCH:
			if (strcmp(optarg, "poll") == 0)
				cfg->queue_poll = true;
			else if (strcmp(optarg, "inotify") == 0)
				cfg->queue_poll = false;
			else
				config_die("--queue-watch %s: use inotify or poll",
				    optarg);
			break;
		case OPT_QPOLL:
			cfg->queue_poll_ms = (uint32_t)config_num(
			    "--queue-poll-ms", optarg, 1, KH_QUEUE_POLL_MAX_MS);
			break;
		case OPT_VAR: {
			char why[512];
			if (policy_binding_add(&cfg->vars, optarg, why,
			    sizeof(why)) < 0)
				config_die("--var %s: %s", optarg, why);
			break;
		}
		case OPT_VARFILE: cfg->var_file = optarg; break;
		case OPT_MAXBODY:
			cfg->max_body = config_num("--max-body", optarg, 0,
			    KH_BODY_MAX);
			break;
		case OPT_MAXRESP:
			cfg->max_response = config_num("--max-response", optarg,
			    0, KH_RESPONSE_MAX);
			break;
		case OPT_INFLIGHT:
			cfg->max_inflight = (uint32_t)config_num("--max-inflight",
			    optarg, 1, KH_INFLIGHT_MAX);
			break;
		case OPT_CONNS:
			cfg->max_conns = (uint32_t)config_num("--max-conns",
			    optarg, 1, KH_CONNS_MAX);
			break;
		case OPT_PEERCONNS:
			cfg->max_conns_per_peer = (uint32_t)config_num(
			    "--max-conns-per-peer", optarg, 0, KH_CONNS_MAX);
			break;
		case OPT_HEAD:
			cfg->max_head = (uint32_t)config_num("--max-head", optarg,
			    256, KH_HEAD_MAX);
			break;
		case OPT_HEADERS:
			cfg->max_headers = (uint32_t)config_num("--max-headers",
			    optarg, 1, KH_HEADERS_MAX);
			break;
		case OPT_UTIMEOUT:
			cfg->upstream_timeout_ms = (uint32_t)config_num(
			    "--upstream-timeout-ms", optarg, 1, KH_TIMEOUT_MAX_MS);
			break;
		case OPT_HTIMEOUT:
			cfg->head_timeout_ms = (uint32_t)config_num(
			    "--head-timeout-ms", optarg, 1, KH_TIMEOUT_MAX_MS);
			break;
		case OPT_BTIMEOUT:
			cfg->body_timeout_ms = (uint32_t)config_num(
			    "--body-timeout-ms", optarg, 1, KH_TIMEOUT_MAX_MS);
			break;
		case OPT_ITIMEOUT:
			cfg->idle_timeout_ms = (uint32_t)config_num(
			    "--idle-timeout-ms", optarg, 1, KH_TIMEOUT_MAX_MS);
			break;
		case OPT_WTIMEOUT:
			cfg->write_timeout_ms = (uint32_t)config_num(
			    "--write-timeout-ms", optarg, 1, KH_TIMEOUT_MAX_MS);
			break;
		case OPT_MINRATE:
			cfg->body_min_rate = (uint32_t)config_num(
			    "--body-min-rate", optarg, 0, KH_BODY_MIN_RATE_MAX);
			break;
		case OPT_DRAIN:
			cfg->drain_ms = (uint32_t)config_num("--drain-ms", optarg,
			    0, KH_TIMEOUT_MAX_MS);
			break;
		case OPT_CTIMEOUT:
			cfg->child_timeout_ms = (uint32_t)config_num(
			    "--child-timeout-ms", optarg, KH_CHILD_TIMEOUT_MIN_MS,
			    KH_TIMEOUT_MAX_MS);
			break;
		case OPT_NETNS: cfg->netns = optarg; break;
		case OPT_UOWNER: cfg->unix_owner = optarg; break;
		case OPT_UMODE: {
			char *end;
			unsigned long m = strtoul(optarg, &end, 8);
			if (*optarg == '\0' || *end != '\0' || m > 0777)
				config_die("--unix-mode: '%s' is not an octal mode "
				    "such as 0660", optarg);
			cfg->unix_mode = (unsigned)m;
			break;
		}
		case OPT_LOGFMT:
			if (strcmp(optarg, "text") == 0)
				cfg->log_format = 0;
			else if (strcmp(optarg, "json") == 0)
				cfg->log_format = 1;
			else
				config_die("--log-format: '%s' is not text or json",
				    optarg);
			break;
		case OPT_LOG:
			if (strcmp(optarg, "syslog") == 0)
				cfg->log_syslog = true;
			else if (strcmp(optarg, "stderr") == 0)
				cfg->log_syslog = false;
			else
				config_die("--log: '%s' is not stderr or syslog",
				    optarg);
			break;
		case OPT_AUDIT_LOG: case OPT_AUDIT_KEY: case OPT_AUDIT_RECORDS:
		case OPT_AUDIT_SECS: case OPT_AUDIT_MAX: case OPT_AUDIT_SYNC:
			config_audit_opt(c - OPT_AUDIT_LOG, optarg, cfg);
			break;
		case OPT_AUTH:
			if (inject_parse_auth(&cfg->inject, optarg, &bad) < 0)
				config_die("--auth %s: %s", optarg, bad);
			break;
		case OPT_RUNIDHDR:
			if (inject_parse_run_id(&cfg->inject, optarg, &bad) < 0)
				config_die("--run-id-header %s: %s", optarg, bad);
			break;
		case OPT_UPHDR:
			if (inject_parse_header(&cfg->inject, optarg, &bad) < 0)
				config_die("--upstream-header %s: %s", optarg, bad);
			break;
		case OPT_METRICS:
			config_listen_spec(&cfg->metrics, "--metrics", optarg);
			cfg->metrics_on = true;
			break;
		case OPT_METRICSMODE: {
			char *end;
			unsigned long m = strtoul(optarg, &end, 8);
			if (*optarg == '\0' || *end != '\0' || m > 0777)
				config_die("--metrics-mode: '%s' is not an octal "
				    "mode such as 0600", optarg);
			cfg->metrics_mode = (unsigned)m;
			break;
		}
		case OPT_CONNECT: case OPT_GWHOST: case OPT_GWPORT:
		case OPT_GWCMD: case OPT_GWUPLOAD: case OPT_GWPATH:
		case OPT_KEEPENV: case OPT_H2STREAMS:
			config_connect_opt(c - OPT_CONNECT, optarg, cfg);
			break;
		case 'v': cfg->verbose = true; break;
		case 'h': config_usage(stdout); exit(0);
		default:
			fprintf(stderr, "(see keyhole --help)\n");
			exit(2);
		}
	}
	if (optind != argc)
		config_die("%s: unexpected argument '%s'", "serve", argv[optind]);
	config_conn_limits(cfg);
	cfg->nvars_cli = cfg->vars.n;
	config_env_vars(cfg);
	if (inject_finish(&cfg->inject, &bad) < 0)
		config_die("%s", bad);
	if (cfg->policy_file == NULL)
		config_die("--policy FILE is required");
	if (cfg->upstream == NULL)
		config_die("--upstream URL is required");
	config_audit_check(cfg);
	config_connect_check(cfg);
	/* The queue transport alone needs no listener, nor http2_v1. */
	if (cfg->nlisten == 0 && !listen_activated() && cfg->queue_dir == NULL &&
	    cfg->connect == NULL)
		config_env_listen(cfg);
}
