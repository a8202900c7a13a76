/*
 * keyhole monitor: the parent's handling of frames from the child.
 *
 * Treated like a kernel's syscall entry.  Every frame is checked before
 * use: header (version, reserved bits, length <= KH_MSG_MAX, before any
 * payload is buffered), type and state through mon_table, every field
 * through the typed reader with its own bound, and finally msg_end() so
 * trailing bytes are an error.  A request is then re-checked against the
 * parent's own copy of the policy.  Any violation is fatal for the child
 * (supervise_kill), never for the parent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "audit.h"
#include "log.h"
#include "evloop.h"
#include "metrics.h"
#include "priv.h"
#include "request_check.h"
#include "sdnotify.h"
#include "util.h"

struct mon_entry {
	uint8_t type;
	unsigned states;		/* CS_* in which it is permitted */
	/* Returns 0, or -1 with *why set: the child broke the protocol. */
	int (*handler)(struct parent *, struct child *, const struct msg_hdr *,
	    struct msg_reader *, const char **why);
};

static int mon_log(struct parent *, struct child *, const struct msg_hdr *,
    struct msg_reader *, const char **);
static int mon_fatal(struct parent *, struct child *, const struct msg_hdr *,
    struct msg_reader *, const char **);
static int mon_access(struct parent *, struct child *,
    const struct msg_hdr *, struct msg_reader *, const char **);
static int mon_policy(struct parent *, struct child *, const struct msg_hdr *,
    struct msg_reader *, const char **);
static int mon_request(struct parent *, struct child *,
    const struct msg_hdr *, struct msg_reader *, const char **);
static int mon_pong(struct parent *, struct child *, const struct msg_hdr *,
    struct msg_reader *, const char **);
static int mon_retired(struct parent *, struct child *,
    const struct msg_hdr *, struct msg_reader *, const char **);
static int mon_metrics(struct parent *, struct child *,
    const struct msg_hdr *, struct msg_reader *, const char **);

static const struct mon_entry mon_table[] = {
	{ MSG_LOG, CS_ANY | CS_GONE, mon_log },
	{ MSG_FATAL, CS_ANY | CS_GONE, mon_fatal },
	{ MSG_POLICY, CS_WAIT_POLICY, mon_policy },
	/* DRAINING too: a request may cross the shutdown frame in flight;
	 * RETIRED: a child a reload replaced finishes its requests. */
	{ MSG_REQUEST, CS_SERVING | CS_DRAINING | CS_RETIRED, mon_request },
	{ MSG_ACCESS, CS_SERVING | CS_DRAINING | CS_RETIRED | CS_GONE,
	    mon_access },
	/* liveness.c pings only after the policy was accepted. */
	{ MSG_PONG, CS_SERVING | CS_DRAINING | CS_RETIRED, mon_pong },
	/* The operator's scrape, which the child parsed (metrics_serve.c);
	 * RETIRED: one it took before the reload closed its listener. */
	{ MSG_METRICS, CS_SERVING | CS_DRAINING | CS_RETIRED, mon_metrics },
	/* The answer to MSG_RETIRE (DRAINING: SIGTERM may have followed). */
	{ MSG_RETIRED, CS_RETIRED | CS_DRAINING, mon_retired },
};

static void
monitor_send(struct child *c, struct wbuf *w)
{
	if (msg_finish(w) == 0)
		bufferevent_write(c->bev, w->buf, w->len);
	else
		log_error("internal: could not frame a message to the child");
	wbuf_free(w);
}

void
monitor_send_simple(struct child *c, enum msg_type type)
{
	struct wbuf w;
	wbuf_init(&w);
	msg_begin(&w, type, 0);
	monitor_send(c, &w);
}

/* The run's settings (p->ccfg), with the child's generation's token and
 * bindings and the mutations counted so far. */
