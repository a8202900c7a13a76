/*
 * keyhole serve: the parent's start-up, signals and drain.
 *
 * Order: parse configuration → read the policy BYTES (never parsed here)
 * and the bindings into generation 0 (gen.h) → load the credential and
 * token into locked pages → bind listeners → open the child binary → set
 * up libcurl and libevent → confine the parent → start the child → loop.
 * The ready file is written once the first child's policy table has been
 * validated.  SIGHUP reloads (reload.c); SIGTERM and SIGINT drain.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "audit.h"
#include "connect.h"
#include "evloop.h"
#include "log.h"
#include "metrics.h"
#include "priv.h"
#include "sdnotify.h"
#include "util.h"

struct parent *kh_parent;

/* Generation 0: the policy bytes and the bindings.  Where the
 * credential and the token come from decides what a reload re-reads: the
 * environment is wiped at start (secret.c), so what it gave is kept. */
static int
serve_first_gen(struct parent *p)
{
	const struct kh_config *cfg = p->cfg;
	char err[512];

	p->reload.cred_from_env = cfg->credential_file == NULL &&
	    getenv("KEYHOLE_CREDENTIAL") != NULL;
	p->reload.token_from_env = cfg->token_file == NULL;
	p->gen = gen_new(0);
	if (p->gen == NULL)
		return -1;
	gen_make_current(p->gen);
	if (gen_read_policy(p->gen, cfg->policy_file, err, sizeof(err)) < 0 ||
	    gen_bindings(p->gen, cfg, err, sizeof(err)) < 0) {
		log_fatal("%s", err);
		return -1;
	}
	return 0;
}

static int
serve_open_child_binary(struct parent *p)
{
	char path[PATH_MAX];
	const char *bin = p->cfg->net_binary;

	if (bin == NULL) {
		if (util_sibling_path("keyhole-net", path, sizeof(path)) < 0) {
			log_fatal("cannot resolve /proc/self/exe");
			return -1;
		}
		bin = path;
	}
	/* Opened once now: a restart always runs this file, whatever
	 * happens to the path later. */
	int fd = open(bin, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_fatal("cannot open child binary %s: %s",
		    bin, strerror(errno));
		return -1;
	}
	/* At a fixed number, above the child's fixed fds, so it survives
	 * their set-up and the parent's seccomp rule can name it. */
	if (fcntl(KH_EXE_FD, F_GETFD) >= 0 ||
	    dup3(fd, KH_EXE_FD, O_CLOEXEC) < 0) {
		log_fatal("fd %d is in use at start-up",
		    KH_EXE_FD);
		close(fd);
		return -1;
	}
	close(fd);
	p->exe_fd = KH_EXE_FD;
	return 0;
}

/* When root: the child chroots to an empty root-owned directory and runs
 * as an unprivileged user.  Check both now, so a misconfiguration is a
 * start-up error rather than a child that dies at every restart. */
