/*
 * keyhole-net http2_v1: the channel and the session (h2.h).
 *
 * The channel's life, in this child:
 *   1. READY: bytes from CMD's stdout go to h2_ready_feed (byte-exact
 *      line, the nonce the parent put in CMD's environment); noise lines
 *      before it are skipped within KH_H2_PRE_READY_MAX; a wrong nonce,
 *      too much noise, EOF, or no READY within KH_H2_READY_TIMEOUT_MS
 *      ends it.  Nothing is written to CMD before READY.
 *   2. the session: one nghttp2 server session (h2c, prior knowledge);
 *      the bytes after READY's LF must be the client preface.  SETTINGS:
 *      no push, --h2-max-streams streams, header list 16 KiB, HPACK table
 *      4 KiB, 16 KiB frames, 64 KiB windows.  nghttp2's flood limits
 *      (SETTINGS entries, CONTINUATION frames, queued ACKs, the rapid
 *      reset rate), its memory (KH_H2_SESSION_MEM_MAX through a counting
 *      allocator), a frame rate (KH_H2_FRAMES_PER_S), and a PING every
 *      KH_H2_PING_MS whose ACK must come within KH_H2_PING_TIMEOUT_MS.
 *   3. the end: a session error, EOF, a deadline: logged with why, what
 *      nghttp2 still has (its GOAWAY) written best-effort, and the child
 *      exits.  The parent stops CMD, logs its exit, and starts CMD and a
 *      new child with back-off (supervise.c): an HTTP/2 session cannot
 *      outlive the process that holds its state.  What the parent had
 *      upstream for it is cancelled, as for any child that ends; the
 *      gateway answers its agent (Paperclip's: 502).
 *   4. shutdown (MSG_SHUTDOWN): GOAWAY(NO_ERROR, the last stream seen);
 *      streams already open are answered (the parent answers what is
 *      still upstream at --drain-ms: 503, or 409 indeterminate for a
 *      mutation it sent), then the child exits; after
 *      KH_H2_GOAWAY_GRACE_MS it stops waiting for the gateway.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "h2.h"
#include "log.h"
#include "net.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* nghttp2's memory, counted: an allocation past KH_H2_SESSION_MEM_MAX
 * fails, nghttp2 returns NGHTTP2_ERR_NOMEM, the session ends. */

#define H2_MEM_HDR 16		/* keeps malloc's alignment */

static void *
h2_mem_malloc(size_t size, void *ud)
{
	struct h2 *h = ud;
	uint8_t *p;

	if (size > KH_H2_SESSION_MEM_MAX - h->mem_used)
		return NULL;
	if ((p = malloc(size + H2_MEM_HDR)) == NULL)
		return NULL;
	memcpy(p, &size, sizeof(size));
	h->mem_used += size;
	return p + H2_MEM_HDR;
}

static void
h2_mem_free(void *ptr, void *ud)
{
	struct h2 *h = ud;
	uint8_t *p = ptr;
	size_t size;

	if (p == NULL)
		return;
	p -= H2_MEM_HDR;
	memcpy(&size, p, sizeof(size));
	h->mem_used -= size;
	free(p);
}

static void *
h2_mem_calloc(size_t n, size_t size, void *ud)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if ((p = h2_mem_malloc(n * size, ud)) != NULL)
		memset(p, 0, n * size);
	return p;
}

static void *
h2_mem_realloc(void *ptr, size_t size, void *ud)
{
	uint8_t *old = ptr, *p;
	size_t osize;

	if (old == NULL)
		return h2_mem_malloc(size, ud);
	memcpy(&osize, old - H2_MEM_HDR, sizeof(osize));
	if ((p = h2_mem_malloc(size, ud)) == NULL)
		return NULL;
	memcpy(p, old, osize < size ? osize : size);
	h2_mem_free(old, ud);
	return p;
}

/* ------------------------------------------------------------------ */
/* The session. */

static int
h2_on_frame_recv_any(nghttp2_session *s, const nghttp2_frame *f, void *ud);

/* The session is over: the child leaves, the line saying why as its
 * MSG_FATAL, which the parent always writes (a flood of other lines, e.g.
 * thousands of refused streams, cannot push it out of the rate-limited
 * log); after the policy was accepted it only restarts the child.  why is
 * NULL for a shutdown that completed (a normal exit).  Weak: the fuzz
 * harness (tests/fuzz/fuzz_h2_session.c) records the end instead. */
__attribute__((weak)) void h2_leave(struct h2 *h, const char *why);

__attribute__((weak)) void
h2_leave(struct h2 *h, const char *why)
{
	if (why != NULL)
		link_fatal("%s", why);
	conn_exit(h->net);
}

