/*
 * keyhole parent: the child a reload replaced (reload.c's step 4 and
 * after).  It gets MSG_RETIRE with the new token; its answer MSG_RETIRED
 * (its listeners closed) ends the reload, so that whoever waits for the
 * outcome knows every new connection is the new child's; a retired child
 * that is gone ends it too.  It has --drain-ms to finish: then what it
 * still has upstream is answered, and a second later it is killed.  It is
 * never restarted.  queue_v1: the current child gets MSG_QUEUE_START only
 * once no retired child that held the queue is left (reaped), so two
 * children never claim request files at once.  SIGTERM drains retired
 * children like the current one.
 */
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "log.h"
#include "priv.h"

/* The old child at its deadline: first its requests upstream are
 * answered (as serve.c's drain does), a second later it is killed. */
static void
reload_retire_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	struct parent *p = kh_parent;

	(void)fd;
	(void)what;
	if (!c->retire_late) {
		struct timeval tv = { 1, 0 };
		c->retire_late = true;
		if (c->ninflight > 0) {
			log_warn("retired child pid=%ld: --drain-ms passed; "
			    "answering its %zu request(s) in flight", (long)c->pid,
			    c->ninflight);
			monitor_abort_inflight(p, c, true);
		}
		evtimer_add(c->retire_ev, &tv);
		return;
	}
	log_warn("retired child pid=%ld did not finish within --drain-ms; "
	    "killing it", (long)c->pid);
	supervise_end(p, c);
}

void
reload_retire(struct parent *p, struct child *c, const struct kh_gen *g)
{
	struct timeval tv = { p->cfg->drain_ms / 1000,
	    (p->cfg->drain_ms % 1000) * 1000 };
	struct reload *rl = &p->reload;
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_RETIRE, 0);
	msg_put_str(&w, g->token.buf, g->token.len);
	if (msg_finish(&w) == 0)
		bufferevent_write(c->bev, w.buf, w.len);
	if (w.buf != NULL)
		explicit_bzero(w.buf, w.len);	/* the token */
	wbuf_free(&w);
	c->state = CS_RETIRED;
	c->role = CHILD_RETIRED;
	c->next_retired = p->retired;
	p->retired = c;
	p->nretired++;
	if (p->cfg->queue_dir != NULL && rl->nholders < KH_RETIRING_MAX)
		rl->queue_holders[rl->nholders++] = c->pid;
	c->retire_ev = evtimer_new(p->base, reload_retire_deadline, c);
	if (c->retire_ev != NULL)
		evtimer_add(c->retire_ev, &tv);
	log_info("child pid=%ld (generation %llu) retired: it finishes %zu "
	    "request(s) in flight and its open connections, then exits",
	    (long)c->pid, (unsigned long long)c->gen->number, c->ninflight);
}

void
reload_dismiss(struct parent *p, struct child *c)
{
	struct timeval tv = { p->cfg->drain_ms / 1000,
	    (p->cfg->drain_ms % 1000) * 1000 };

	/* It never got POLICY_OK: it accepts nothing, has no session and
	 * is never pinged; MSG_SHUTDOWN ends it at once (link.c). */
	liveness_detach(c);
	monitor_send_simple(c, MSG_SHUTDOWN);
	c->state = CS_DRAINING;
	c->role = CHILD_RETIRED;
	c->next_retired = p->retired;
	p->retired = c;
	p->nretired++;
	c->retire_ev = evtimer_new(p->base, reload_retire_deadline, c);
	if (c->retire_ev != NULL)
		evtimer_add(c->retire_ev, &tv);
}

void
reload_retired_ack(struct parent *p, struct child *c)
{
	struct reload *rl = &p->reload;

	log_debug("retired child pid=%ld accepts no more", (long)c->pid);
	if (rl->awaiting == c) {
		rl->awaiting = NULL;
		reload_finish(p, true, NULL);
	}
}

void
reload_queue_start(struct parent *p, struct child *c)
{
	struct reload *rl = &p->reload;

	if (p->cfg->queue_dir == NULL || c->state != CS_SERVING)
		return;
	if (rl->nholders > 0) {
		rl->queue_waiting = true;
		log_info("queue_v1: the new child takes the queue once the "
		    "retired one has exited");
		return;
	}
	rl->queue_waiting = false;
	monitor_send_simple(c, MSG_QUEUE_START);
}

void
reload_reaped(struct parent *p, pid_t pid)
{
	struct reload *rl = &p->reload;

	for (size_t i = 0; i < rl->nholders; i++)
		if (rl->queue_holders[i] == pid) {
			rl->queue_holders[i] = rl->queue_holders[--rl->nholders];
			break;
		}
	if (rl->queue_waiting && rl->nholders == 0 && p->child != NULL &&
	    !p->draining)
		reload_queue_start(p, p->child);
}

void
reload_child_free(struct parent *p, struct child *c)
{
	struct reload *rl = &p->reload;

	if (c->retire_ev != NULL) {
		event_free(c->retire_ev);
		c->retire_ev = NULL;
	}
	if (rl->awaiting == c) {
		/* Gone (exited, killed): it accepts no more either. */
		rl->awaiting = NULL;
		reload_finish(p, true, NULL);
	}
	/* http2_v1: the old session's child is gone; its CMD is being
	 * stopped (supervise.c set connect_old) or has exited. */
	if (c->role == CHILD_RETIRED)
		reload_connect_next(p);
}

void
reload_drain(struct parent *p)
{
	if (p->candidate != NULL) {
		supervise_discard(p, p->candidate);
		if (p->reload.running)
			reload_fail(p, "keyhole is stopping");
	}
	p->reload.again = false;
	p->connect_pending = false;
	if (p->reload.running && p->reload.connect_wait) {
		/* Swapped already; the new session's child never starts. */
		p->reload.connect_wait = false;
		reload_finish(p, true, NULL);
	}
	for (struct child *c = p->retired; c != NULL; c = c->next_retired)
		if (c->state == CS_RETIRED) {
			c->state = CS_DRAINING;
			monitor_send_simple(c, MSG_SHUTDOWN);
		}
}