void
monitor_send_config(struct parent *p, struct child *c)
{
	static struct child_config cc;
	const struct kh_gen *g = c->gen;
	struct wbuf w;

	cc = p->ccfg;
	/* Serving the queue alone there is no token (buf NULL, len 0). */
	if (g->token.len > 0)
		memcpy(cc.token, g->token.buf, g->token.len);
	cc.token[g->token.len] = '\0';
	cc.token_len = g->token.len;
	cc.vars = g->vars;
	cc.mutations_used = p->mutations_used;
	c->mutations_seen = p->mutations_used;
	wbuf_init(&w);
	msg_begin(&w, MSG_CONFIG, 0);
	child_config_encode(&cc, &w);
	explicit_bzero(cc.token, sizeof(cc.token));
	if (msg_finish(&w) == 0)
		bufferevent_write(c->bev, w.buf, w.len);
	else
		log_error("internal: could not frame a message to the child");
	if (w.buf != NULL)
		explicit_bzero(w.buf, w.len);	/* the token */
	wbuf_free(&w);
}

/* A line of the child's log (relay.c writes it, within its limits). */
static int
mon_log(struct parent *p, struct child *c, const struct msg_hdr *h,
    struct msg_reader *r, const char **why)
{
	uint8_t level;
	const char *line;
	size_t len;

	(void)h;
	msg_get_u8(r, &level);
	msg_get_str(r, &line, &len, KH_LOG_MAX);
	if (msg_end(r) < 0 || level >= LOG_LEVEL_COUNT) {
		*why = "malformed log frame";
		return -1;
	}
	/* A reload's candidate: its first error is the reload's. */
	reload_note_line(p, c, (enum log_level)level, line, len);
	relay_log(p, c, (enum log_level)level, line, len);
	return 0;
}

/* Why the child exits: always written once (relay.c). */
static int
mon_fatal(struct parent *p, struct child *c, const struct msg_hdr *h,
    struct msg_reader *r, const char **why)
{
	const char *line;
	size_t len;

	(void)h;
	msg_get_str(r, &line, &len, KH_LOG_MAX);
	if (msg_end(r) < 0) {
		*why = "malformed fatal frame";
		return -1;
	}
	relay_fatal(p, c, line, len);
	c->fatal = true;
	return 0;
}

/* A request the child answered itself, for the access log. */
static int
mon_access(struct parent *p, struct child *c, const struct msg_hdr *h,
    struct msg_reader *r, const char **why)
{
	struct relay_record a;

	msg_get_str(r, &a.peer, &a.peer_len, KH_PEER_MAX);
	msg_get_str(r, &a.method, &a.method_len, KH_METHOD_MAX);
	msg_get_str(r, &a.path, &a.path_len, KH_PATH_MAX);
	msg_get_u16(r, &a.status);
	msg_get_str(r, &a.reason, &a.reason_len, KH_REASON_MAX);
	msg_get_u64(r, &a.bytes_in);
	msg_get_u64(r, &a.bytes_out);
	if (msg_end(r) < 0 || h->id != 0 || a.status < 100 || a.status > 599) {
		*why = "malformed access frame";
		return -1;
	}
	audit_child(c->gen, &a);
	metrics_child_answered(p->metrics, a.peer, a.peer_len, a.status,
	    a.reason, a.reason_len);
	relay_access(p, c, &a);
	return 0;
}

/*
 * An operator's GET /metrics, which the child took on the metrics
 * listener (never the sandbox's) and parsed; the parent renders the text
 * from its own counters and the child's (as the child reports them: a
 * compromised child can invent those, and rewrite the whole answer on
 * its way out, SECURITY.md "Metrics") and sends it back.  At most
 * KH_METRICS_RATE renderings a second: a child asking more often gets a
 * one-line text.
 */
static int
mon_metrics(struct parent *p, struct child *c, const struct msg_hdr *h,
    struct msg_reader *r, const char **why)
{
	static int64_t window_ms;
	static unsigned in_window;
	static const char limited[] = "# keyhole: too many scrapes this "
	    "second, or no memory; try again\n";
	uint64_t child[KH_METRICS_CHILD_N];
	uint8_t n;
	struct wbuf w;
	char *text = NULL;
	size_t len = 0;
	int64_t now = supervise_now_ms();

