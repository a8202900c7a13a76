/*
 * libFuzzer harness for the child's decoding of the parent's replies: the
 * real link_feed() (src/unpriv/link.c) and what it calls (the completion
 * callback conn_deliver, conn_shutdown, respond_write in src/unpriv/conn.c
 * and respond.c) on a
 * byte stream "from the parent", fed in pieces whose sizes come from a
 * PRNG seeded with the input, to a child with some requests pending and
 * some client connections in every phase.  Clients are bufferevent pairs:
 * the harness reads what each would receive.
 *
 * The child ends itself on a bad frame (link_read_cb → _exit(1)) and after
 * a complete shutdown (conn_exit → _exit(0)); here link_feed() returns -1
 * for the first and conn_exit(), replaced at link time by the one below,
 * longjmps back for the second.
 *
 * Input: one configuration byte, then the stream.
 *   bit 0      serving (POLICY_OK already received); if not, no client yet
 *   bits 1-3   requests pending with the parent, ids 1..N
 *   bits 4-6   other client connections (idle, reading a head with or
 *              without bytes, reading a body), phases from the PRNG
 *   bit 7      clients speak HTTP/1.0
 * tests/fuzz/make_wire_seeds.py writes the seeds.
 *
 * Properties (abort() when broken), against an independent model of the
 * wire format (wire.h) and of the child's states:
 *  - a frame is accepted exactly when the model accepts it: header,
 *    type, state (POLICY_OK once, RESPONSE only when serving and only for
 *    a pending id), payload (every field within its bound, no trailing
 *    byte), a final status 200..599, header names lower-case tokens and
 *    values without control bytes;
 *  - a bad header is refused as soon as its 16 bytes are in;
 *  - at shutdown a client with no request yet is answered 503, one kept
 *    alive with nothing sent is closed;
 *  - the child exits exactly when the model says shutdown is complete
 *    (shutting down, no request pending, every client gone or idle), and
 *    never processes a byte after a refusal or the exit;
 *  - what a client receives is one well-formed HTTP/1.1 response: status
 *    line, "name: value" lines without stray CR/LF, a content-length equal
 *    to the body it gets (none for HEAD), nothing after it;
 *  - MSG_PING (accepted only when serving, id not 0, empty) is answered
 *    with exactly one well-formed MSG_PONG carrying its id, in order; the
 *    child sends no other PONG;
 *  - MSG_RETIRE (a reload) is accepted once, while serving and not
 *    shutting down, with a token of 16..512 visible ASCII bytes; it
 *    answers and closes nothing, the child says MSG_RETIRED exactly once
 *    (and sends it for nothing else), and the retired child exits exactly when
 *    no request is pending and every client is gone; MSG_QUEUE_START is
 *    refused (this child has no queue).
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "net.h"

#define FZ_CONNS 16
#define FZ_PINGS 64		/* pings whose pong is checked, per input */

enum fz_verdict { FZ_ACCEPT, FZ_REJECT, FZ_EXIT };

struct fz_conn {
	struct conn *c;			/* NULL once freed */
	struct bufferevent *pair[2];	/* [0] the child's end */
	enum conn_phase phase;		/* the model's */
	bool head_bytes;		/* PH_HEAD with input buffered */
	bool kept_alive;		/* served a request before */
	int pending;			/* id pending for it, or 0 */
	bool answered;			/* a response was written to it */
	uint16_t status;		/* what it must receive */
	size_t blen;
};

static struct {
	struct event_base *base;
	struct net n;
	struct fz_conn conns[FZ_CONNS];
	size_t nconns;
	uint64_t rng;
	jmp_buf exit_jmp;
	bool exited;
	/* the model */
	bool serving, shutting_down, retiring;
	bool pending[8];		/* ids 1..7 */
	int pending_conn[8];		/* index in conns, or -1: client gone */
	bool head_http10;
	uint64_t pings[FZ_PINGS];	/* accepted pings' ids, in order */
	size_t npings, npongs;
	size_t nretired;		/* MSG_RETIRED frames the child sent */
	struct bufferevent *parent[2];	/* [0] the child's link */
} fz;

static void __attribute__((noreturn))
fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz_child_msgs: property broken: %s\n", why);
	abort();
}

