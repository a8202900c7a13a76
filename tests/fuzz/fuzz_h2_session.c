/*
 * libFuzzer harness for keyhole-net's http2_v1 session (src/unpriv/h2.c,
 * h2_stream.c): nghttp2's server session fed the fuzzer's bytes as the
 * gateway's stdout, every stream through decide.c and out as MSG_REQUEST,
 * exactly as in the child.
 *
 * Input: one configuration byte, then the bytes after the READY line.
 *   bit 0      prepend the client preface and an empty SETTINGS frame
 *   bits 1-2   feed in pieces of { all, 1, 9, 100 } bytes
 *   bit 3      the parent answers every request it gets (MSG_RESPONSE
 *              through link.c, so answers go out on their streams)
 *   bit 4      shut down (GOAWAY) halfway through the input
 *
 * Properties (abort() when broken):
 *  - every request the child sends the parent passes the parent's own
 *    re-check (request_check, with the parent's copy of the policy): a
 *    request that reaches decide and goes on is one the policy allows;
 *  - once the session has ended (h2_lost: a protocol error, a flood),
 *    nothing more is forwarded, whatever bytes follow;
 *  - nghttp2's memory stays within KH_H2_SESSION_MEM_MAX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "decide.h"
#include "h2.h"
#include "net.h"
#include "policy_compile.h"
#include "policy_table.h"
#include "request_check.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_policy_text[] =
    "max-body 4k\n"
    "request-header accept\n"
    "request-header content-type\n"
    "allow GET /api/agents/me\n"
    "allow GET /api/issues/*\n"
    "allow POST /api/issues/*/comments keys body\n"
    "allow PATCH /api/issues/* body json\n"
    "allow POST /api/small max-body 16\n";

static const char fuzz_token[] = "fuzz-bridge-token-0123456789";

static struct {
	struct event_base *base;
	struct bufferevent *pair[2];
	struct policy child, parent;
	struct pol_bindings bind;
	bool ready;
} fz;

static struct net N;
static bool fz_left;		/* h2_leave was called */

/* The session ended: record it instead of exiting (h2.c's is weak). */
void h2_leave(struct h2 *h, const char *why);

void
h2_leave(struct h2 *h, const char *why)
{
	(void)h;
	(void)why;
	fz_left = true;
}

static void
fuzz_log(enum log_level level, const char *line)
{
	(void)level;
	(void)line;
}

static void
fuzz_diag(void *arg, bool warning, const char *msg)
{
	(void)arg;
	if (!warning)
		fprintf(stderr, "fuzz policy: %s\n", msg);
}

static void
fuzz_init(void)
{
	char why[128];
	struct wbuf w;
	struct msg_reader rd;
	struct msg_hdr h;

	log_init("fuzz", fuzz_log);
	fz.base = event_base_new();
	if (fz.base == NULL || bufferevent_pair_new(fz.base, 0, fz.pair) != 0)
		abort();
	bufferevent_enable(fz.pair[0], EV_READ | EV_WRITE);
	bufferevent_enable(fz.pair[1], EV_READ | EV_WRITE);
	policy_init(&fz.child);
	policy_init(&fz.parent);
	if (policy_compile("fuzz.policy", (const uint8_t *)fuzz_policy_text,
	    strlen(fuzz_policy_text), &fz.bind, 0, &fz.child, fuzz_diag,
	    NULL) != 0)
		abort();
	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	policy_encode(&fz.child, &w);
	if (msg_finish(&w) != 0 || msg_hdr_decode((uint8_t *)w.buf, &h) != 0)
		abort();
	msg_reader_init(&rd, (uint8_t *)w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR);
	if (policy_decode(&rd, &fz.bind, &fz.parent, why, sizeof(why)) != 0)
		abort();
	wbuf_free(&w);
	fz.ready = true;
}

/* Every frame the child queued for the parent: each MSG_REQUEST must pass
 * the parent's re-check.  Returns how many there were; their ids go to
 * ids[] (up to cap) for the answers. */