void
h2_lost(struct h2 *h, const char *fmt, ...)
{
	char why[256], line[512];
	va_list ap;

	if (h->state == H2_DEAD)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "connect: session ended: %s (%zu stream%s "
	    "open, %zu with the parent, %llu request%s decided, %llu reset by "
	    "the gateway, %llu invalid frame%s)", why, h->nstreams,
	    h->nstreams == 1 ? "" : "s", h->net->npending,
	    (unsigned long long)h->nrequests, h->nrequests == 1 ? "" : "s",
	    (unsigned long long)h->nresets, (unsigned long long)h->ninvalid,
	    h->ninvalid == 1 ? "" : "s");
	h->state = H2_DEAD;
	/* What nghttp2 has queued (its GOAWAY for a protocol error), once,
	 * without waiting: the peer may be the reason we stop. */
	if (h->s != NULL) {
		const uint8_t *data;
		ssize_t n;
		while (evbuffer_get_length(h->out) < KH_H2_OUT_HIGH &&
		    (n = nghttp2_session_mem_send(h->s, &data)) > 0)
			evbuffer_add(h->out, data, (size_t)n);
	}
	if (h->out_ev != NULL)
		(void)evbuffer_write(h->out, KH_CHILD_FD_H2OUT);
	h2_leave(h, line);
}

void
h2_pump(struct h2 *h)
{
	const uint8_t *data;
	ssize_t n;

	if (h->state != H2_SESSION)
		return;
	while (evbuffer_get_length(h->out) < KH_H2_OUT_HIGH) {
		n = nghttp2_session_mem_send(h->s, &data);
		if (n < 0) {
			h2_lost(h, "HTTP/2 send: %s", nghttp2_strerror((int)n));
			return;
		}
		if (n == 0)
			break;
		if (evbuffer_add(h->out, data, (size_t)n) < 0) {
			h2_lost(h, "out of memory for the channel's output");
			return;
		}
	}
	if (h->out_ev != NULL && evbuffer_get_length(h->out) > 0)
		event_add(h->out_ev, NULL);
	/* Nothing more to read or write: the peer's GOAWAY, or ours after a
	 * protocol error. */
	if (!nghttp2_session_want_read(h->s) &&
	    !nghttp2_session_want_write(h->s) &&
	    evbuffer_get_length(h->out) == 0) {
		if (!h->goaway) {
			h2_lost(h, "the HTTP/2 session is over (GOAWAY)");
			return;
		}
		/* Our shutdown, completed: not a loss. */
		log_info("connect: shutdown: session closed after GOAWAY "
		    "(%llu request%s decided)", (unsigned long long)h->nrequests,
		    h->nrequests == 1 ? "" : "s");
		h->state = H2_DEAD;
		h2_leave(h, NULL);
	}
}

int
h2_session_new(struct h2 *h)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	int rv;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
		    h->net->cfg.h2_max_streams },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, KH_H2_HEADER_LIST_MAX },
		{ NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, KH_H2_HEADER_TABLE },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, KH_H2_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_FRAME_SIZE, KH_H2_FRAME_MAX },
	};

	h->mem.mem_user_data = h;
	h->mem.malloc = h2_mem_malloc;
	h->mem.free = h2_mem_free;
	h->mem.calloc = h2_mem_calloc;
	h->mem.realloc = h2_mem_realloc;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -1;
	h2_stream_callbacks(cb);
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		return -1;
	}
	/* A closed stream's state is not kept (no priority tree to grow). */
	nghttp2_option_set_no_closed_streams(opt, 1);
	/* Rapid reset (CVE-2023-44487): Debian's 1.52.0-1+deb12u1 has the
	 * limit; Paperclip's values. */
	nghttp2_option_set_stream_reset_rate_limit(opt, KH_H2_RST_BURST,
	    KH_H2_RST_RATE);
	/* CONTINUATION flood (CVE-2024-28182): 1.52.0-1+deb12u2's default
	 * is 8; said here so a newer library cannot raise it. */
	nghttp2_option_set_max_continuations(opt, 8);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt,
	    KH_H2_HEADER_TABLE);
	rv = nghttp2_session_server_new3(&h->s, cb, h, opt, &h->mem);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	if (rv != 0)
		return -1;
	/* The local window of the connection equals the streams' windows
	 * times the streams: what the peer may send before we consume. */
	if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv,
	    sizeof(iv) / sizeof(iv[0])) != 0)
		return -1;
	return 0;
}

int
h2_session_feed(struct h2 *h, const uint8_t *buf, size_t len)
{
	ssize_t rv;

	if (h->state != H2_SESSION)
		return -1;
	rv = nghttp2_session_mem_recv(h->s, buf, len);
	if (h->state != H2_SESSION)
		return -1;			/* a callback ended it */
	if (rv < 0) {
		h2_lost(h, "HTTP/2 protocol error from the gateway: %s",
		    h->why != NULL ? h->why : nghttp2_strerror((int)rv));
		return -1;
	}
	h2_pump(h);
	return h->state == H2_SESSION ? 0 : -1;
}

