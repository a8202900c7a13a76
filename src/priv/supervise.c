/*
 * keyhole child supervision: start keyhole-net by fork + exec (a fresh
 * address space: no byte of the credential ever existed in it), reap it,
 * and restart it with back-off.  The listening sockets stay open in the
 * parent across restarts.
 *
 * Children have a role (priv.h): the current one (restarted when it
 * dies), a reload's candidate (reload.c: never restarted; its end is the
 * reload's failure) and retired ones (replaced by a reload, finishing;
 * never restarted).  Each holds its generation (gen.h).
 *
 * The child's fds are fixed (child_config.h): 0-2 /dev/null, 3 the
 * socketpair, 4 a sealed memfd with the policy text, 5.. the listeners,
 * 13-17 the queue transport's directories (queue_dirs.c), 18 the metrics
 * listener (metrics.c), 19-21 the http2_v1 command's pipes (connect.c; a
 * reload's candidate gets pipes that carry nothing); in sanitizer builds
 * fd 2 is the parent's stderr, for their reports.
 * Its environment is empty.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "connect.h"
#include "log.h"
#include "metrics.h"
#include "priv.h"
#include "sdnotify.h"
#include "util.h"

/* The parent's clock: util_now_ms, behind a name of its own that
 * tests/fuzz/fuzz_parent_msgs.c replaces with a fixed one. */
int64_t
supervise_now_ms(void)
{
	return util_now_ms();
}