	msg_get_u8(r, &n);
	for (size_t i = 0; i < KH_METRICS_CHILD_N; i++)
		msg_get_u64(r, &child[i]);
	if (msg_end(r) < 0 || n != KH_METRICS_CHILD_N || h->id == 0) {
		*why = "malformed metrics frame";
		return -1;
	}
	if (now - window_ms >= 1000) {
		window_ms = now;
		in_window = 0;
	}
	if (++in_window <= KH_METRICS_RATE)
		text = metrics_render(p, p->metrics, child, &len);
	wbuf_init(&w);
	msg_begin(&w, MSG_METRICS_TEXT, h->id);
	if (text != NULL) {
		msg_put_blob_deferred(&w, len);
		if (wire_send(c->bev, &w, (uint8_t *)text, len, true) < 0)
			log_warn("metrics: cannot queue the answer (memory)");
	} else {
		msg_put_blob_deferred(&w, sizeof(limited) - 1);
		if (wire_send(c->bev, &w, (uint8_t *)limited,
		    sizeof(limited) - 1, false) < 0)
			log_warn("metrics: cannot queue the answer (memory)");
	}
	return 0;
}

/* The answer to liveness.c's one outstanding MSG_PING: same nonce, empty.
 * A pong nobody asked for is a violation like any unexpected frame (a
 * child answering pings ahead of time would defeat the check). */
static int
mon_pong(struct parent *p, struct child *c, const struct msg_hdr *h,
    struct msg_reader *r, const char **why)
{
	(void)p;
	if (msg_end(r) < 0 || c->ping_id == 0 || h->id != c->ping_id) {
		*why = "pong that answers no outstanding ping";
		return -1;
	}
	c->ping_id = 0;
	c->ping_ticks = 0;
	c->last_pong_ms = supervise_now_ms();
	/* The only thing that feeds systemd's watchdog: the current child
	 * answering (sdnotify.c); a retired one proves nothing. */
	if (c == p->child)
		sdnotify_watchdog(c->last_pong_ms);
	return 0;
}

/* A retired child has closed its listeners: once, and only after
 * MSG_RETIRE (a DRAINING child is one only if it was retired first). */
static int
mon_retired(struct parent *p, struct child *c, const struct msg_hdr *h,
    struct msg_reader *r, const char **why)
{
	if (msg_end(r) < 0 || h->id != 0 || c->role != CHILD_RETIRED ||
	    c->retire_acked) {
		*why = "RETIRED unasked, twice or malformed";
		return -1;
	}
	c->retire_acked = true;
	reload_retired_ack(p, c);
	return 0;
}

/* The child's table, decoded against its generation's bindings.  The
 * first table of a generation becomes the generation's; every later child
 * of it (a restart) must send the same.  A reload's candidate is then
 * swapped in (reload.c); any other child serves. */
static int
mon_policy(struct parent *p, struct child *c, const struct msg_hdr *h,
    struct msg_reader *r, const char **why)
{
	static char err[128];
	struct kh_gen *g = c->gen;
	struct policy *pol = calloc(1, sizeof(*pol));
	bool same;

	(void)h;
	if (pol == NULL) {
		*why = "out of memory decoding policy";
		return -1;
	}
	policy_init(pol);
	/* {name} segments resolve against the parent's own bindings. */
	if (policy_decode(r, &g->vars, pol, err, sizeof(err)) < 0) {
		free(pol);
		*why = err;
		return -1;
	}
	if (g->policy != NULL) {
		/* A restarted child reads the same bytes, so it must produce
		 * the same table; anything else is tampering. */
		same = policy_equal(g->policy, pol);
		policy_free(pol);
		free(pol);
		if (!same) {
			*why = "policy differs from the one first accepted";
			return -1;
		}
	} else if (ready_policy(p, g, pol) < 0) {
		policy_free(pol);
		free(pol);
		*why = "out of memory";
		return -1;
	}
	c->state = CS_SERVING;
	p->ever_served = true;
	if (c->role == CHILD_CANDIDATE) {
		reload_swap(p, c);
		return 0;
	}
	monitor_send_simple(c, MSG_POLICY_OK);
	reload_queue_start(p, c);
	ready_serving(p);
	/* http2_v1: a reload's new session serves (reload_connect.c). */
	reload_child_serves(p, c);
	if (p->draining) {
		c->state = CS_DRAINING;
		monitor_send_simple(c, MSG_SHUTDOWN);
	}
	return 0;
}

