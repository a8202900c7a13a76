/*
 * keyhole parent: reload under http2_v1 (`keyhole serve --connect CMD`).
 *
 * A session (one run of CMD, its HTTP/2 state) lives exactly as long as
 * the child that holds its pipes and cannot move (connect.c); the gateway
 * in the sandbox binds one fixed port, so two sessions cannot serve side
 * by side either.  A reload therefore does not overlap two children:
 *
 *  1. The candidate gets no session (connect_blank): it compiles the new
 *     policy in the same sandbox and sends its table, which the parent
 *     decodes with the new bindings, as for any reload (reload.c); any
 *     failure leaves the current child and its session untouched.
 *  2. Accepted: the new generation is current (its table, buckets,
 *     credential for every transfer started from now on); the candidate
 *     is told to exit (reload_dismiss); the old child gets MSG_RETIRE:
 *     GOAWAY, the streams the gateway opened finish under the old
 *     generation (each request re-checked against it, as ever), then it
 *     exits (--drain-ms at most).
 *  3. Once it is gone and its CMD has exited (the launcher's report; the
 *     launcher kills it at KH_CONNECT_KILL_GRACE_MS), the new
 *     generation's child starts with a new session: a new run of CMD, a
 *     new nonce, the new token in the gateway's settings.  The reload is
 *     reported done when that child serves (its table accepted: the same
 *     text, so the same table as the candidate's, or it is killed).
 *
 * Between 2 and 3 nothing serves the sandbox: the gateway is gone with
 * its CMD, so the agent's connections are refused until the new gateway
 * listens (keyhole-gateway and Paperclip's gateway alike; keyhole(8),
 * SECURITY.md "Reload").  No request is ever checked under one policy and
 * forwarded under another: there is one child, of one generation, at a
 * time, and the parent re-checks each request against the generation of
 * the child that sent it.
 */
#include <event2/event.h>

#include "log.h"
#include "priv.h"

void
reload_connect_swap(struct parent *p, struct child *c, struct child *oldc)
{
	struct reload *rl = &p->reload;

	reload_dismiss(p, c);
	p->child = NULL;
	p->connect_pending = true;
	rl->connect_wait = true;
	if (oldc != NULL) {
		if (oldc->state == CS_SERVING)
			reload_retire(p, oldc, p->gen);
		else
			supervise_discard(p, oldc);	/* was starting */
	}
	log_info("reload: http2_v1: the new child starts with a new session "
	    "once the old one has finished its streams and its command has "
	    "exited");
	reload_connect_next(p);
}

void
reload_connect_next(struct parent *p)
{
	struct timeval now = { 0, 0 };

	if (!p->connect_pending || p->draining || p->child != NULL)
		return;
	for (const struct child *r = p->retired; r != NULL; r = r->next_retired)
		if (r->session > 0)
			return;		/* still serving its streams */
	if (p->connect_old > 0)
		return;			/* its CMD has not exited yet */
	p->connect_pending = false;
	/* supervise.c's restart, at once: a session that cannot start is
	 * retried with back-off, as after any session's end. */
	evtimer_del(p->restart_ev);
	evtimer_add(p->restart_ev, &now);
}

void
reload_child_serves(struct parent *p, struct child *c)
{
	struct reload *rl = &p->reload;

	if (!rl->running || !rl->connect_wait || c != p->child ||
	    c->gen != p->gen)
		return;
	rl->connect_wait = false;
	reload_finish(p, true, NULL);
}