static int
serve_child_identity(struct parent *p)
{
	struct child_config *cc = &p->ccfg;
	const char *user = p->cfg->user ? p->cfg->user : "nobody";
	struct stat st;

	if (geteuid() != 0) {
		if (p->cfg->user != NULL)
			log_warn("--user needs root; "
			    "the child keeps uid %ld", (long)getuid());
		return 0;
	}
	struct passwd *pw = getpwnam(user);
	if (pw == NULL || pw->pw_uid == 0 || pw->pw_gid == 0) {
		log_fatal("user '%s' %s; give --user NAME of an "
		    "unprivileged user", user, pw == NULL ? "does not exist" :
		    "is privileged (uid or gid 0)");
		return -1;
	}
	cc->drop_user = true;
	cc->uid = pw->pw_uid;
	cc->gid = pw->pw_gid;
	/* With the queue transport the child needs the queue directory and
	 * nothing else: it chroots into it (by fd) instead of the empty
	 * directory. */
	if (p->cfg->queue_dir != NULL) {
		cc->queue_chroot = true;
		return 0;
	}

	const char *dir = p->cfg->chroot_dir;
	if (dir[0] != '/' || strlen(dir) >= sizeof(cc->chroot_dir)) {
		log_fatal("--chroot %s must be an absolute path",
		    dir);
		return -1;
	}
	if (stat(dir, &st) < 0 && errno == ENOENT) {
		/* Create the default (and its parent) root-owned, 0755. */
		char parentdir[256];
		snprintf(parentdir, sizeof(parentdir), "%s", dir);
		char *slash = strrchr(parentdir, '/');
		if (slash != NULL && slash != parentdir) {
			*slash = '\0';
			mkdir(parentdir, 0755);
		}
		mkdir(dir, 0755);
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 022) != 0) {
		log_fatal("--chroot %s must be a directory owned "
		    "by root and writable by no one else (mkdir -m 755 %s)",
		    dir, dir);
		return -1;
	}
	if (st.st_nlink > 2) {
		log_fatal("--chroot %s must be empty", dir);
		return -1;
	}
	cc->do_chroot = true;
	strcpy(cc->chroot_dir, dir);
	return 0;
}

/*
 * The bridge token authenticates HTTP clients only: a request file
 * carries none (the gateway in the sandbox checked it, and whoever can
 * write requests/ can do anything the gateway can).  Serving the queue
 * alone, keyhole needs no token, and one given anyway is loaded as usual.
 */
static int
serve_load_token(const struct kh_config *cfg, struct secret *token)
{
	bool http = cfg->nlisten > 0 || listen_activated() ||
	    cfg->queue_dir == NULL;

	if (!http && cfg->token_file == NULL &&
	    getenv("PAPERCLIP_BRIDGE_TOKEN") == NULL) {
		memset(token, 0, sizeof(*token));
		return 0;
	}
	return secret_load_token(cfg, token);
}

static void
serve_child_config(struct parent *p)
{
	struct child_config *cc = &p->ccfg;
	const struct kh_config *cfg = p->cfg;

	cc->max_conns = cfg->max_conns;
	cc->max_conns_per_peer = cfg->max_conns_per_peer;
	cc->max_inflight = cfg->max_inflight;
	cc->max_head = cfg->max_head;
	cc->max_headers = cfg->max_headers;
	cc->max_body = cfg->max_body;
	cc->head_timeout_ms = cfg->head_timeout_ms;
	cc->body_timeout_ms = cfg->body_timeout_ms;
	cc->idle_timeout_ms = cfg->idle_timeout_ms;
	cc->write_timeout_ms = cfg->write_timeout_ms;
	cc->body_min_rate = cfg->body_min_rate;
	cc->nlisteners = (uint8_t)p->nlisteners;
	snprintf(cc->policy_name, sizeof(cc->policy_name), "%s",
	    cfg->policy_file);
	/* The token and the bindings are the child's generation's
	 * (monitor_send_config); the parent keeps its own copy of the
	 * bindings (gen->vars) and never takes a value back from the child. */
	/* The names the parent injects upstream (inject.c), forbidden in the
	 * child too; the metrics listener at fd 18. */
	cc->nforbid = (uint8_t)policy_forbid_count();
	for (size_t i = 0; i < cc->nforbid; i++)
		snprintf(cc->forbid[i], sizeof(cc->forbid[i]), "%s",
		    policy_forbid_name(i));
	cc->metrics = p->metrics_fd >= 0;
	/* http2_v1: the nonce is each session's (connect_open). */
	cc->connect = cfg->connect != NULL;
	cc->h2_max_streams = cc->connect ? cfg->h2_max_streams : 0;
}

static void
serve_exit_now(struct parent *p)
{
	event_base_loopbreak(p->base);
}

