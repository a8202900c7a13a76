/*
 * keyhole-net: draining (MSG_SHUTDOWN), retiring (MSG_RETIRE), and leaving.
 *
 * Retiring (a reload, src/priv/reload.c): a new child serves the same
 * listeners already, so this one closes its copies at once (what waits in
 * the backlog is the new child's), stops claiming queue files, and ends
 * every connection after one more answer, which says `connection: close`:
 * the request in progress, or the one a kept-alive connection begins
 * within conn_retire_idle_ms (a client may be sending it already: closing
 * under it would lose it).  A connection with nothing after that is closed
 * like any idle one.  From now on a head must carry the token the parent
 * sent (a rotated bridge token takes effect for every request read after
 * the reload); the policy stays this child's, as the parent re-checks it.
 * When no connection is left and nothing is pending, the child exits.
 * Under --connect (one session, which cannot move) it sends GOAWAY as a
 * drain does and exits once its streams are answered.
 *
 * Draining (SIGTERM):
 *
 * The listeners stay open and every connection accepted from then on is
 * answered 503 at once (conn_accept_cb), so a client the kernel has
 * already connected (one in the listen backlog) gets an answer, not a
 * reset.  Connections with a request in progress finish; those without
 * one are answered 503 (new) or closed (kept alive, nothing sent).  When
 * nothing is left to answer, the child answers what is still in the
 * backlog, closes the listeners (the parent closed its copies when the
 * drain began, serve.c) and exits.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "log.h"
#include "h2.h"
#include "net.h"

/* Read and discard what the client has sent, up to max bytes, without
 * waiting: a socket closed with unread input resets the connection. */
void
conn_drain_input(int fd, size_t max)
{
	char sink[4096];
	ssize_t r;

	while (max > 0 && (r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		max = (size_t)r < max ? max - (size_t)r : 0;
}

/* Bytes the kernel holds for c that the child has not read yet. */
static bool
conn_input_pending(struct conn *c)
{
	int fd = bufferevent_getfd(c->bev), avail = 0;

	return fd >= 0 && ioctl(fd, FIONREAD, &avail) == 0 && avail > 0;
}

static void conn_listen_close(struct net *n);

static void conn_leave(struct net *n);

/* Retired: exit once every connection is gone or lingering after its
 * last answer, and nothing is pending. */
static void
conn_retire_maybe_exit(struct net *n)
{
	for (struct conn *c = n->conns; c != NULL; c = c->next)
		if (c->phase != PH_CLOSING)
			return;
	if (n->npending > 0 || !h2_idle(n))
		return;
	conn_leave(n);
}

/* During shutdown the child exits once nothing is left to answer. */
void
conn_maybe_exit(struct net *n)
{
	if (n->retiring && !n->shutting_down) {
		conn_retire_maybe_exit(n);
		return;
	}
	if (!n->shutting_down)
		return;
	for (struct conn *c = n->conns; c != NULL; c = c->next)
		if (c->phase != PH_IDLE && c->phase != PH_CLOSING)
			return;
	if (n->npending > 0 || !h2_idle(n))
		return;
	/* The backlog: answered 503 and closed at once. */
	conn_listen_close(n);
	conn_leave(n);
}

static void
conn_leave(struct net *n)
{
	/* What lingering connections still have unread is read now, so that
	 * the exit closes them with FIN, not RST. */
	for (struct conn *c = n->conns; c != NULL; c = c->next)
		if (c->phase == PH_CLOSING && bufferevent_getfd(c->bev) >= 0)
			conn_drain_input(bufferevent_getfd(c->bev),
			    c->linger_left);
	conn_admit_report_now(n);
	log_debug("%s complete", n->shutting_down ? "shutdown" : "retire");
	conn_exit(n);
}

/* Weak: the fuzz harness for the parent's replies links its own, which
 * records the exit (this one would end the fuzzer). */
__attribute__((weak)) void
conn_exit(struct net *n)
{
	/* Flush queued log frames to the parent before leaving (blocking:
	 * the last lines say why).  A socket bufferevent freezes the start of
	 * its output for everyone but itself; evbuffer_write on it wrote
	 * nothing, so those lines were lost. */
	struct evbuffer *out = bufferevent_get_output(n->parent);
	int fl = fcntl(KH_CHILD_FD_PARENT, F_GETFL);
	if (fl >= 0)
		(void)fcntl(KH_CHILD_FD_PARENT, F_SETFL, fl & ~O_NONBLOCK);
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) > 0 &&
	    evbuffer_write(out, KH_CHILD_FD_PARENT) > 0)
		;
	_exit(0);
}

/*
 * The end of a drain: answer what the kernel has completed, then close.
 * Closing the last copy of a listening socket resets the connections in
 * its backlog; the parent closed its copies when the drain began
 * (serve.c), so these are the last, and the backlog is emptied (each
 * connection answered 503) right before each is closed: a connection
 * completing in the microseconds between the last accept and the close is
 * the only one left to be reset.  (A drop-all socket filter would close
 * that gap, but attaching one needs CAP_NET_ADMIN on some kernels, and it
 * would outlive keyhole on a socket systemd holds for the next instance;
 * on such a socket, what arrives after the sweep simply waits in
 * systemd's copy for the next instance.)
 */
