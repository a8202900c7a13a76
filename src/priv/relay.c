/*
 * keyhole parent: the child's log lines (MSG_LOG, MSG_FATAL) and access
 * records (MSG_ACCESS), written by the parent, which alone writes logs,
 * once monitor.c has checked the frame.
 *
 * Bounded in volume: a sandbox can make an honest child log (every
 * refused request is an access record) and a compromised child can send
 * these frames as fast as the parent reads, so each kind has a token
 * bucket (KH_RELAY_*_PER_S, KH_RELAY_*_BURST).  What does not fit is
 * counted, never written, and one line per KH_RELAY_SUMMARY_MS says how
 * much was dropped, so the log says that it is incomplete and by how
 * much.  The first MSG_FATAL of a child (it says why it exits) is always
 * written.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "priv.h"

/* A token is 1000 units; per_s units come back each millisecond. */
bool
relay_take(struct relay_bucket *b, unsigned per_s, unsigned burst,
    int64_t now_ms)
{
	uint64_t cap = (uint64_t)burst * 1000u;

	if (b->last_ms == 0) {
		b->level = cap;		/* first use: a full bucket */
		b->last_ms = now_ms;
	} else if (now_ms > b->last_ms) {
		uint64_t add = (uint64_t)(now_ms - b->last_ms) * per_s;
		b->level = cap - b->level < add ? cap : b->level + add;
		b->last_ms = now_ms;
	}
	if (b->level < 1000u) {
		b->dropped++;
		return false;
	}
	b->level -= 1000u;
	return true;
}

void
relay_flush(struct parent *p)
{
	if (p->relay_log.dropped == 0 && p->relay_access.dropped == 0)
		return;
	log_warn("dropped %llu log line(s) and %llu access line(s) from "
	    "keyhole-net pid=%ld (relay limit: %u and %u per second)",
	    (unsigned long long)p->relay_log.dropped,
	    (unsigned long long)p->relay_access.dropped, p->relay_pid,
	    KH_RELAY_LOG_PER_S, KH_RELAY_ACCESS_PER_S);
	p->relay_log.dropped = 0;
	p->relay_access.dropped = 0;
}

static void
relay_summary_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	relay_flush(arg);
}

/* May a line of this kind from c be written now?  A refusal is counted
 * and reported by the summary timer. */
static bool
relay_admit(struct parent *p, struct child *c, bool access)
{
	int64_t now = supervise_now_ms();
	bool ok;

	if (p->relay_pid != (long)c->pid) {
		relay_flush(p);	/* drops of a previous child */
		p->relay_pid = (long)c->pid;
	}
	ok = access ? relay_take(&p->relay_access, KH_RELAY_ACCESS_PER_S,
	    KH_RELAY_ACCESS_BURST, now) : relay_take(&p->relay_log,
	    KH_RELAY_LOG_PER_S, KH_RELAY_LOG_BURST, now);
	if (ok)
		return true;
	if (p->relay_ev == NULL)
		p->relay_ev = evtimer_new(p->base, relay_summary_cb, p);
	if (p->relay_ev != NULL && !evtimer_pending(p->relay_ev, NULL)) {
		struct timeval tv = { KH_RELAY_SUMMARY_MS / 1000,
		    (KH_RELAY_SUMMARY_MS % 1000) * 1000 };
		evtimer_add(p->relay_ev, &tv);
	}
	return false;
}

void
relay_log(struct parent *p, struct child *c, enum log_level level,
    const char *line, size_t len)
{
	if (relay_admit(p, c, false))
		log_relay("keyhole-net", (long)c->pid, level, line, len);
}

/* Copy a str field for the log: bounded, NUL-terminated, printable. */
static void
relay_str(char *dst, size_t cap, const char *s, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	log_sanitize(dst, len);
}

void
relay_access(struct parent *p, struct child *c, const struct relay_record *r)
{
	char peerz[KH_PEER_MAX + 1], methodz[KH_METHOD_MAX + 1];
	char pathz[KH_PATH_MAX + 1], reasonz[KH_REASON_MAX + 1];
	struct log_access a;

	if (!relay_admit(p, c, true))
		return;
	relay_str(peerz, sizeof(peerz), r->peer, r->peer_len);
	relay_str(methodz, sizeof(methodz), r->method, r->method_len);
	relay_str(pathz, sizeof(pathz), r->path, r->path_len);
	relay_str(reasonz, sizeof(reasonz), r->reason, r->reason_len);
	a.id = 0;
	a.peer = peerz;
	a.method = methodz;
	a.path = pathz;
	a.rule = reasonz;
	a.status = r->status;
	a.bytes_in = r->bytes_in;
	a.bytes_out = r->bytes_out;
	a.upstream_ms = -1;
	a.gen = c->gen != NULL ? c->gen->number : 0;
	log_access("keyhole-net", (long)c->pid, &a);
}

void
relay_fatal(struct parent *p, struct child *c, const char *line, size_t len)
{
	/* The first is always written (the child says why it exits); a
	 * child that keeps sending them is a log flood like any other. */
	if (!c->fatal || relay_admit(p, c, false))
		log_relay("keyhole-net", (long)c->pid, LOG_ERROR, line, len);
}