/* Draining: the parent exits when its last child has. */
void
serve_child_gone(struct parent *p)
{
	if (p->draining && p->child == NULL && p->candidate == NULL &&
	    p->retired == NULL)
		serve_exit_now(p);
}

static void
serve_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct parent *p = arg;
	size_t n = supervise_inflight(p);

	(void)fd;
	(void)what;
	if (p->child == NULL && p->retired == NULL) {
		serve_exit_now(p);
		return;
	}
	if (n > 0) {
		log_warn("drain deadline: answering %zu request(s) in flight", n);
		if (p->child != NULL)
			monitor_abort_inflight(p, p->child, true);
		for (struct child *c = p->retired; c != NULL;
		    c = c->next_retired)
			monitor_abort_inflight(p, c, true);
		/* Give the children a moment to write those answers. */
		struct timeval tv = { 1, 0 };
		evtimer_add(p->drain_ev, &tv);
		return;
	}
	if (p->child != NULL) {
		log_warn("drain deadline: child pid=%ld did not exit; killing "
		    "it", (long)p->child->pid);
		kill(p->child->pid, SIGKILL);
	}
	for (struct child *c = p->retired; c != NULL; c = c->next_retired) {
		log_warn("drain deadline: retired child pid=%ld did not exit; "
		    "killing it", (long)c->pid);
		kill(c->pid, SIGKILL);
	}
}

static void
serve_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct parent *p = arg;

	(void)what;
	if (sig == SIGCHLD) {
		supervise_reap(p);
		return;
	}
	if (sig == SIGHUP) {
		/* Reload (reload.c); never the default action, which would
		 * end the parent, its children and every request in flight. */
		reload_request(p);
		return;
	}
	if (p->draining)
		return;
	log_info("signal %d: draining (up to %u ms)", (int)sig,
	    p->cfg->drain_ms);
	audit_event(AUDIT_DRAIN, AF_INT("signal", (int)sig));
	p->draining = true;
	sdnotify_send("STOPPING=1\nSTATUS=draining");
	evtimer_del(p->restart_ev);
	/* A reload's candidate goes; retired children drain too. */
	reload_drain(p);
	if (p->child == NULL && p->retired == NULL) {
		serve_exit_now(p);
		return;
	}
	if (p->child != NULL && p->child->state == CS_SERVING) {
		p->child->state = CS_DRAINING;
		monitor_send_simple(p->child, MSG_SHUTDOWN);
	}
	/* The child holds the listeners too.  Until it exits it answers
	 * (503) whatever the kernel completes, then empties the backlog and
	 * closes them (conn.c): closing ours now makes its close the last,
	 * right after its final answers.  The last close of a listener resets
	 * what waits in its backlog, so it must not come later, from us.  Our
	 * Unix socket files go now too: a new client is refused at once. */
	listen_close(p->listeners, p->nlisteners);
	struct timeval tv = { p->cfg->drain_ms / 1000,
	    (p->cfg->drain_ms % 1000) * 1000 };
	evtimer_add(p->drain_ev, &tv);
}

