/*
 * keyhole audit log: the state, the flush, and what is held for it.
 *
 * Records are appended to a buffer as decisions are made, each one's
 * "prev" the SHA-256 of the record before it (the chain), and written at
 * the end of the turn of the event loop in which they were made: one
 * write(2) for all of them.  The flush is an event made active by the
 * first record or held frame of a turn: libevent runs it after the
 * callbacks already active in that turn, before it polls again, so a
 * whole turn's answers share one write.  The answers those records
 * describe are held until then (audit_hold: each child has evbuffers of
 * held frames), so no client gets an answer whose record a crash of
 * keyhole could still lose: once written, the kernel has it.
 *
 * A mutation's answer (any method but GET, HEAD, OPTIONS; every answer
 * with --audit-sync all) also waits for fdatasync(2), so no client gets
 * the answer to a mutation whose record a crash of the machine could
 * lose.  An fdatasync costs more CPU than forwarding a request does, so
 * it is shared (group commit): while other requests are in flight
 * upstream it is put off by at most KH_AUDIT_SYNC_DELAY_US, or until
 * KH_AUDIT_SYNC_BATCH records wait for it, and the answers due meanwhile
 * share it; a lone request is synced at once.  Start, stop, rotation,
 * recovery and the checkpoints of the timer are synced at once.
 *
 * When the file cannot be written (a full disk, an I/O error), nothing
 * is lost that was decided: the partial bytes are truncated away, what
 * is pending stays in memory with the answers it describes, writing is
 * tried again every KH_AUDIT_RETRY_MS, and meanwhile the parent forwards
 * nothing (mon_request answers 503 PC_AUDIT_UNAVAILABLE): a request the
 * audit log cannot record does not reach the upstream.  What is pending
 * is bounded (KH_AUDIT_PENDING_MAX; see kh_limits.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "audit_int.h"
#include "log.h"
#include "util.h"

struct audit audit_g = { .dirfd = -1, .fd = -1 };

bool
audit_enabled(void)
{
	return audit_g.on;
}

bool
audit_failing(void)
{
	return audit_g.on && audit_g.failing;
}

static void audit_flush_cb(evutil_socket_t fd, short what, void *arg);

void
audit_schedule(void)
{
	struct audit *A = &audit_g;

	if (A->flush_ev == NULL || A->flush_active || A->failing)
		return;
	A->flush_active = true;
	event_active(A->flush_ev, EV_TIMEOUT, 0);
}

static int
audit_buf_reserve(struct audit_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 64 * 1024;
	char *np;

	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	if ((np = realloc(b->p, cap)) == NULL)
		return -1;
	b->p = np;
	b->cap = cap;
	return 0;
}

int
audit_append(const struct audit_line *l, bool sync)
{
	struct audit *A = &audit_g;

	if (audit_buf_reserve(&A->buf, l->off + 1) < 0) {
		/* The chain does not advance: the next record links to the
		 * last one kept, and the "dropped" record says one is gone. */
		A->dropped_other++;
		log_error("audit: out of memory; a record was dropped");
		return -1;
	}
	memcpy(A->buf.p + A->buf.len, l->buf, l->off);
	A->buf.p[A->buf.len + l->off] = '\n';
	A->buf.len += l->off + 1;
	sha256(l->buf, l->off, A->head);
	A->seq++;
	A->since_ckpt++;
	if (sync || A->sync_all) {
		if (!A->need_sync)
			A->sync_first_us = audit_now_us();
		A->need_sync = true;
		A->sync_records++;
	}
	audit_schedule();
	return 0;
}

int64_t
audit_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ */
/* Answers held until their records are written ([0]) or synced ([1]). */

struct evbuffer *
audit_hold(struct child *c, bool sync)
{
	struct audit *A = &audit_g;
	int k = sync || A->sync_all;

	if (!A->on || A->closed)
		return bufferevent_get_output(c->bev);
	if (c->audit_held[k] == NULL &&
	    (c->audit_held[k] = evbuffer_new()) == NULL)
		return bufferevent_get_output(c->bev);
	if (!c->audit_listed) {
		c->audit_listed = true;
		c->audit_next = A->holders;
		A->holders = c;
	}
	audit_schedule();
	return c->audit_held[k];
}

/* Hand the held answers of class k (0: written, 1: synced; 2: both) to
 * the children's outputs. */
static void
audit_release(int k)
{
	struct audit *A = &audit_g;

	for (struct child **pp = &A->holders, *c; (c = *pp) != NULL;) {
		for (int i = 0; i < 2; i++) {
			struct evbuffer *b = c->audit_held[i];
			if ((k == i || k == 2) && b != NULL &&
			    evbuffer_get_length(b) > 0 &&
			    bufferevent_write_buffer(c->bev, b) < 0)
				log_error("internal: could not queue answers to "
				    "the child");
		}
		if ((c->audit_held[0] == NULL ||
		    evbuffer_get_length(c->audit_held[0]) == 0) &&
		    (c->audit_held[1] == NULL ||
		    evbuffer_get_length(c->audit_held[1]) == 0)) {
			*pp = c->audit_next;	/* nothing held: off the list */
			c->audit_next = NULL;
			c->audit_listed = false;
		} else {
			pp = &c->audit_next;
		}
	}
}