/* The rule's `rate`, from the parent's own bucket: 429 with retry-after,
 * as the child answers it.  Not a violation: a restarted child starts
 * with full buckets while the parent's carry over, and a request may
 * reach the parent up to KH_RATE_SLACK_MS after the child took its token
 * (the buckets are that much larger).  Returns true when it answered. */
static bool
mon_rate_refused(struct parent *p, struct child *c, uint64_t id,
    const struct req_checked *ck)
{
	const struct pol_rule *rule = ck->rule;
	struct kh_gen *g = c->gen;
	struct pc_args args = { 0 };
	struct pc_extra x = { NULL, 0, false };
	char msg[PC_MESSAGE_MAX + 1], json[PC_FIXED_BODY_MAX], rl[32];
	struct up_hdr h[2];
	size_t n;

	(void)p;
	if (gen_rate_check(g, ck->ri, ck->method, (uint64_t)util_now_ms(),
	    &x.retry_after) != BUDGET_RATE)
		return false;
	args.count = rule->rate_count;
	args.period = rule->rate_period_s == 60 ? "minute" : "second";
	pc_message(PC_RATE, &args, msg, sizeof(msg));
	n = pc_body(json, sizeof(json), msg, &x);
	snprintf(h[1].name, sizeof(h[1].name), "retry-after");
	snprintf(rl, sizeof(rl), "%u", x.retry_after);
	strcpy(h[0].name, "content-type");
	h[0].value = (char *)"application/json";
	h[0].vlen = strlen(h[0].value);
	h[1].value = rl;
	h[1].vlen = strlen(rl);
	answer_refused_with(c, id, ck, pc_table[PC_RATE].status, h, 2,
	    (const uint8_t *)json, n, "rate");
	return true;
}

/* `max` spent by the run while this child's own count (c->mutations_seen)
 * was below it: after a reload two children serve for a moment and each
 * knows only its own mutations.  Answered 429 as the child answers it.
 * Returns true when it answered. */
static bool
mon_budget_refused(struct parent *p, struct child *c, uint64_t id,
    const struct req_checked *ck)
{
	const struct policy *pol = c->gen->policy;
	struct pc_args args = { 0 };
	char msg[PC_MESSAGE_MAX + 1], json[PC_FIXED_BODY_MAX];
	struct up_hdr hd;
	size_t n;

	if (!ck->counts || p->mutations_used < pol->max_mutations)
		return false;
	args.max = pol->max_mutations;
	pc_message(PC_BUDGET, &args, msg, sizeof(msg));
	n = pc_body(json, sizeof(json), msg, NULL);
	strcpy(hd.name, "content-type");
	hd.value = (char *)"application/json";
	hd.vlen = strlen(hd.value);
	answer_refused_with(c, id, ck, pc_table[PC_BUDGET].status, &hd, 1,
	    (const uint8_t *)json, n, "max");
	return true;
}

static int
mon_request(struct parent *p, struct child *c, const struct msg_hdr *h,
    struct msg_reader *rd, const char **why)
{
	struct req_checked ck;
	struct up_allow resp;
	struct up_req *r;
	struct kh_gen *g = c->gen;