static uint64_t
fuzz_next(void)
{
	fz.rng ^= fz.rng << 13;
	fz.rng ^= fz.rng >> 7;
	fz.rng ^= fz.rng << 17;
	return fz.rng;
}

/* Replaces conn.c's weak conn_exit: the child would _exit(0) here. */
void
conn_exit(struct net *n)
{
	(void)n;
	if (fz.exited)
		fuzz_fail("exited twice");
	fz.exited = true;
	longjmp(fz.exit_jmp, 1);
}

static void
fuzz_log_sink(enum log_level level, const char *line)
{
	(void)level;
	(void)line;
}

static void
fuzz_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	fuzz_fail("a client deadline fired inside the harness");
}

/* ------------------------------------------------------------------ */
/* The model: what the child must do with one frame. */

static uint32_t
fuzz_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static bool
fuzz_hdr_ok(const uint8_t *h, uint8_t *type, uint32_t *len, uint64_t *id)
{
	*type = h[1];
	*len = fuzz_be32(h + 4);
	*id = (uint64_t)fuzz_be32(h + 8) << 32 | fuzz_be32(h + 12);
	return h[0] == KH_WIRE_VERSION && h[2] == 0 && h[3] == 0 &&
	    *len <= KH_MSG_MAX - KH_WIRE_HDR;
}

/* A str or blob (wire.h) at p[*off..n). */
static bool
fuzz_str(const uint8_t *p, size_t n, size_t *off, size_t max,
    const uint8_t **s, size_t *sl, bool nul_ok)
{
	if (n - *off < 4)
		return false;
	*sl = fuzz_be32(p + *off);
	*off += 4;
	if (*sl > max || *sl > n - *off)
		return false;
	*s = p + *off;
	if (!nul_ok && memchr(*s, 0, *sl) != NULL)
		return false;
	*off += *sl;
	return true;
}

static bool
fuzz_token_lower(const uint8_t *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    (s[i] != 0 && strchr("!#$%&'*+-.^_`|~", s[i]) != NULL)))
			return false;
	return true;
}

static bool
fuzz_value_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '\t' && (s[i] < 0x20 || s[i] > 0x7e))
			return false;
	return true;
}