void
audit_child_gone(struct child *c)
{
	struct audit *A = &audit_g;

	for (struct child **pp = &A->holders; *pp != NULL;
	    pp = &(*pp)->audit_next)
		if (*pp == c) {
			*pp = c->audit_next;
			break;
		}
	c->audit_listed = false;
	for (int i = 0; i < 2; i++) {
		if (c->audit_held[i] != NULL)
			evbuffer_free(c->audit_held[i]);
		c->audit_held[i] = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Writing. */

static void
audit_fail(const char *what, int err)
{
	struct audit *A = &audit_g;
	struct timeval tv = { KH_AUDIT_RETRY_MS / 1000,
	    (KH_AUDIT_RETRY_MS % 1000) * 1000 };

	/* Partial bytes of a record would make a broken line: the file goes
	 * back to what was whole, and all of the buffer is written again. */
	if (ftruncate(A->fd, (off_t)A->size) < 0)
		log_error("audit: cannot truncate %s/%s back to %llu bytes "
		    "(%s): its last line may be broken", A->dir, A->name,
		    (unsigned long long)A->size, strerror(errno));
	if (!A->failing)
		log_error("audit: %s of %s/%s failed (%s): forwarding nothing "
		    "and holding the answers of %zu bytes of records until it "
		    "can be written", what, A->dir, A->name, strerror(err),
		    A->buf.len);
	A->failing = true;
	if (A->retry_ev != NULL)
		evtimer_add(A->retry_ev, &tv);
}

/* Write what is pending; the answers that waited only for that go out. */
static int
audit_write(void)
{
	struct audit *A = &audit_g;

	if (A->buf.len > 0) {
		if (util_write_all(A->fd, A->buf.p, A->buf.len) < 0) {
			audit_fail("write", errno);
			return -1;
		}
		A->size += A->buf.len;
		A->buf.len = 0;
	}
	audit_release(0);
	return 0;
}

/* fdatasync; the answers that waited for it go out. */
static int
audit_sync(void)
{
	struct audit *A = &audit_g;

	if (A->sync_ev != NULL)
		evtimer_del(A->sync_ev);
	if (fdatasync(A->fd) < 0) {
		audit_fail("fdatasync", errno);
		return -1;
	}
	A->need_sync = false;
	A->sync_records = 0;
	audit_release(1);
	return 0;
}

int
audit_flush_now(bool sync)
{
	struct audit *A = &audit_g;

	if (A->fd < 0)
		return -1;
	if (audit_write() < 0)
		return -1;
	if ((sync || A->need_sync) && audit_sync() < 0)
		return -1;
	if (A->failing) {
		A->failing = false;
		log_info("audit: %s/%s can be written again", A->dir, A->name);
	}
	return 0;
}

/* Group commit (KH_AUDIT_SYNC_DELAY_US): sync now, or let the answers due
 * from the requests still upstream share this fdatasync? */
static bool
audit_sync_due(void)
{
	struct audit *A = &audit_g;
	const struct child *c = A->p != NULL ? A->p->child : NULL;

	return c == NULL || c->ninflight == 0 ||
	    A->sync_records >= KH_AUDIT_SYNC_BATCH ||
	    audit_now_us() - A->sync_first_us >= KH_AUDIT_SYNC_DELAY_US;
}

static void
audit_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct audit *A = &audit_g;

	(void)fd;
	(void)what;
	(void)arg;
	A->flush_active = false;
	if (A->failing || A->closed)
		return;
	if ((A->dropped_child > 0 || A->dropped_other > 0) &&
	    supervise_now_ms() - A->dropped_ms >= KH_RELAY_SUMMARY_MS)
		audit_record_dropped();
	if (A->since_ckpt >= A->ckpt_records)
		(void)audit_checkpoint(false);
	if (audit_write() < 0)
		return;
	if (A->need_sync) {
		if (audit_sync_due()) {
			if (audit_sync() < 0)
				return;
		} else if (!evtimer_pending(A->sync_ev, NULL)) {
			int64_t left = KH_AUDIT_SYNC_DELAY_US -
			    (audit_now_us() - A->sync_first_us);
			struct timeval tv = { 0, left > 0 ? (long)left : 0 };
			evtimer_add(A->sync_ev, &tv);
		}
	}
	if (A->max_bytes != 0 && A->size >= A->max_bytes)
		audit_file_rotate(true);
}

/* The group commit's time is up. */
static void
audit_sync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct audit *A = &audit_g;

	(void)fd;
	(void)what;
	(void)arg;
	if (!A->failing && !A->closed && A->need_sync)
		(void)audit_sync();
}