int
serve_main(int argc, char **argv)
{
	static struct parent P;
	struct parent *p = &P;
	struct kh_config cfg;
	struct event *sig[4];
	int sigs[4] = { SIGTERM, SIGINT, SIGCHLD, SIGHUP };

	config_parse_serve(argc, argv, &cfg);
	kh_parent = p;
	p->cfg = &cfg;
	p->exe_fd = -1;
	p->metrics_fd = -1;
	p->backoff_ms = KH_RESTART_MIN_MS;
	log_init("keyhole", NULL);
	if (cfg.verbose)
		log_set_verbosity(LOG_DEBUG);
	log_set_format(cfg.log_format >= 0 ? (enum log_format)cfg.log_format :
	    isatty(STDERR_FILENO) ? LOG_FMT_TEXT : LOG_FMT_JSON);
	if (cfg.log_syslog && log_use_syslog() < 0)
		return 1;
	sdnotify_init();
	signal(SIGPIPE, SIG_IGN);

	for (int i = 0; i < 3; i++)
		p->connect_fds[i] = -1;
	p->connect_sock = -1;
	/* The launcher first: started by exec before the credential is
	 * loaded, it never holds a byte of it (connect.h). */
	if (cfg.connect != NULL && connect_init(p) < 0)
		return 1;
	if (serve_first_gen(p) < 0 ||
	    secret_load_credential(&cfg, &p->credential) < 0 ||
	    serve_load_token(&cfg, &p->gen->token) < 0 ||
	    serve_child_identity(p) < 0 ||
	    serve_open_child_binary(p) < 0)
		return 1;
	(void)log_redact(p->gen->token.buf, p->gen->token.len);
	for (size_t i = 0; i < 5; i++)
		p->queue_fds[i] = -1;
	if (cfg.queue_dir != NULL && queue_dirs_open(p) < 0)
		return 1;
	if (!p->ccfg.queue_chroot && p->queue_fds[4] >= 0) {
		/* Not root: no chroot, so the child needs no fd of the queue
		 * directory itself. */
		close(p->queue_fds[4]);
		p->queue_fds[4] = -1;
	}
	if (listen_open(&cfg, p->listeners, &p->nlisteners) < 0)
		return 1;
	if ((p->metrics = metrics_new()) == NULL || metrics_listen_open(p) < 0)
		return 1;
	serve_child_config(p);
	if (upstream_global_init() < 0)
		return 1;
	p->base = evloop_base_new();
	if (p->base == NULL)
		return 1;
	struct upstream_cfg ucfg = {
		.base_url = cfg.upstream,
		.ca_file = cfg.ca_file,
		.run_id = cfg.run_id,
		.inject = &cfg.inject,
		.timeout_ms = cfg.upstream_timeout_ms,
		.max_response = cfg.max_response,
		.max_connects = cfg.max_inflight,
	};
	/* It takes the credential over (and registers it with the log's
	 * redaction): upstream_cred.c. */
	p->up = upstream_new(p->base, &ucfg, &p->credential);
	if (p->up == NULL)
		return 1;
	if (cfg.connect != NULL && connect_attach(p) < 0)
		return 1;
	p->restart_ev = supervise_restart_event(p);
	p->drain_ev = evtimer_new(p->base, serve_drain_deadline, p);
	for (int i = 0; i < 4; i++) {
		sig[i] = evsignal_new(p->base, sigs[i], serve_signal_cb, p);
		if (sig[i] == NULL || event_add(sig[i], NULL) < 0)
			return 1;
	}
	if (audit_open(p) < 0 || sandbox_priv_enter(p) < 0)
		return 1;
	if (supervise_spawn(p, p->gen, CHILD_CURRENT) < 0)
		return 1;
	p->pid = (long)getpid();
	/* Access lines are written once per loop turn, before the turn's
	 * answers (log.h, log_batch_begin). */
	evloop_before_write(log_batch_flush);
	log_batch_begin(evloop_flush_soon);
	event_base_dispatch(p->base);
	log_batch_end();

	p->draining = true;	/* nothing starts again from here */
	if (p->candidate != NULL)
		supervise_discard(p, p->candidate);
	while (p->retired != NULL)
		supervise_discard(p, p->retired);
	if (p->child != NULL) {
		kill(p->child->pid, SIGKILL);
		monitor_abort_inflight(p, p->child, false);
	}
	listen_close(p->listeners, p->nlisteners);
	audit_close(p->draining ? "drained" : "stopped", p->exit_code);
	metrics_listen_close(p);
	if (p->exit_code == 0)
		log_info("stopped");
	/* The log layer points at the secret pages: forget them first. */
	log_redact_clear();
	upstream_destroy(p->up);
	secret_free(&p->credential);
	gen_unref(p->gen);
	return p->exit_code;
}