/* Judge a complete frame; on FZ_ACCEPT/FZ_EXIT update the model. */
static enum fz_verdict
fuzz_model(uint8_t type, uint64_t id, const uint8_t *p, size_t n)
{
	size_t off = 0;

	switch (type) {
	case MSG_POLICY_OK:
		if (fz.serving || n != 0)
			return FZ_REJECT;
		fz.serving = true;
		return FZ_ACCEPT;
	case MSG_SHUTDOWN:
		if (n != 0)
			return FZ_REJECT;
		fz.shutting_down = true;
		for (size_t i = 0; i < fz.nconns; i++) {
			struct fz_conn *k = &fz.conns[i];
			if (k->c == NULL)
				continue;
			if ((k->phase == PH_IDLE ||
			    (k->phase == PH_HEAD && !k->head_bytes)) &&
			    k->kept_alive) {
				/* kept alive, nothing sent: closed */
				k->phase = (enum conn_phase)-1;	/* freed */
			} else if (k->phase == PH_IDLE ||
			    (k->phase == PH_HEAD && !k->head_bytes)) {
				/* no request yet: 503, never a silent close */
				k->phase = PH_WRITING;
				k->status = 503;
				k->answered = true;
				k->blen = 36;	/* shutting down */
			} else if (k->phase == PH_HEAD ||
			    k->phase == PH_BODY) {
				k->phase = PH_WRITING;
				k->status = 503;
				k->answered = true;
				k->blen = (size_t)-1;	/* JSON, any length */
			}
		}
		break;
	case MSG_RETIRE: {
		const uint8_t *t;
		size_t tl;
		if (!fz.serving || id != 0 || fz.retiring || fz.shutting_down ||
		    !fuzz_str(p, n, &off, KH_TOKEN_MAX, &t, &tl, false) ||
		    off != n || (tl < KH_TOKEN_MIN &&
		    (tl > 0 || fz.n.nlisteners > 0)))
			return FZ_REJECT;	/* empty: no listener, no token */
		for (size_t i = 0; i < tl; i++)
			if (t[i] < 0x21 || t[i] > 0x7e)
				return FZ_REJECT;
		/* Nothing is answered or closed: every client keeps its
		 * phase (one more answer each, with connection: close). */
		fz.retiring = true;
		break;
	}
	case MSG_QUEUE_START:
		/* This child has no queue transport. */
		return FZ_REJECT;
	case MSG_PING:
		if (!fz.serving || id == 0 || n != 0)
			return FZ_REJECT;
		if (fz.npings < FZ_PINGS)
			fz.pings[fz.npings] = id;
		fz.npings++;
		return FZ_ACCEPT;	/* changes nothing else */
	case MSG_RESPONSE: {
		uint16_t status, nh;
		const uint8_t *s, *v;
		size_t sl, vl;
		if (!fz.serving || id == 0 || id > 7 || !fz.pending[id])
			return FZ_REJECT;
		if (n < 4)
			return FZ_REJECT;
		status = (uint16_t)(p[0] << 8 | p[1]);
		nh = (uint16_t)(p[2] << 8 | p[3]);
		off = 4;
		if (nh > KH_FWD_HEADERS_MAX)
			return FZ_REJECT;
		for (uint16_t i = 0; i < nh; i++) {
			if (!fuzz_str(p, n, &off, KH_HNAME_MAX, &s, &sl, false) ||
			    !fuzz_str(p, n, &off, KH_HVALUE_MAX, &v, &vl,
			    false) || !fuzz_token_lower(s, sl) ||
			    !fuzz_value_ok(v, vl))
				return FZ_REJECT;
		}
		if (!fuzz_str(p, n, &off, KH_RESPONSE_MAX, &s, &sl, true) ||
		    off != n || status < 200 || status > 599)
			return FZ_REJECT;
		fz.pending[id] = false;
		int ci = fz.pending_conn[id];
		if (ci >= 0) {
			struct fz_conn *k = &fz.conns[ci];
			k->phase = PH_WRITING;
			k->pending = 0;
			k->answered = true;
			k->status = status;
			k->blen = (status == 204 || status == 304) ? 0 : sl;
			return FZ_ACCEPT;	/* no exit check on this path */
		}
		break;
	}
	default:
		return FZ_REJECT;
	}
	/* Retired: exit when nothing is pending and every client is gone
	 * (an idle one waits for its one more request). */
	if (fz.retiring && !fz.shutting_down) {
		for (int i = 1; i <= 7; i++)
			if (fz.pending[i])
				return FZ_ACCEPT;
		for (size_t i = 0; i < fz.nconns; i++)
			if (fz.conns[i].c != NULL &&
			    fz.conns[i].phase != (enum conn_phase)-1)
				return FZ_ACCEPT;
		return FZ_EXIT;
	}
	/* Exit: shutting down, nothing pending, every client gone/idle. */
	if (!fz.shutting_down)
		return FZ_ACCEPT;
	for (int i = 1; i <= 7; i++)
		if (fz.pending[i])
			return FZ_ACCEPT;
	for (size_t i = 0; i < fz.nconns; i++)
		if (fz.conns[i].c != NULL &&
		    fz.conns[i].phase != (enum conn_phase)-1 &&
		    fz.conns[i].phase != PH_IDLE)
			return FZ_ACCEPT;
	return FZ_EXIT;
}

/* ------------------------------------------------------------------ */
/* What a client receives. */