/* Every frame, for the rate limit and liveness; the streams' own frames
 * go on to h2_stream.c's callback, which calls this first. */
static int
h2_on_frame_recv_any(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct h2 *h = ud;
	int64_t now = util_now_ms();

	(void)s;
	h->preface_seen = true;
	if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK) &&
	    h->ping_out) {
		h->ping_out = false;
		h->last_ack_ms = now;
	}
	return 0;
}

/* Exported for h2_stream.c's on_frame_recv: the per-session accounting. */
int h2_frame_seen(nghttp2_session *s, const nghttp2_frame *f, void *ud);

int
h2_frame_seen(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct h2 *h = ud;
	int64_t now = util_now_ms();

	if (now - h->window_ms >= 1000) {
		h->window_ms = now;
		h->frames = 0;
	}
	if (++h->frames > KH_H2_FRAMES_PER_S) {
		snprintf(h->whybuf, sizeof(h->whybuf), "more than %u frames in "
		    "one second (last: type %u): flood", KH_H2_FRAMES_PER_S,
		    (unsigned)f->hd.type);
		h->why = h->whybuf;
		nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return h2_on_frame_recv_any(s, f, ud);
}

/* ------------------------------------------------------------------ */
/* The channel's fds. */

static void
h2_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2 *h = arg;
	uint8_t buf[16384];
	ssize_t n;
	size_t used;

	(void)what;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		h2_lost(h, n == 0 ? "the command closed its stdout (exited?)" :
		    "reading the command's stdout: %s", strerror(errno));
		return;
	}
	if (h->state == H2_WAIT_READY) {
		switch (h2_ready_feed(&h->ready, buf, (size_t)n,
		    h->net->cfg.h2_nonce, KH_H2_NONCE_LEN, &used)) {
		case H2R_MORE:
			return;
		case H2R_BAD_NONCE:
			h2_lost(h, "a READY line with another nonce (or a "
			    "malformed one): not our gateway");
			return;
		case H2R_TOO_MUCH:
			h2_lost(h, "%u bytes (%u lines) and no READY line",
			    KH_H2_PRE_READY_MAX, h->ready.noise);
			return;
		case H2R_READY:
			break;
		}
		if (h->ready.noise > 0)
			log_info("connect: %u line%s before READY skipped",
			    h->ready.noise, h->ready.noise == 1 ? "" : "s");
		if (h2_session_new(h) < 0) {
			h2_lost(h, "cannot create the HTTP/2 session");
			return;
		}
		h->state = H2_SESSION;
		h->ready_ms = h->last_ack_ms = util_now_ms();
		log_info("connect: gateway ready after %lld ms",
		    (long long)(h->ready_ms - h->started_ms));
		h2_pump(h);
		if (h->state != H2_SESSION || used == (size_t)n)
			return;
		(void)h2_session_feed(h, buf + used, (size_t)n - used);
		return;
	}
	if (h->state == H2_SESSION)
		(void)h2_session_feed(h, buf, (size_t)n);
}

static void
h2_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2 *h = arg;

	(void)what;
	if (evbuffer_write(h->out, fd) < 0 && errno != EAGAIN &&
	    errno != EINTR) {
		h2_lost(h, "writing the command's stdin: %s", strerror(errno));
		return;
	}
	if (evbuffer_get_length(h->out) > 0)
		event_add(h->out_ev, NULL);
	h2_pump(h);
	conn_maybe_exit(h->net);
}

/* CMD's stderr: its lines to the log (the parent makes them printable
 * and rate-limits them: relay.c); a line is cut at
 * KH_H2_STDERR_LINE_MAX bytes. */
static void
h2_err_line(struct h2 *h)
{
	h->errline[h->errlen] = '\0';
	if (h->errlen > 0 || h->errcut)
		log_info("connect: stderr: %s%s", h->errline,
		    h->errcut ? " [cut]" : "");
	h->errlen = 0;
	h->errcut = false;
}

static void
h2_err_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2 *h = arg;
	uint8_t buf[4096];
	ssize_t n;

	(void)what;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		h2_err_line(h);
		event_del(h->err_ev);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			h2_err_line(h);
		} else if (h->errlen < KH_H2_STDERR_LINE_MAX) {
			h->errline[h->errlen++] = (char)buf[i];
		} else {
			h->errcut = true;
		}
	}
}