static void
audit_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct audit *A = &audit_g;

	(void)fd;
	(void)what;
	(void)arg;
	if (A->closed || audit_flush_now(true) < 0)
		return;		/* audit_fail tries again later */
	if (A->max_bytes != 0 && A->size >= A->max_bytes)
		audit_file_rotate(true);
}

/* Every --audit-checkpoint-secs: a checkpoint if anything was written
 * since the last one (and the count of what was dropped, if any). */
static void
audit_ckpt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct audit *A = &audit_g;

	(void)fd;
	(void)what;
	(void)arg;
	if (A->failing || A->closed)
		return;
	audit_record_dropped();
	if (A->since_ckpt == 0)
		return;
	if (audit_checkpoint(false) == 0)
		(void)audit_flush_now(true);
}

/* ------------------------------------------------------------------ */
/* Start and stop. */

static int
audit_events(struct event_base *base, uint32_t secs)
{
	struct audit *A = &audit_g;
	struct timeval tv = { (time_t)secs, 0 };

	A->flush_ev = event_new(base, -1, 0, audit_flush_cb, NULL);
	A->retry_ev = evtimer_new(base, audit_retry_cb, NULL);
	A->sync_ev = evtimer_new(base, audit_sync_cb, NULL);
	A->ckpt_ev = event_new(base, -1, EV_PERSIST, audit_ckpt_cb, NULL);
	A->usr1_ev = evsignal_new(base, SIGUSR1, audit_file_usr1, NULL);
	if (A->flush_ev == NULL || A->retry_ev == NULL || A->ckpt_ev == NULL ||
	    A->usr1_ev == NULL || A->sync_ev == NULL || event_add(A->ckpt_ev, &tv) < 0 ||
	    event_add(A->usr1_ev, NULL) < 0)
		return -1;
	return 0;
}

int
audit_open(struct parent *p)
{
	struct audit *A = &audit_g;
	const struct kh_config *cfg = p->cfg;
	uint8_t run[16];

	if (cfg->audit_log == NULL)
		return 0;
	memset(A, 0, sizeof(*A));
	A->dirfd = A->fd = -1;
	A->p = p;
	A->base = p->base;
	A->ckpt_records = cfg->audit_ckpt_records;
	A->ckpt_secs = cfg->audit_ckpt_secs;
	A->max_bytes = cfg->audit_max_bytes;
	A->sync_all = cfg->audit_sync_all;
	if (sha256_init() < 0) {
		log_fatal("audit: OpenSSL's SHA-256 is not available");
		return -1;
	}
	if (getrandom(run, sizeof(run), 0) != (ssize_t)sizeof(run)) {
		log_fatal("audit: getrandom: %s", strerror(errno));
		return -1;
	}
	hex_lower(run, sizeof(run), A->run);
	if (audit_key_load(cfg->audit_key, &A->key) < 0)
		return -1;
	A->on = true;
	if (audit_file_open(cfg->audit_log) < 0 ||
	    audit_record_start() < 0 || audit_flush_now(true) < 0) {
		if (A->failing)
			log_fatal("audit: cannot write %s", cfg->audit_log);
		A->on = false;
		return -1;
	}
	if (audit_events(p->base, A->ckpt_secs) < 0) {
		log_fatal("audit: cannot set up its events");
		A->on = false;
		return -1;
	}
	log_info("audit log %s: seq %llu, key %s", cfg->audit_log,
	    (unsigned long long)A->seq - 1, A->key.fp_hex);
	return 0;
}

void
audit_close(const char *why, int exit_code)
{
	struct audit *A = &audit_g;

	if (!A->on || A->closed)
		return;
	audit_record_dropped();
	audit_event(AUDIT_STOP, AF_STR("why", why), AF_INT("exitCode",
	    exit_code));
	A->failing = false;
	if (audit_checkpoint(true) < 0 || audit_flush_now(true) < 0)
		log_error("audit: the final records could not be written to "
		    "%s/%s", A->dir, A->name);
	A->closed = true;
	A->holders = NULL;		/* the children are gone */
	if (A->fd >= 0)
		close(A->fd);
	if (A->dirfd >= 0)
		close(A->dirfd);
	A->fd = A->dirfd = -1;
	audit_key_free(&A->key);
	free(A->buf.p);
	A->buf.p = NULL;
	A->buf.len = A->buf.cap = 0;
	if (A->flush_ev != NULL)
		event_free(A->flush_ev);
	if (A->retry_ev != NULL)
		event_free(A->retry_ev);
	if (A->ckpt_ev != NULL)
		event_free(A->ckpt_ev);
	if (A->usr1_ev != NULL)
		event_free(A->usr1_ev);
	if (A->sync_ev != NULL)
		event_free(A->sync_ev);
	A->flush_ev = A->retry_ev = A->ckpt_ev = A->usr1_ev = A->sync_ev = NULL;
}