static void
fuzz_check_client(struct fz_conn *k)
{
	struct evbuffer *in = bufferevent_get_input(k->pair[1]);
	size_t n = evbuffer_get_length(in), i = 0, cl = (size_t)-1;
	const char *s;
	bool head = strcmp(k->c->req->method, "HEAD") == 0;

	if (!k->answered) {
		if (n != 0)
			fuzz_fail("a client got bytes without an answer");
		return;
	}
	s = (const char *)evbuffer_pullup(in, -1);
	if (n < 17 || memcmp(s, "HTTP/1.1 ", 9) != 0 ||
	    (size_t)atoi(s + 9) != k->status || s[12] != ' ')
		fuzz_fail("bad status line");
	if (k->status < 200)
		fuzz_fail("a 1xx as the final answer");
	/* Lines: every CR is followed by LF and every LF preceded by CR. */
	for (;;) {
		size_t e = i;
		while (e < n && s[e] != '\r' && s[e] != '\n')
			e++;
		if (e + 1 >= n || s[e] != '\r' || s[e + 1] != '\n')
			fuzz_fail("response line without CR LF");
		if (e == i) {
			i = e + 2;
			break;		/* end of the head */
		}
		if (i > 0) {
			const char *colon = memchr(s + i, ':', e - i);
			if (colon == NULL || colon == s + i ||
			    colon + 1 >= s + e + 1 || colon[1] != ' ')
				fuzz_fail("header line not 'name: value'");
			for (const char *q = s + i; q < colon; q++)
				if (*q <= ' ' || *q >= 0x7f)
					fuzz_fail("bad header name");
			for (const char *q = colon + 2; q < s + e; q++)
				if (*q != '\t' && (*q < 0x20 || *q >= 0x7f))
					fuzz_fail("control byte in a value");
			if (colon - (s + i) == 14 &&
			    strncmp(s + i, "content-length", 14) == 0) {
				if (cl != (size_t)-1)
					fuzz_fail("two content-length lines");
				cl = (size_t)strtoul(colon + 2, NULL, 10);
			}
		}
		i = e + 2;
	}
	/* A HEAD answer carries no length of its own (respond.c: keyhole
	 * never makes one up for a body it does not have). */
	if (!head && k->status != 204 && k->status != 304 &&
	    cl == (size_t)-1)
		fuzz_fail("no content-length");
	if (cl != (size_t)-1 && k->blen != (size_t)-1 && cl != k->blen)
		fuzz_fail("content-length is not the body's length");
	if (n - i != (head || cl == (size_t)-1 ? 0 : cl))
		fuzz_fail("body bytes do not match content-length");
}

/* What the child sent the parent: each PONG answers the next ping the
 * model accepted; MSG_ACCESS and MSG_LOG frames are not judged here. */
static void
fuzz_check_pongs(void)
{
	struct evbuffer *in = bufferevent_get_input(fz.parent[1]);

	for (;;) {
		size_t have = evbuffer_get_length(in);
		uint8_t hb[KH_WIRE_HDR], type;
		uint32_t len;
		uint64_t id;

		if (have < KH_WIRE_HDR)
			return;
		evbuffer_copyout(in, hb, KH_WIRE_HDR);
		if (!fuzz_hdr_ok(hb, &type, &len, &id))
			fuzz_fail("child sent a bad frame header");
		if (have < KH_WIRE_HDR + len)
			fuzz_fail("child sent half a frame");
		if (type == MSG_RETIRED) {
			if (len != 0 || id != 0 || !fz.retiring ||
			    fz.nretired++ > 0)
				fuzz_fail("a RETIRED no RETIRE asked for");
		}
		if (type == MSG_PONG) {
			if (len != 0 || fz.npongs >= fz.npings)
				fuzz_fail("a pong no ping asked for");
			if (fz.npongs < FZ_PINGS && id != fz.pings[fz.npongs])
				fuzz_fail("a pong with another id than its ping");
			fz.npongs++;
		}
		evbuffer_drain(in, KH_WIRE_HDR + len);
	}
}

/* ------------------------------------------------------------------ */

static void
fuzz_add_conn(enum conn_phase phase, bool head_bytes, int pending,
    const char *method)
{
	struct net *n = &fz.n;
	struct fz_conn *k = &fz.conns[fz.nconns++];
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL || bufferevent_pair_new(fz.base, 0, k->pair) != 0)
		abort();
	/* A parsed request (conn.c frees it with the connection). */
	if ((c->req = calloc(1, sizeof(*c->req))) == NULL)
		abort();
	c->net = n;
	c->bev = k->pair[0];
	c->timer = evtimer_new(fz.base, fuzz_timer_cb, c);
	c->rate_timer = evtimer_new(fz.base, fuzz_timer_cb, c);
	if (c->timer == NULL || c->rate_timer == NULL)
		abort();
	snprintf(c->peer, sizeof(c->peer), "127.0.0.1:%zu", fz.nconns);
	snprintf(c->req->method, sizeof(c->req->method), "%s", method);
	c->req->minor = fz.head_http10 ? 0 : 1;
	c->req->keep_alive = true;
	c->phase = phase;
	/* A new connection or one kept alive after a request. */
	if (phase == PH_IDLE || phase == PH_HEAD)
		c->nrequests = (uint32_t)(fuzz_next() % 2);
	bufferevent_enable(k->pair[0], EV_READ | EV_WRITE);
	bufferevent_enable(k->pair[1], EV_READ | EV_WRITE);
	if (head_bytes)
		bufferevent_write(k->pair[1], "GET / HT", 8);
	if (phase == PH_BODY)
		c->req->body = HTTP_BODY_LENGTH;
	c->next = n->conns;
	if (n->conns != NULL)
		n->conns->prev = c;
	n->conns = c;
	n->nconns++;
	k->c = c;
	k->phase = phase;
	k->head_bytes = head_bytes;
	k->kept_alive = c->nrequests > 0;
	k->pending = pending;
}