	if (h->id == 0) {
		*why = "request id 0";
		return -1;
	}
	for (struct up_req *q = c->inflight; q != NULL; q = q->next)
		if (q->id == h->id) {
			*why = "duplicate request id";
			return -1;
		}
	/* SECURITY.md I3: request_check.c, against the parent's own policy
	 * (that of the child's generation: I18), limits and the mutations
	 * this child knows of.  From here on only what it returned. */
	if (request_check(g->policy, p->ccfg.max_body, c->mutations_seen, rd,
	    &ck, why) < 0)
		return -1;
	/* Overload and shutdown are answered, not violations: the child
	 * may race the parent's own view.  --max-inflight counts every
	 * child's requests (a reload's old and new children together). */
	if (p->draining || supervise_inflight(p) >= p->cfg->max_inflight) {
		enum pc_id pid = p->draining ? PC_SHUTTING_DOWN : PC_QUEUE_FULL;
		answer_refused(c, h->id, &ck, pid,
		    p->draining ? "shutting-down" : "queue-full");
		metrics_answered(p->metrics, ck.peer, ck.rule->line,
		    pc_table[pid].status, 0, 0, -1);
		return 0;
	}
	/* What the audit log cannot record is not forwarded (audit.c). */
	if (audit_failing()) {
		answer_refused(c, h->id, &ck, PC_AUDIT_UNAVAILABLE,
		    "audit-unavailable");
		metrics_answered(p->metrics, ck.peer, ck.rule->line,
		    pc_table[PC_AUDIT_UNAVAILABLE].status, 0, 0, -1);
		return 0;
	}
	if (mon_rate_refused(p, c, h->id, &ck)) {
		metrics_limit(p->metrics, ML_RATE, MB_PARENT);
		metrics_answered(p->metrics, ck.peer, ck.rule->line,
		    pc_table[PC_RATE].status, 0, 0, -1);
		return 0;
	}
	if (mon_budget_refused(p, c, h->id, &ck)) {
		metrics_limit(p->metrics, ML_MAX, MB_PARENT);
		metrics_answered(p->metrics, ck.peer, ck.rule->line,
		    pc_table[PC_BUDGET].status, 0, 0, -1);
		return 0;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    up_req_fill(r, h->id, &ck) < 0) {
		up_req_free(r);
		*why = "out of memory";
		return -1;
	}
	audit_begin(r, g, &ck);
	r->owner = c;
	r->gen = g->number;
	r->done = monitor_upstream_done;
	r->started_ms = supervise_now_ms();
	resp.names = (const char (*)[KH_HNAME_MAX + 1])g->policy->resp_hdrs;
	resp.n = g->policy->nresp_hdrs;
	if (upstream_start(p->up, r, &ck, &resp) < 0) {
		answer_refused(c, r->id, &ck, PC_UP_FAILED, "upstream-start");
		metrics_answered(p->metrics, ck.peer, ck.rule->line,
		    pc_table[PC_UP_FAILED].status, 0, 0, -1);
		up_req_free(r);
		return 0;
	}
	/* Charged only now, when it is on its way upstream: what the parent
	 * answered itself (503, 429, 502 above) costs neither `max` nor
	 * `rate`. */
	if (ck.counts) {
		c->mutations_seen++;
		if (++p->mutations_used == g->policy->max_mutations)
			audit_event(AUDIT_BUDGET, AF_INT("used",
			    p->mutations_used), AF_INT("generation", g->number));
	}
	gen_rate_take(g, ck.ri, ck.method, (uint64_t)util_now_ms());
	r->next = c->inflight;
	c->inflight = r;
	c->ninflight++;
	return 0;
}

/* One frame from the child: its type through mon_table, permitted in
 * the child's state, then the handler.  Returns 0, or -1 with *why: the
 * child broke the protocol (monitor_read_cb kills it). */
static int
monitor_dispatch(void *arg, const struct msg_hdr *h, const uint8_t *payload,
    const char **why)
{
	static char buf[96];
	struct parent *p = kh_parent;
	struct child *c = arg;
	const struct mon_entry *e = NULL;
	struct msg_reader r;

	for (size_t i = 0; i < sizeof(mon_table) / sizeof(mon_table[0]); i++)
		if (mon_table[i].type == h->type)
			e = &mon_table[i];
	if (e == NULL) {
		snprintf(buf, sizeof(buf), "unknown message type %u", h->type);
		*why = buf;
		return -1;
	}
	if ((e->states & c->state) == 0) {
		snprintf(buf, sizeof(buf), "message type %u not permitted in "
		    "state %u", h->type, c->state);
		*why = buf;
		return -1;
	}
	msg_reader_init(&r, payload, h->length);
	if (e->handler(p, c, h, &r, why) < 0) {
		if (*why == NULL)
			*why = "bad message";
		return -1;
	}
	return 0;
}

/* Back-pressure (tmux's proc.c, OpenSSH's channel windows): while the
 * child has not read KH_CHILD_OUT_HIGH bytes of what the parent sent it,
 * the parent takes no frame from it, so no new answer is queued; a child
 * that never reads fills its socket and blocks.  Every answer the parent
 * queues belongs to a request it took, and at most --max-inflight of
 * those are upstream, so what a child can make the parent hold is
 * bounded (issue 11: 540 MB and growing before). */
