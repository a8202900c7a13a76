/*
 * keyhole child liveness: the parent notices a child that never gets
 * ready or stops working, and restarts it like a dead one.
 *
 * Every child has one timer, ticking every quarter of --child-timeout-ms
 * (T; at most a quarter of systemd's watchdog period, when there is one):
 *
 *   starting (CS_WAIT_POLICY)  the child must send its policy table
 *       within T of its exec.  A child blocked before that (a FIFO, a
 *       stopped process, a bug) would otherwise hold the bridge forever.
 *       The first child failing so ends keyhole with exit status 1 (an
 *       operator must look, as for a policy that does not compile); a
 *       later one is restarted with back-off.
 *   serving / draining  the child must show progress within T: a byte
 *       of a frame from it, or the answer to a ping.  (Bytes the parent
 *       writes prove nothing: the kernel takes a few hundred KiB for a
 *       stopped child too.)  A tick that finds no ping outstanding sends
 *       one (MSG_PING, a fresh random nonce as its id; the child answers
 *       MSG_PONG with that id from its event loop, monitor.c's mon_pong
 *       checks it), so an idle child answers every tick.  Bytes count as
 *       well as pongs because a pong queues behind the frames before it:
 *       behind a few 8 MiB request bodies the parent is still reading, a
 *       healthy child's pong can take longer than a ping interval.  A
 *       stopped or spinning child writes no byte (what it wrote before is
 *       drained from the socket in moments) and answers nothing: it is
 *       killed and restarted, and its requests are treated exactly as a
 *       dead child's (supervise_end).
 *
 * A deadline counts only after two ticks of the parent's own loop have
 * passed since the ping went out (or since the start): a parent that was
 * itself paused (SIGSTOP, a suspended VM) reads what waits in the socket
 * before it can blame the child.
 *
 * What a legitimately busy child costs: kh_limits.h, KH_DEF_CHILD_TIMEOUT_MS.
 */
#include <signal.h>
#include <sys/random.h>

#include <event2/buffer.h>

#include "audit.h"
#include "log.h"
#include "metrics.h"
#include "priv.h"
#include "sdnotify.h"

/* The tick, milliseconds. */
static uint32_t
liveness_tick_ms(const struct parent *p)
{
	uint32_t t = p->cfg->child_timeout_ms / 4;
	uint32_t wd = sdnotify_watchdog_ms() / 4;

	if (wd > 0 && wd < t)
		t = wd;
	return t > 0 ? t : 1;
}

static uint64_t
liveness_nonce(void)
{
	static uint64_t last;
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = last * 6364136223846793005ULL + 1442695040888963407ULL;
	if (v == 0 || v == last)
		v = last + 1;
	last = v;
	return v;
}

static void
liveness_ping(struct child *c)
{
	struct wbuf w;

	c->ping_id = liveness_nonce();
	c->ping_ticks = 0;
	wbuf_init(&w);
	msg_begin(&w, MSG_PING, c->ping_id);
	if (msg_finish(&w) == 0)
		bufferevent_write(c->bev, w.buf, w.len);
	wbuf_free(&w);
}

/* Bytes from the child arrived in the parent's input buffer. */
static void
liveness_in_cb(struct evbuffer *b, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct child *c = arg;

	(void)b;
	if (info->n_added > 0)
		c->last_io_ms = supervise_now_ms();
}

static void
liveness_start_deadline(struct parent *p, struct child *c, int64_t now)
{
	uint32_t limit = p->cfg->child_timeout_ms;

	if (++c->ping_ticks < 2 || now - c->started_ms < limit)
		return;
	log_error("child pid=%ld did not report ready (no policy table) "
	    "within %u ms; killing it", (long)c->pid, limit);
	audit_event(AUDIT_CHILD_STUCK, AF_INT("pid", c->pid), AF_STR("phase", "start"));
	if (c->role == CHILD_CANDIDATE) {
		/* A reload's: the reload fails, the current child serves on
		 * (supervise_end). */
		reload_note_error(p, "the new child sent no policy table within "
		    "%u ms (--child-timeout-ms)", limit);
	} else if (!p->ever_served) {
		/* Nothing was ever served: restarting would only hide the
		 * cause (the lines above) from the operator. */
		log_error("the first child never became ready; exiting "
		    "(raise --child-timeout-ms if it needs longer)");
		p->exit_code = 1;
		event_base_loopbreak(p->base);
	}
	metrics_child_stuck(p->metrics);
	supervise_end(p, c);
}

static void
liveness_tick(evutil_socket_t fd, short what, void *arg)
{
	struct parent *p = kh_parent;
	struct child *c = arg;
	uint32_t limit = p->cfg->child_timeout_ms;
	int64_t now = supervise_now_ms(), seen;

	(void)fd;
	(void)what;
	if (c->state == CS_WAIT_POLICY) {
		liveness_start_deadline(p, c, now);
		return;
	}
	if (!c->pinging) {
		/* Serving since at most a tick: the deadline starts now. */
		c->pinging = true;
		c->last_pong_ms = now;
	}
	if (c->ping_id == 0) {
		liveness_ping(c);
		return;
	}
	seen = c->last_pong_ms > c->last_io_ms ? c->last_pong_ms :
	    c->last_io_ms;
	if (++c->ping_ticks < 2 || now - seen < limit)
		return;
	log_error("child pid=%ld answered no liveness ping and sent no byte "
	    "for %lld ms (limit %u ms): stuck; killing it", (long)c->pid,
	    (long long)(now - seen), limit);
	audit_event(AUDIT_CHILD_STUCK, AF_INT("pid", c->pid), AF_STR("phase", "serving"));
	if (c->ninflight > 0)
		log_warn("%zu request(s) of the stuck child were in flight "
		    "upstream: cancelled, their clients see the connection "
		    "close (a queue request is answered after the restart)",
		    c->ninflight);
	metrics_child_stuck(p->metrics);
	supervise_end(p, c);
}

int
liveness_attach(struct parent *p, struct child *c)
{
	uint32_t ms = liveness_tick_ms(p);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	c->live_ev = event_new(p->base, -1, EV_PERSIST, liveness_tick, c);
	c->live_in = evbuffer_add_cb(bufferevent_get_input(c->bev),
	    liveness_in_cb, c);
	if (c->live_ev == NULL || c->live_in == NULL ||
	    event_add(c->live_ev, &tv) < 0) {
		liveness_detach(c);
		return -1;
	}
	return 0;
}

void
liveness_detach(struct child *c)
{
	if (c->live_ev != NULL) {
		event_free(c->live_ev);
		c->live_ev = NULL;
	}
	/* The buffer may outlive c inside libevent: never call back into
	 * freed memory. */
	if (c->live_in != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev),
		    c->live_in);
	c->live_in = NULL;
}