static void
fuzz_setup(uint8_t cfg)
{
	static const char *const methods[] = { "GET", "HEAD", "POST" };
	struct net *n = &fz.n;
	unsigned npend = (cfg >> 1) & 7, nother = (cfg >> 4) & 7;

	fz.serving = n->serving = (cfg & 1) != 0;
	fz.head_http10 = (cfg & 0x80) != 0;
	n->base = fz.base;
	n->cfg.idle_timeout_ms = 60000;
	n->cfg.max_inflight = 64;
	if (!n->serving)
		return;
	for (unsigned id = 1; id <= npend; id++) {
		struct pending *p = calloc(1, sizeof(*p));
		if (p == NULL)
			abort();
		p->id = id;
		p->done = conn_deliver;
		p->next = n->pending;
		n->pending = p;
		n->npending++;
		fz.pending[id] = true;
		fz.pending_conn[id] = -1;
		if (fuzz_next() % 4 != 0) {	/* the client is still there */
			fz.pending_conn[id] = (int)fz.nconns;
			fuzz_add_conn(PH_UPSTREAM, false, (int)id,
			    methods[fuzz_next() % 3]);
			fz.conns[fz.nconns - 1].c->pending = p;
			p->owner = fz.conns[fz.nconns - 1].c;
		}
	}
	for (unsigned i = 0; i < nother; i++) {
		unsigned k = (unsigned)(fuzz_next() % 4);
		fuzz_add_conn(k == 0 ? PH_IDLE : k == 3 ? PH_BODY : PH_HEAD,
		    k == 2, 0, "GET");
	}
}

static void
fuzz_teardown(void)
{
	struct net *n = &fz.n;

	/* conn_free() may not decide to exit now (nor a retired child). */
	n->shutting_down = false;
	n->retiring = false;
	while (n->conns != NULL)
		conn_free(n->conns);
	while (n->pending != NULL) {
		struct pending *p = n->pending;
		n->pending = p->next;
		free(p);
	}
	conn_admit_free(n);	/* its timers (refusals counted at shutdown) */
	for (size_t i = 0; i < fz.nconns; i++)
		bufferevent_free(fz.conns[i].pair[1]);
	event_base_loop(fz.base, EVLOOP_NONBLOCK);
}

/* link_feed(); returns true instead when the child exited (conn_exit()
 * longjmps back here; a function calling setjmp is never inlined, so the
 * caller's locals are safe). */
static bool
fuzz_feed(struct evbuffer *in, int *rc, const char **why)
{
	if (setjmp(fz.exit_jmp) != 0)
		return true;
	*rc = link_feed(&fz.n, in, why);
	return false;
}