static bool
monitor_backlogged(struct child *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) <=
	    KH_CHILD_OUT_HIGH)
		return false;
	if (!c->paused) {
		c->paused = true;
		bufferevent_disable(c->bev, EV_READ);
		log_debug("child pid=%ld is not reading: taking no frames until "
		    "it does", (long)c->pid);
	}
	return true;
}

/* wire_pump's hold: no frame is taken from a child the parent has
 * stopped reading, or one it no longer knows. */
static bool
monitor_hold(void *arg)
{
	struct child *c = arg;

	return !supervise_live(kh_parent, c) || monitor_backlogged(c);
}

/* After the exit: the log, fatal and access frames are taken (checked
 * by their handlers as ever), every other frame is skipped, not an error:
 * a request the child sent just before it died is never started, and the
 * lines behind it are still read. */
static int
monitor_final_dispatch(void *arg, const struct msg_hdr *h,
    const uint8_t *payload, const char **why)
{
	if (h->type != MSG_LOG && h->type != MSG_FATAL && h->type != MSG_ACCESS)
		return 0;
	return monitor_dispatch(arg, h, payload, why);
}

/* The child has exited: what it wrote just before (its last log lines,
 * why a session ended) may still be in the socket, behind the SIGCHLD
 * that got here first.  Read it and take the log and access frames only:
 * a request from a child that is gone is never started. */
void
monitor_final_read(struct parent *p, struct child *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	int fd = bufferevent_getfd(c->bev);
	const char *why = NULL;
	size_t got = 0;

	if (fd < 0)
		return;
	c->state = CS_GONE;
	c->paused = false;
	/* A socket bufferevent freezes the end of its input for everyone but
	 * itself; it is about to be freed. */
	evbuffer_unfreeze(in, 0);
	while (got < KH_CHILD_FINAL_READ_MAX) {
		int n = evbuffer_read(in, fd, 65536);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	/* Nothing is held: nothing is sent to a dead child. */
	if (wire_pump(in, monitor_final_dispatch, NULL, c, &why) < 0)
		log_warn("child pid=%ld: its last frames end in a bad one (%s)",
		    (long)c->pid, why);
	relay_flush(p);
}

static void
monitor_read_cb(struct bufferevent *bev, void *arg)
{
	const char *why = NULL;

	(void)evloop_read_more(bev, KH_MSG_MAX);
	if (wire_pump(bufferevent_get_input(bev), monitor_dispatch,
	    monitor_hold, arg, &why) < 0) {
		metrics_child_violation(kh_parent->metrics);
		supervise_kill(kh_parent, arg, why);
	}
}

/* The output went down to KH_CHILD_OUT_LOW (the write watermark): take
 * frames again, starting with those already buffered. */
static void
monitor_write_cb(struct bufferevent *bev, void *arg)
{
	struct child *c = arg;

	if (!c->paused || evbuffer_get_length(bufferevent_get_output(bev)) >
	    KH_CHILD_OUT_LOW)
		return;
	c->paused = false;
	bufferevent_enable(bev, EV_READ);
	monitor_read_cb(bev, c);
}

static void
monitor_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct child *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* The child closed its end: it is exiting.  Stop reading;
		 * supervise_reap() frees it when SIGCHLD arrives. */
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		if (c->ninflight > 0)
			monitor_abort_inflight(kh_parent, c, false);
		relay_flush(kh_parent);
	}
}

void
monitor_attach(struct parent *p, struct child *c)
{
	(void)p;
	bufferevent_setcb(c->bev, monitor_read_cb, monitor_write_cb,
	    monitor_event_cb, c);
	/* Never buffer more than one maximal frame ahead of the parser;
	 * the write callback runs when the output is down to LOW. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, KH_MSG_MAX);
	bufferevent_setwatermark(c->bev, EV_WRITE, KH_CHILD_OUT_LOW, 0);
	evloop_write_max(c->bev);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	evloop_write_through(c->bev);
}