static void
conn_listen_close(struct net *n)
{
	if (n->listeners_closed)
		return;
	n->listeners_closed = true;
	conn_listen_disable(n);
	for (size_t i = 0; i < n->nlisteners; i++) {
		int fd = KH_CHILD_FD_LISTEN + (int)i, fl;

		if ((fl = fcntl(fd, F_GETFL)) >= 0 &&
		    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0) {
			for (unsigned k = 0; k < KH_CONNS_MAX; k++) {
				int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
				if (cfd < 0)
					break;
				conn_refuse_fd(n, cfd, CR_SHUTDOWN);
			}
		}
		if (n->listeners[i] != NULL) {
			evconnlistener_free(n->listeners[i]);	/* closes fd */
			n->listeners[i] = NULL;
		} else {
			close(fd);
		}
	}
}

/* A connection with no request yet, at shutdown: 503 and close (not
 * logged one by one: a flood may be what is being drained). */
static void
conn_answer_shutdown(struct conn *c)
{
	size_t len;
	const char *text = conn_503_text(CR_SHUTDOWN, &len);

	c->close_after = true;
	evbuffer_add(bufferevent_get_output(c->bev), text, len);
	conn_writing(c);
	conn_admit_refused(c->net, CR_SHUTDOWN);
}

/* Nothing in progress and nothing to answer at shutdown: kept alive
 * between requests with no byte of a next one sent (or received). */
static bool
conn_quiet(struct conn *c)
{
	return c->phase == PH_IDLE || (c->phase == PH_HEAD &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0);
}

/* MSG_SHUTDOWN.  The listeners stay open: whoever connects while the
 * requests in progress finish is answered 503 (conn_accept_cb).  Every
 * answer is queued before any connection is closed: a close may end the
 * child (conn_maybe_exit), which must not happen with answers owed. */
void
conn_shutdown(struct net *n)
{
	struct conn *c, *next;

	n->shutting_down = true;
	for (c = n->conns; c != NULL; c = c->next) {
		if (conn_quiet(c)) {
			/* A new connection (the client is about to send, or
			 * has sent what the child has not read yet) gets an
			 * answer; a kept-alive idle one is closed below. */
			if (c->nrequests == 0 || conn_input_pending(c))
				conn_answer_shutdown(c);
		} else if (c->phase == PH_HEAD || c->phase == PH_BODY) {
			/* A partial request cannot be served any more. */
			conn_fail(c, PC_SHUTTING_DOWN);
		}
	}
	for (c = n->conns; c != NULL; c = next) {
		next = c->next;
		if (c->phase == PH_CLOSING || conn_quiet(c))
			conn_free(c);
	}
	conn_maybe_exit(n);
}

uint32_t
conn_retire_idle_ms(const struct net *n)
{
	return n->cfg.idle_timeout_ms < KH_RETIRE_IDLE_MS ?
	    n->cfg.idle_timeout_ms : KH_RETIRE_IDLE_MS;
}

/* MSG_RETIRE.  Nothing is answered or closed here but what was idle
 * already: every connection gets one more answer at most. */
void
conn_retire(struct net *n, const char *tok, size_t len)
{
	struct conn *c, *next;

	n->retiring = true;
	/* The token of every head read from now on; the old bytes go. */
	explicit_bzero(n->cfg.token, sizeof(n->cfg.token));
	memcpy(n->cfg.token, tok, len);
	n->cfg.token_len = len;
	log_redact_clear();
	log_redact(n->cfg.token, n->cfg.token_len);
	/* The listeners: ours close; the parent and the new child keep the
	 * sockets (and their backlogs) open. */
	conn_listen_disable(n);
	for (size_t i = 0; i < n->nlisteners; i++) {
		if (n->listeners[i] != NULL) {
			evconnlistener_free(n->listeners[i]);	/* closes fd */
			n->listeners[i] = NULL;
		} else {
			close(KH_CHILD_FD_LISTEN + (int)i);
		}
	}
	n->listeners_closed = true;
	queue_shutdown(n);
	/* The operator's metrics listener: the new child's too. */
	metrics_serve_stop(n);
	/* http2_v1: the session is this child's and cannot move; GOAWAY,
	 * the streams the gateway opened finish under this child's policy,
	 * and the parent starts the next session once it has exited
	 * (src/priv/reload.c). */
	h2_shutdown(n);
	for (c = n->conns; c != NULL; c = next) {
		next = c->next;
		switch (c->phase) {
		case PH_IDLE:
			/* The one request a client may be sending now. */
			c->close_after = true;
			conn_arm(c, conn_retire_idle_ms(n));
			break;
		case PH_HEAD:
		case PH_BODY:
		case PH_UPSTREAM:
			c->close_after = true;
			break;
		case PH_WRITING:
			/* Its answer is on its way without `connection: close`;
			 * conn_write_cb keeps it for one more (conn.c). */
		case PH_CLOSING:
			break;
		}
	}
	log_info("retired by a reload: %zu connection(s) and %zu request(s) "
	    "to finish", n->nconns, n->npending);
	link_send_retired(n);
	conn_maybe_exit(n);
}