static void
h2_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2 *h = arg;
	int64_t now = util_now_ms();

	(void)fd;
	(void)what;
	if (h->state == H2_WAIT_READY) {
		if (now - h->started_ms > KH_H2_READY_TIMEOUT_MS)
			h2_lost(h, "no READY line within %u ms",
			    KH_H2_READY_TIMEOUT_MS);
		return;
	}
	if (h->state != H2_SESSION)
		return;
	if (!h->preface_seen && now - h->ready_ms > KH_H2_READY_TIMEOUT_MS) {
		h2_lost(h, "READY, but no HTTP/2 preface within %u ms",
		    KH_H2_READY_TIMEOUT_MS);
		return;
	}
	if (h->ping_out && now - h->ping_sent_ms > KH_H2_PING_TIMEOUT_MS) {
		h2_lost(h, "no PING ACK within %u ms", KH_H2_PING_TIMEOUT_MS);
		return;
	}
	if (!h->ping_out && now - h->last_ack_ms >= KH_H2_PING_MS) {
		uint8_t opaque[8];
		uint64_t id = (uint64_t)now;
		memcpy(opaque, &id, sizeof(opaque));
		if (nghttp2_submit_ping(h->s, NGHTTP2_FLAG_NONE, opaque) == 0) {
			h->ping_out = true;
			h->ping_sent_ms = now;
		}
	}
	/* CMD does not read what we write: it cannot be served. */
	if (evbuffer_get_length(h->out) == 0)
		h->out_stuck_ms = 0;
	else if (h->out_stuck_ms == 0)
		h->out_stuck_ms = now;
	else if (now - h->out_stuck_ms > h->net->cfg.write_timeout_ms) {
		h2_lost(h, "the command has not read its stdin for %u ms",
		    h->net->cfg.write_timeout_ms);
		return;
	}
	h2_stream_tick(h, now);
	if (h->state != H2_SESSION)
		return;
	if (h->goaway && now - h->goaway_ms > KH_H2_GOAWAY_GRACE_MS &&
	    h->net->npending == 0) {
		h2_lost(h, "shutdown: GOAWAY grace over");
		return;
	}
	h2_pump(h);
	conn_maybe_exit(h->net);
}

void
h2_start(struct net *n)
{
	struct h2 *h = calloc(1, sizeof(*h));
	struct timeval sec = { 1, 0 };

	if (h == NULL || (h->out = evbuffer_new()) == NULL)
		link_fatal("connect: out of memory");
	h->net = n;
	h->state = H2_WAIT_READY;
	h2_ready_init(&h->ready);
	h->started_ms = h->window_ms = util_now_ms();
	evutil_make_socket_nonblocking(KH_CHILD_FD_H2IN);
	evutil_make_socket_nonblocking(KH_CHILD_FD_H2OUT);
	evutil_make_socket_nonblocking(KH_CHILD_FD_H2ERR);
	h->in_ev = event_new(n->base, KH_CHILD_FD_H2IN, EV_READ | EV_PERSIST,
	    h2_read_cb, h);
	h->out_ev = event_new(n->base, KH_CHILD_FD_H2OUT, EV_WRITE, h2_write_cb,
	    h);
	h->err_ev = event_new(n->base, KH_CHILD_FD_H2ERR, EV_READ | EV_PERSIST,
	    h2_err_cb, h);
	h->tick_ev = event_new(n->base, -1, EV_PERSIST, h2_tick_cb, h);
	if (h->in_ev == NULL || h->out_ev == NULL || h->err_ev == NULL ||
	    h->tick_ev == NULL || event_add(h->in_ev, NULL) < 0 ||
	    event_add(h->err_ev, NULL) < 0 || event_add(h->tick_ev, &sec) < 0)
		link_fatal("connect: cannot watch the command's pipes");
	n->h2 = h;
	log_debug("connect: waiting for the gateway's READY line");
}

void
h2_shutdown(struct net *n)
{
	struct h2 *h = n->h2;

	if (h == NULL || h->goaway)
		return;
	h->goaway = true;
	h->goaway_ms = util_now_ms();
	if (h->state != H2_SESSION) {
		h2_lost(h, "shutdown before the gateway was ready");
		return;
	}
	/* Streams the gateway opened up to now are still served; later ones
	 * are refused by nghttp2. */
	nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(h->s), NGHTTP2_NO_ERROR,
	    NULL, 0);
	log_info("connect: shutdown: GOAWAY sent, %zu stream%s open",
	    h->nstreams, h->nstreams == 1 ? "" : "s");
	h2_pump(h);
}

bool
h2_idle(const struct net *n)
{
	const struct h2 *h = n->h2;

	if (h == NULL || h->state != H2_SESSION)
		return true;
	return h->nstreams == 0 && evbuffer_get_length(h->out) == 0;
}