static size_t
fuzz_check_link(uint64_t *ids, size_t cap)
{
	struct evbuffer *link = evbuffer_new();
	size_t n = 0;

	if (link == NULL)
		abort();
	evbuffer_add_buffer(link, bufferevent_get_output(fz.pair[0]));
	evbuffer_add_buffer(link, bufferevent_get_input(fz.pair[1]));
	while (evbuffer_get_length(link) >= KH_WIRE_HDR) {
		struct msg_hdr h;
		uint8_t *p = evbuffer_pullup(link, KH_WIRE_HDR);
		if (p == NULL || msg_hdr_decode(p, &h) != 0 ||
		    evbuffer_get_length(link) < KH_WIRE_HDR + (size_t)h.length)
			abort();
		p = evbuffer_pullup(link, KH_WIRE_HDR + (ssize_t)h.length);
		if (h.type == MSG_REQUEST) {
			struct msg_reader rd;
			struct req_checked ck;
			const char *why = NULL;
			msg_reader_init(&rd, p + KH_WIRE_HDR, h.length);
			if (request_check(&fz.parent, N.cfg.max_body, 0, &rd, &ck,
			    &why) != 0) {
				fprintf(stderr, "parent refuses: %s\n", why);
				abort();
			}
			if (n < cap)
				ids[n] = h.id;
			n++;
		}
		evbuffer_drain(link, KH_WIRE_HDR + h.length);
	}
	evbuffer_free(link);
	return n;
}

/* The parent's answer to id: 200, content-type, a small body. */
static void
fuzz_answer(uint64_t id)
{
	struct wbuf w;
	struct evbuffer *in = evbuffer_new();
	const char *why = NULL;

	if (in == NULL)
		abort();
	wbuf_init(&w);
	msg_begin(&w, MSG_RESPONSE, id);
	msg_put_u16(&w, 200);
	msg_put_u16(&w, 1);
	msg_put_cstr(&w, "content-type");
	msg_put_cstr(&w, "application/json");
	msg_put_blob(&w, (const uint8_t *)"{\"ok\":true}", 11);
	if (msg_finish(&w) != 0)
		abort();
	evbuffer_add(in, w.buf, w.len);
	wbuf_free(&w);
	if (link_feed(&N, in, &why) != 0)
		abort();		/* our own answer, to a pending id */
	evbuffer_free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[] = { 0, 1, 9, 100 };
	static const uint8_t preface[] =
	    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
	struct h2 *h;
	uint64_t ids[64];
	uint8_t cfg;
	bool dead = false;

	if (!fz.ready)
		fuzz_init();
	if (size < 1)
		return 0;
	cfg = data[0];
	data++;
	size--;
	memset(&N, 0, sizeof(N));
	N.base = fz.base;
	N.parent = fz.pair[0];
	N.policy = fz.child;
	N.serving = true;
	N.cfg.max_body = 4096;
	N.cfg.max_inflight = 8;
	N.cfg.max_headers = 32;
	N.cfg.h2_max_streams = 4;
	N.cfg.body_timeout_ms = 30000;
	N.cfg.write_timeout_ms = 30000;
	memcpy(N.cfg.token, fuzz_token, sizeof(fuzz_token));
	N.cfg.token_len = sizeof(fuzz_token) - 1;
	N.max_body = policy_body_limit_any(&N.policy, N.cfg.max_body);
	if (budget_init(&N.budget, &N.policy, 0, (uint64_t)util_now_ms()) != 0)
		abort();
	fz_left = false;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->out = evbuffer_new()) == NULL)
		abort();
	h->net = &N;
	N.h2 = h;
	h->started_ms = h->window_ms = util_now_ms();
	if (h2_session_new(h) != 0)
		abort();
	h->state = H2_SESSION;
	if (cfg & 1)
		(void)h2_session_feed(h, preface, sizeof(preface) - 1);
	size_t step = pieces[(cfg >> 1) & 3];
	if (step == 0)
		step = size ? size : 1;
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		if ((cfg & 16) && off >= size / 2 && !h->goaway)
			h2_shutdown(&N);
		int rv = h2_session_feed(h, data + off, n);
		size_t got = fuzz_check_link(ids, 64);
		if (dead && got != 0)
			abort();	/* forwarded after the session ended */
		if (rv < 0 || h->state == H2_DEAD) {
			if (!fz_left || h->state != H2_DEAD)
				abort();
			dead = true;
		}
		if ((cfg & 8) && !dead)
			for (size_t i = 0; i < got && i < 64; i++)
				fuzz_answer(ids[i]);
		if (h->mem_used > KH_H2_SESSION_MEM_MAX)
			abort();
		evbuffer_drain(h->out, evbuffer_get_length(h->out));
	}
	/* Teardown: streams, the session, what waits for the parent. */
	h2_stream_free_all(h);
	nghttp2_session_del(h->s);
	evbuffer_free(h->out);
	free(h);
	while (N.pending != NULL) {
		struct pending *p = N.pending;
		N.pending = p->next;
		free(p);
	}
	(void)fuzz_check_link(ids, 0);
	budget_free(&N.budget);
	return 0;
}