static uint64_t
fuzz_seed(const uint8_t *d, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ d[i]) * 1099511628211ULL;
	return h | 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evbuffer *in;
	const char *why = NULL;
	int rc = 0;
	const uint8_t *s;
	size_t n, off = 0, walked = 0;

	static struct bufferevent *parent[2];

	if (fz.base == NULL) {
		fz.base = event_base_new();
		in = evbuffer_new();
		if (fz.base == NULL || in == NULL ||
		    bufferevent_pair_new(fz.base, 0, parent) != 0)
			abort();
		bufferevent_enable(parent[0], EV_READ | EV_WRITE);
		bufferevent_enable(parent[1], EV_READ | EV_WRITE);
		log_init("keyhole-net", fuzz_log_sink);
	}
	if (size < 1)
		return 0;
	struct event_base *base = fz.base;
	memset(&fz, 0, sizeof(fz));
	fz.base = base;
	fz.parent[0] = parent[0];
	fz.parent[1] = parent[1];
	fz.n.parent = parent[0];
	evbuffer_drain(bufferevent_get_input(parent[1]),
	    evbuffer_get_length(bufferevent_get_input(parent[1])));
	fz.rng = fuzz_seed(data, size);
	s = data + 1;
	n = size - 1;
	evbuffer_drain(in, evbuffer_get_length(in));
	fuzz_setup(data[0]);

	/* Feed piece by piece; judge each frame the child consumed. */
	while (off < n) {
		uint64_t x = fuzz_next();
		size_t piece = (x & 3) == 0 ? (size_t)(x >> 8) % 4096 + 1 :
		    (size_t)(x >> 8) % 24 + 1;
		if (piece > n - off)
			piece = n - off;
		evbuffer_add(in, s + off, piece);
		off += piece;
		(void)fuzz_feed(in, &rc, &why);
		/* Frames fully consumed: s[walked..off - left). */
		size_t done = off - evbuffer_get_length(in);
		while (walked < done) {
			uint8_t type;
			uint32_t len;
			uint64_t id;
			if (!fuzz_hdr_ok(s + walked, &type, &len, &id) ||
			    done - walked < KH_WIRE_HDR + len)
				fuzz_fail("consumed bytes are not whole frames");
			if (fuzz_model(type, id, s + walked + KH_WIRE_HDR,
			    len) != FZ_ACCEPT)
				fuzz_fail("a frame the model refuses (or exits "
				    "on) was consumed");
			walked += KH_WIRE_HDR + len;
		}
		if (rc < 0 || fz.exited) {
			/* The frame at `walked` was refused or made the child
			 * exit: the model must agree. */
			uint8_t type;
			uint32_t len;
			uint64_t id;
			enum fz_verdict want;
			if (off - walked < KH_WIRE_HDR)
				fuzz_fail("stopped before a whole header");
			if (!fuzz_hdr_ok(s + walked, &type, &len, &id))
				want = FZ_REJECT;
			else if (off - walked - KH_WIRE_HDR < len)
				fuzz_fail("stopped inside an incomplete frame");
			else
				want = fuzz_model(type, id,
				    s + walked + KH_WIRE_HDR, len);
			if (want != (fz.exited ? FZ_EXIT : FZ_REJECT))
				fuzz_fail(fz.exited ? "exited on a frame the "
				    "model does not exit on" : "refused a frame "
				    "the model accepts");
			if (rc < 0 && why == NULL)
				fuzz_fail("refusal without a reason");
			break;
		}
		/* Not stopped: a partial frame left must have a good header. */
		if (off - walked >= KH_WIRE_HDR) {
			uint8_t type;
			uint32_t len;
			uint64_t id;
			if (!fuzz_hdr_ok(s + walked, &type, &len, &id))
				fuzz_fail("bad header waited for its payload");
		}
	}
	/* Every accepted ping has its pong (conn_exit() flushes the link
	 * before it exits, so also after an exit). */
	fuzz_check_pongs();
	if (fz.npongs != fz.npings)
		fuzz_fail("a ping without its pong");
	if (fz.retiring && fz.nretired != 1)
		fuzz_fail("RETIRE accepted without its one RETIRED");
	/* After an exit nothing is left to compare: the process is gone. */
	for (size_t i = 0; i < fz.nconns && !fz.exited; i++) {
		struct fz_conn *k = &fz.conns[i];
		bool model_alive = k->phase != (enum conn_phase)-1;
		bool alive = false;
		for (struct conn *c = fz.n.conns; c != NULL; c = c->next)
			alive |= c == k->c;
		if (alive != model_alive)
			fuzz_fail("client connections differ from the model");
		if (!alive) {
			k->c = NULL;
			continue;
		}
		if (k->c->phase != k->phase)
			fuzz_fail("client phase differs from the model");
		fuzz_check_client(k);
	}
	fuzz_teardown();
	return 0;
}