static int
supervise_policy_memfd(const struct kh_gen *g)
{
	int fd = memfd_create("keyhole-policy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < g->len) {
		ssize_t n = write(fd, g->text + off, g->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	/* The child may read it, never change what the next child reads. */
	(void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE | F_SEAL_SEAL);
	if (lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
supervise_exec_child(const struct parent *p, int sock, int polfd)
{
	int src[3 + KH_LISTENERS_MAX], n = 0, devnull, qsrc[5], hsrc[3];
	int msrc = -1;
	char nbuf[4];
	char *const argv[] = { "keyhole-net", "child", nbuf, NULL };
	char *const envp[] = { NULL };
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Die with the parent: nothing may keep serving unsupervised. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(127);
	devnull = open("/dev/null", O_RDWR);
	if (devnull < 0)
		_exit(127);
	/* Move every source above the target range first, so a dup2 can
	 * never clobber a source that already sits on a target number. */
	src[n++] = fcntl(devnull, F_DUPFD, 64);	/* 64..: below KH_EXE_FD */
	src[n++] = fcntl(sock, F_DUPFD, 64);
	src[n++] = fcntl(polfd, F_DUPFD, 64);
	for (size_t i = 0; i < p->nlisteners; i++)
		src[n++] = fcntl(p->listeners[i].fd, F_DUPFD, 64);
	for (int i = 0; i < n; i++)
		if (src[i] < 0)
			_exit(127);
	for (int i = 0; i < 5; i++) {
		qsrc[i] = -1;
		if (p->queue_fds[i] >= 0 &&
		    (qsrc[i] = fcntl(p->queue_fds[i], F_DUPFD, 64)) < 0)
			_exit(127);
	}
	if (p->metrics_fd >= 0 &&
	    (msrc = fcntl(p->metrics_fd, F_DUPFD, 64)) < 0)
		_exit(127);
	for (int i = 0; i < 3; i++) {		/* http2_v1: connect.c */
		hsrc[i] = -1;
		if (p->connect_fds[i] >= 0 &&
		    (hsrc[i] = fcntl(p->connect_fds[i], F_DUPFD, 64)) < 0)
			_exit(127);
	}
#ifdef KH_SANITIZE
	/* Sanitizer builds only: the child's fd 2 stays the parent's stderr,
	 * where ASan/UBSan write their reports (the child writes nothing
	 * else there: its log lines go through the parent).  Otherwise a
	 * memory error in the child would end it silently. */
	if (dup2(src[0], 0) < 0 || dup2(src[0], 1) < 0 ||
#else
	if (dup2(src[0], 0) < 0 || dup2(src[0], 1) < 0 || dup2(src[0], 2) < 0 ||
#endif
	    dup2(src[1], KH_CHILD_FD_PARENT) < 0 ||
	    dup2(src[2], KH_CHILD_FD_POLICY) < 0)
		_exit(127);
	for (size_t i = 0; i < p->nlisteners; i++)
		if (dup2(src[3 + i], KH_CHILD_FD_LISTEN + (int)i) < 0)
			_exit(127);
	for (int i = 0; i < 5; i++)
		if (qsrc[i] >= 0 && dup2(qsrc[i], KH_CHILD_FD_QREQ + i) < 0)
			_exit(127);
	for (int i = 0; i < 3; i++)
		if (hsrc[i] >= 0 && dup2(hsrc[i], KH_CHILD_FD_H2IN + i) < 0)
			_exit(127);
	/* dup2 clears FD_CLOEXEC on the targets; close everything else but
	 * the binary to exec (close-on-exec itself). */
	if (KH_CHILD_FD_LISTEN + (int)p->nlisteners < KH_CHILD_FD_QREQ)
		syscall(SYS_close_range, KH_CHILD_FD_LISTEN +
		    (unsigned)p->nlisteners, KH_CHILD_FD_QREQ - 1, 0);
	for (int i = 0; i < 5; i++)
		if (qsrc[i] < 0)
			close(KH_CHILD_FD_QREQ + i);
	if (msrc >= 0 ? dup2(msrc, KH_CHILD_FD_METRICS) < 0 :
	    (close(KH_CHILD_FD_METRICS), false))
		_exit(127);
	for (int i = 0; i < 3; i++)
		if (hsrc[i] < 0)
			close(KH_CHILD_FD_H2IN + i);
	syscall(SYS_close_range, KH_CHILD_FD_LAST + 1, KH_EXE_FD - 1, 0);
	syscall(SYS_close_range, KH_EXE_FD + 1, ~0U, 0);
	nbuf[0] = (char)('0' + p->nlisteners);
	nbuf[1] = '\0';
	syscall(SYS_execveat, p->exe_fd, "", argv, envp, AT_EMPTY_PATH);
	_exit(127);
}

int
supervise_spawn(struct parent *p, struct kh_gen *g, enum child_role role)
{
	int sv[2], polfd;
	pid_t pid, session = 0;
	struct child *c;

	/* http2_v1: this child's session, CMD started with g's token
	 * (connect.c); a reload's candidate gets none (one session at a
	 * time: reload.c). */
	if (p->cfg->connect != NULL && (role == CHILD_CANDIDATE ?
	    connect_blank(p) : connect_open(p, &g->token, &session)) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("socketpair: %s", strerror(errno));
		goto fail;
	}
	polfd = supervise_policy_memfd(g);
	if (polfd < 0) {
		log_error("policy memfd: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		close(polfd);
		goto fail;
	}
	if (pid == 0)
		supervise_exec_child(p, sv[1], polfd);
	close(sv[1]);
	close(polfd);
	connect_close_fds(p);
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		kill(pid, SIGKILL);
		close(sv[0]);
		connect_stop(p, session);
		return -1;
	}
	c->pid = pid;
	c->session = session;
	c->state = CS_WAIT_POLICY;
	c->base = p->base;
	c->gen = gen_ref(g);
	c->role = role;
	evutil_make_socket_nonblocking(sv[0]);
	c->bev = bufferevent_socket_new(p->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		kill(pid, SIGKILL);
		close(sv[0]);
		connect_stop(p, session);
		gen_unref(c->gen);
		free(c);
		return -1;
	}
	c->started_ms = supervise_now_ms();
	if (liveness_attach(p, c) < 0) {
		log_error("cannot set up the child's liveness timer");
		kill(pid, SIGKILL);
		bufferevent_free(c->bev);
		connect_stop(p, session);
		gen_unref(c->gen);
		free(c);
		return -1;
	}
	if (role == CHILD_CANDIDATE) {
		p->candidate = c;
	} else {
		p->child = c;
		p->child_started_ms = c->started_ms;
	}
	monitor_attach(p, c);
	monitor_send_config(p, c);
	log_info("started child pid=%ld (generation %llu%s)", (long)pid,
	    (unsigned long long)g->number, role == CHILD_CANDIDATE ?
	    ", a reload's" : "");
	audit_event(AUDIT_CHILD_START, AF_INT("pid", pid),
	    AF_INT("generation", g->number), AF_STR("role", child_role_name(role)));
	return 0;
fail:
	connect_close_fds(p);
	connect_stop(p, session);
	return -1;
}

bool
supervise_live(const struct parent *p, const struct child *c)
{
	if (c == p->child || c == p->candidate)
		return c != NULL;
	for (const struct child *r = p->retired; r != NULL; r = r->next_retired)
		if (r == c)
			return true;
	return false;
}

size_t
supervise_inflight(const struct parent *p)
{
	size_t n = p->child != NULL ? p->child->ninflight : 0;

	for (const struct child *r = p->retired; r != NULL; r = r->next_retired)
		n += r->ninflight;
	return n;
}

/* c leaves whatever place it had. */
static void
supervise_unlink(struct parent *p, struct child *c)
{
	if (p->child == c)
		p->child = NULL;
	if (p->candidate == c)
		p->candidate = NULL;
	for (struct child **pp = &p->retired; *pp != NULL;
	    pp = &(*pp)->next_retired)
		if (*pp == c) {
			*pp = c->next_retired;
			p->nretired--;
			break;
		}
}

/* The child that reaped or killed c is found by pid. */
static struct child *
supervise_find(struct parent *p, pid_t pid)
{
	if (p->child != NULL && p->child->pid == pid)
		return p->child;
	if (p->candidate != NULL && p->candidate->pid == pid)
		return p->candidate;
	for (struct child *r = p->retired; r != NULL; r = r->next_retired)
		if (r->pid == pid)
			return r;
	return NULL;
}

static void
supervise_free_child(struct parent *p, struct child *c)
{
	if (c->role == CHILD_CURRENT)
		p->child_served = c->pinging;
	/* http2_v1: the session was this child's; its command goes too
	 * (a reload's next session waits for its exit: reload_connect.c). */
	if (c->session > 0 && p->connect_pending)
		p->connect_old = c->session;
	connect_stop(p, c->session);
	c->session = 0;
	liveness_detach(c);
	reload_child_free(p, c);
	monitor_abort_inflight(p, c, false);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	audit_child_gone(c);
	gen_unref(c->gen);
	free(c);
}

/* A child that must not serve (a reload's candidate that failed, a
 * current child still starting when a reload replaced it): killed and
 * forgotten, never restarted, nothing reported. */
void
supervise_discard(struct parent *p, struct child *c)
{
	kill(c->pid, SIGKILL);
	supervise_unlink(p, c);
	supervise_free_child(p, c);
}

/* It never gets another message; its requests upstream are cancelled
 * unanswered (the child held their clients: an HTTP client sees its
 * connection close, a queue request is answered by the next child from
 * processing/), exactly as when a child dies by itself. */
void
supervise_end(struct parent *p, struct child *c)
{
	enum child_role role = c->role;

	kill(c->pid, SIGKILL);
	supervise_unlink(p, c);
	if (role == CHILD_CURRENT)
		p->dead_pid = c->pid;	/* the reap restarts it */
	supervise_free_child(p, c);
	/* A candidate is never restarted: the reload failed, the current
	 * configuration serves on. */
	if (role == CHILD_CANDIDATE)
		reload_candidate_gone(p, NULL);
}

/* A child that broke the protocol is an attacker. */
void
supervise_kill(struct parent *p, struct child *c, const char *why)
{
	log_error("protocol violation from child pid=%ld: %s; killing it",
	    (long)c->pid, why);
	audit_event(AUDIT_VIOLATION, AF_INT("pid", c->pid), AF_STR("why", why));
	if (c == p->candidate)
		reload_note_error(p, "the new child broke the protocol: %s",
		    why);
	supervise_end(p, c);
}

static void
supervise_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct parent *p = arg;

	(void)fd;
	(void)what;
	if (p->draining || p->child != NULL)
		return;
	if (supervise_spawn(p, p->gen, CHILD_CURRENT) < 0) {
		struct timeval tv = { p->backoff_ms / 1000,
		    (p->backoff_ms % 1000) * 1000 };
		evtimer_add(p->restart_ev, &tv);
	}
}

struct event *
supervise_restart_event(struct parent *p)
{
	return evtimer_new(p->base, supervise_restart_cb, p);
}

static void
supervise_schedule(struct parent *p)
{
	/* A child that served a while earns a fresh back-off (one that
	 * never got ready, however long it took to fail, does not). */
	if (p->child_served &&
	    supervise_now_ms() - p->child_started_ms > KH_RESTART_RESET_MS)
		p->backoff_ms = KH_RESTART_MIN_MS;
	struct timeval tv = { p->backoff_ms / 1000,
	    (p->backoff_ms % 1000) * 1000 };
	log_info("restarting child in %u ms", p->backoff_ms);
	audit_event(AUDIT_CHILD_RESTART, AF_INT("delayMs", p->backoff_ms));
	metrics_child_restart(p->metrics);
	sdnotify_send("STATUS=child exited; restarting");
	evtimer_add(p->restart_ev, &tv);
	p->backoff_ms *= 2;
	if (p->backoff_ms > KH_RESTART_MAX_MS)
		p->backoff_ms = KH_RESTART_MAX_MS;
}

void
supervise_reap(struct parent *p)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		char how[64];
		if (WIFEXITED(status))
			snprintf(how, sizeof(how), "status %d",
			    WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			snprintf(how, sizeof(how), "signal %d%s",
			    WTERMSIG(status), WTERMSIG(status) == SIGSYS ?
			    " (seccomp)" : "");
		else
			continue;
		struct child *c = supervise_find(p, pid);
		/* Its last log and access lines (and why it exits) first. */
		if (c != NULL)
			monitor_final_read(p, c);
		bool current = c != NULL && c->role == CHILD_CURRENT;
		bool fatal = current && c->fatal;
		if (c != NULL && c->role == CHILD_RETIRED &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0)
			log_info("retired child pid=%ld exited", (long)pid);
		else
			log_warn("child pid=%ld exited (%s)", (long)pid, how);
		/* After its last frames (its refusals among them: audit
		 * records), with its role: a retired child's exit is its
		 * normal end, not a crash. */
		audit_event(AUDIT_CHILD_EXIT, AF_INT("pid", pid),
		    AF_STR("how", how),
		    AF_STR("role", c != NULL ? child_role_name(c->role) : NULL));
		if (c != NULL) {
			enum child_role role = c->role;
			supervise_unlink(p, c);
			supervise_free_child(p, c);
			if (role == CHILD_CANDIDATE) {
				char why[80];
				snprintf(why, sizeof(why), "exited (%s)", how);
				reload_candidate_gone(p, why);
			}
		}
		/* A retired child's end frees the queue for the current one
		 * (also when it was killed, so freed, before this reap). */
		reload_reaped(p, pid);
		if (!current && pid != p->dead_pid) {
			if (p->draining)
				serve_child_gone(p);
			continue;
		}
		if (p->draining) {
			serve_child_gone(p);
			continue;
		}
		if (fatal && !p->ever_served) {
			/* Start-up error (e.g. the policy does not compile):
			 * restarting cannot help; the operator must fix it. */
			p->exit_code = 1;
			event_base_loopbreak(p->base);
			continue;
		}
		supervise_schedule(p);
	}
}
