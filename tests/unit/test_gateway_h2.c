/*
 * keyhole-gateway's HTTP/2 client session (src/parse/gateway_h2.c)
 * against an nghttp2 server session in this process that plays the host,
 * byte for byte through memory:
 *
 *  - request_shape: the pseudo-headers, authorization and forwarded
 *    fields exactly as Paperclip's gateway sends them, no content-length,
 *    the body as DATA; an empty query is no "?"; client SETTINGS: no
 *    push, no host streams, a bounded header list;
 *  - answers: status, fields (content-length dropped), body; 1xx skipped;
 *    trailers ignored; x-paperclip-bridge-outcome: indeterminate → 409;
 *  - refusals: a status outside 200..599, a field value with obs-text
 *    (nghttp2 lets it through; controls it refuses itself), 33 fields, a header list over the limit, a
 *    body over max_body: the request fails with its reason and the host
 *    sees RST_STREAM(CANCEL);
 *  - endings: RST_STREAM → RESET (sent), REFUSED_STREAM → REFUSED, GOAWAY
 *    below a stream → REFUSED, requests after GOAWAY refused at submit,
 *    the session over once the host's streams are done; cancel → no
 *    callback and RST_STREAM(CANCEL); free with streams open → SESSION
 *    (sent) or REFUSED (never sent); garbage from the host → over;
 *  - every request ends in exactly one callback (counted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "gateway_h2.h"
#include "kh_test.h"

#define MAXS 64

/* What the host side saw of one stream. */
struct hstream {
	int32_t id;
	char hdr[2048];		/* "name: value\n"... in order */
	size_t hlen;
	uint8_t body[65536];
	size_t blen;
	bool complete;		/* END_STREAM received */
	bool closed;
	uint32_t close_error;
	bool got_rst;
	uint32_t rst_error;
};

struct host {
	nghttp2_session *srv;
	struct hstream st[MAXS];
	size_t n;
	char settings[256];	/* the client's SETTINGS, "id=value " */
	bool got_goaway;
	uint32_t goaway_error;
};

/* What the gateway side reported of one request. */
struct result {
	int calls;
	bool answered;
	int status;
	bool indeterminate;
	char hdr[2048];
	uint8_t body[1 << 17];
	size_t blen;
	enum gh2_fail why;
	bool sent;
};

static struct host H;
static struct gh2 *C;
static int goaways;

static struct hstream *
hs(int32_t id)
{
	for (size_t i = 0; i < H.n; i++)
		if (H.st[i].id == id)
			return &H.st[i];
	if (H.n == MAXS)
		abort();
	memset(&H.st[H.n], 0, sizeof(H.st[0]));
	H.st[H.n].id = id;
	return &H.st[H.n++];
}

static int
h_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n,
    size_t nl, const uint8_t *v, size_t vl, uint8_t fl, void *u)
{
	struct hstream *x = hs(f->hd.stream_id);
	(void)s; (void)fl; (void)u;
	x->hlen += (size_t)snprintf(x->hdr + x->hlen, sizeof(x->hdr) - x->hlen,
	    "%.*s: %.*s\n", (int)nl, n, (int)vl, v);
	return 0;
}

static int
h_on_data(nghttp2_session *s, uint8_t fl, int32_t id, const uint8_t *d,
    size_t len, void *u)
{
	struct hstream *x = hs(id);
	(void)s; (void)fl; (void)u;
	if (x->blen + len <= sizeof(x->body))
		memcpy(x->body + x->blen, d, len);
	x->blen += len;
	return 0;
}

static int
h_on_frame(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
	(void)s; (void)u;
	if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK)) {
		size_t off = strlen(H.settings);
		for (size_t i = 0; i < f->settings.niv; i++)
			off += (size_t)snprintf(H.settings + off,
			    sizeof(H.settings) - off, "%d=%u ",
			    f->settings.iv[i].settings_id,
			    f->settings.iv[i].value);
	}
	if (f->hd.type == NGHTTP2_RST_STREAM) {
		hs(f->hd.stream_id)->got_rst = true;
		hs(f->hd.stream_id)->rst_error = f->rst_stream.error_code;
	}
	if (f->hd.type == NGHTTP2_GOAWAY) {
		H.got_goaway = true;
		H.goaway_error = f->goaway.error_code;
	}
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		hs(f->hd.stream_id)->complete = true;
	return 0;
}

static int
h_on_close(nghttp2_session *s, int32_t id, uint32_t err, void *u)
{
	(void)s; (void)u;
	hs(id)->closed = true;
	hs(id)->close_error = err;
	return 0;
}

static void
host_new(uint32_t max_streams)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};

	memset(&H, 0, sizeof(H));
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, h_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h_on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h_on_close);
	/* a host that sends header lists over the gateway's limit */
	nghttp2_option_new(&opt);
	nghttp2_option_set_max_send_header_block_length(opt, 256 * 1024);
	nghttp2_session_server_new2(&H.srv, cb, NULL, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(H.srv, NGHTTP2_FLAG_NONE, iv, 2);
}

/* Move bytes both ways until neither side has anything to say. */
static int
pump(void)
{
	int crc = 0;

	for (int round = 0; round < 1000; round++) {
		bool moved = false;
		const uint8_t *p;
		long n;
		while (C != NULL && (n = gh2_send(C, &p)) > 0) {
			moved = true;
			if (nghttp2_session_mem_recv(H.srv, p, (size_t)n) < 0)
				return -2;
		}
		ssize_t m;
		while ((m = nghttp2_session_mem_send(H.srv, &p)) > 0) {
			moved = true;
			if (C != NULL && gh2_recv(C, p, (size_t)m) < 0)
				crc = -1;
		}
		if (!moved)
			break;
	}
	return crc;
}

static void
r_answer(void *ctx, const struct gh2_answer *a)
{
	struct result *r = ctx;
	size_t off = 0;

	r->calls++;
	r->answered = true;
	r->status = a->status;
	r->indeterminate = a->indeterminate;
	for (size_t i = 0; i < a->nh; i++)
		off += (size_t)snprintf(r->hdr + off, sizeof(r->hdr) - off,
		    "%s: %.*s\n", a->names[i], (int)a->vlens[i], a->values[i]);
	if (a->blen > 0)
		memcpy(r->body, a->body, a->blen);
	r->blen = a->blen;
}

static void
r_fail(void *ctx, enum gh2_fail why, bool sent)
{
	struct result *r = ctx;

	r->calls++;
	r->why = why;
	r->sent = sent;
}

static void
r_goaway(void *arg, uint32_t code, int32_t last)
{
	(void)arg; (void)code; (void)last;
	goaways++;
}

static void
start(uint32_t max_streams, uint64_t max_body)
{
	const struct gh2_limits lim = { max_body };
	const struct gh2_callbacks cb = { r_answer, r_fail, r_goaway };

	host_new(max_streams);
	C = gh2_new(&lim, &cb, NULL);
	goaways = 0;
	pump();
}

static void
stop(void)
{
	gh2_free(C);
	C = NULL;
	nghttp2_session_del(H.srv);
}

static const char TOKEN[] = "tok-0123456789abcdef0123456789ab";

static int32_t
submit(const char *method, const char *path, const char *query,
    const char *body, struct result *r)
{
	static const char *const names[] = { "accept", "content-type" };
	static const char *const values[] = { "application/json",
	    "application/json" };
	static const size_t vlens[] = { 16, 16 };
	struct gh2_request rq;

	memset(r, 0, sizeof(*r));
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.path = path;
	rq.path_len = strlen(path);
	rq.query = query;
	rq.query_len = strlen(query);
	rq.token = TOKEN;
	rq.token_len = sizeof(TOKEN) - 1;
	rq.names = names;
	rq.values = values;
	rq.vlens = vlens;
	rq.nh = body != NULL ? 2 : 1;
	if (body != NULL) {
		rq.blen = strlen(body);
		rq.body = malloc(rq.blen);
		memcpy(rq.body, body, rq.blen);
	}
	return gh2_submit(C, &rq, r);
}

/* The host answers stream id: status, n fields, a body (may be NULL). */
static const uint8_t *reply_body;
static size_t reply_len, reply_off;

static ssize_t
reply_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *u)
{
	size_t n = reply_len - reply_off;
	(void)s; (void)id; (void)src; (void)u;
	if (n > len)
		n = len;
	memcpy(buf, reply_body + reply_off, n);
	reply_off += n;
	if (reply_off == reply_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), \
	NGHTTP2_NV_FLAG_NONE }

static void
reply(int32_t id, const nghttp2_nv *nv, size_t n, const void *body, size_t blen)
{
	nghttp2_data_provider prd = { .read_callback = reply_read };

	reply_body = body;
	reply_len = blen;
	reply_off = 0;
	nghttp2_submit_response(H.srv, id, nv, n, body != NULL ? &prd : NULL);
	pump();
}

static void
request_shape(void)
{
	struct result r1, r2;

	start(4, 1024);
	CHECK(strstr(H.settings, "2=0 ") != NULL);	/* ENABLE_PUSH 0 */
	CHECK(strstr(H.settings, "3=0 ") != NULL);	/* no host streams */
	CHECK(strstr(H.settings, "6=65536 ") != NULL);	/* header list */
	int32_t a = submit("POST", "/api/issues/i-1/comments", "x=1",
	    "{\"body\":\"hi\"}", &r1);
	int32_t b = submit("GET", "/api/agents/me", "", NULL, &r2);
	CHECK(a > 0 && b > a);
	pump();
	CHECK_EQ_STR(hs(a)->hdr, ":method: POST\n:scheme: http\n"
	    ":authority: bridge.internal:80\n:path: /api/issues/i-1/comments?x=1\n"
	    "authorization: Bearer tok-0123456789abcdef0123456789ab\n"
	    "accept: application/json\ncontent-type: application/json\n");
	CHECK(hs(a)->complete);
	CHECK_EQ_INT(hs(a)->blen, 13);
	CHECK(memcmp(hs(a)->body, "{\"body\":\"hi\"}", 13) == 0);
	CHECK_EQ_STR(hs(b)->hdr, ":method: GET\n:scheme: http\n"
	    ":authority: bridge.internal:80\n:path: /api/agents/me\n"
	    "authorization: Bearer tok-0123456789abcdef0123456789ab\n"
	    "accept: application/json\n");
	CHECK(hs(b)->complete && hs(b)->blen == 0);
	CHECK_EQ_INT(gh2_open(C), 2);
	stop();
	/* freed with both open and sent: SESSION, sent */
	CHECK_EQ_INT(r1.calls, 1);
	CHECK_EQ_INT(r1.why, GH2_SESSION);
	CHECK(r1.sent);
	CHECK_EQ_INT(r2.calls, 1);
}

static void
answers(void)
{
	struct result r;
	nghttp2_nv ok[] = { NV(":status", "201"), NV("content-type",
	    "application/json"), NV("content-length", "7"), NV("etag", "\"v1\"") };
	nghttp2_nv info[] = { NV(":status", "103"), NV("link", "</x>") };
	nghttp2_nv ind[] = { NV(":status", "504"), NV("content-type",
	    "application/json"), NV("x-paperclip-bridge-outcome",
	    "indeterminate") };

	start(4, 1024);
	int32_t id = submit("POST", "/api/issues/i-1/comments", "", "{}", &r);
	pump();
	/* a 1xx first: skipped, its fields with it */
	nghttp2_submit_headers(H.srv, NGHTTP2_FLAG_NONE, id, NULL, info, 2, NULL);
	reply(id, ok, 4, "{\"a\":1}", 7);
	CHECK_EQ_INT(r.calls, 1);
	CHECK(r.answered);
	CHECK_EQ_INT(r.status, 201);
	CHECK_EQ_STR(r.hdr, "content-type: application/json\netag: \"v1\"\n");
	CHECK_EQ_INT(r.blen, 7);
	CHECK(memcmp(r.body, "{\"a\":1}", 7) == 0);

	id = submit("PATCH", "/api/issues/i-1", "", "{}", &r);
	pump();
	reply(id, ind, 3, "{}", 2);
	CHECK_EQ_INT(r.status, 409);
	CHECK(r.indeterminate);
	CHECK(strstr(r.hdr, "x-paperclip-bridge-outcome: indeterminate\n") != NULL);

	/* trailers: ignored, the answer stands */
	id = submit("GET", "/api/agents/me", "", NULL, &r);
	pump();
	nghttp2_nv st200[] = { NV(":status", "200") };
	nghttp2_nv trl[] = { NV("x-trailer", "1") };
	nghttp2_submit_headers(H.srv, NGHTTP2_FLAG_NONE, id, NULL, st200, 1, NULL);
	nghttp2_submit_trailer(H.srv, id, trl, 1);
	pump();
	CHECK_EQ_INT(r.calls, 1);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.hdr, "");
	CHECK_EQ_INT(gh2_open(C), 0);
	stop();
}

/* One answer the gateway must refuse: the request fails with why and the
 * host sees its stream reset with CANCEL. */
static void
refused(const char *what, const nghttp2_nv *nv, size_t n, size_t blen,
    enum gh2_fail why)
{
	static uint8_t big[40000];
	struct result r;

	start(4, 1024);
	int32_t id = submit("POST", "/api/issues/i-1/comments", "", "{}", &r);
	pump();
	reply(id, nv, n, blen ? big : NULL, blen);
	if (r.calls != 1 || r.answered || r.why != why || !r.sent ||
	    !hs(id)->got_rst || hs(id)->rst_error != NGHTTP2_CANCEL)
		fprintf(stderr, "refused: %s\n", what);
	CHECK_EQ_INT(r.calls, 1);
	CHECK(!r.answered);
	CHECK_EQ_INT(r.why, why);
	CHECK(r.sent);
	CHECK(hs(id)->got_rst && hs(id)->rst_error == NGHTTP2_CANCEL);
	stop();
}

static void
refusals(void)
{
	static char longv[8000];
	nghttp2_nv s600[] = { NV(":status", "600") };
	nghttp2_nv obs[] = { NV(":status", "200"), NV("x-a", "caf\xc3\xa9") };
	nghttp2_nv ok[] = { NV(":status", "200") };
	nghttp2_nv many[34];
	nghttp2_nv list[12];
	char names[34][8];

	refused("status 600", s600, 1, 0, GH2_BAD_STATUS);
	refused("obs-text value", obs, 2, 0, GH2_BAD_HEADER);
	many[0] = (nghttp2_nv)NV(":status", "200");
	for (int i = 0; i < 33; i++) {
		snprintf(names[i], sizeof(names[i]), "x-%d", i);
		many[i + 1] = (nghttp2_nv)NV(names[i], "v");
	}
	refused("33 fields", many, 34, 0, GH2_BAD_HEADER);
	memset(longv, 'a', sizeof(longv) - 1);
	list[0] = (nghttp2_nv)NV(":status", "200");
	for (int i = 0; i < 11; i++) {
		snprintf(names[i], sizeof(names[i]), "x-%d", i);
		list[i + 1] = (nghttp2_nv)NV(names[i], longv);
	}
	/* 9 fields of 8 KiB: under 33 fields, over the 64 KiB list */
	refused("header list over 64 KiB", list, 10, 0, GH2_BAD_HEADER);
	refused("body over max_body", ok, 1, 1025, GH2_TOO_LARGE);
}

static void
endings(void)
{
	struct result r1, r2, r3;

	/* RST_STREAM from the host: RESET, sent; REFUSED_STREAM: REFUSED */
	start(4, 1024);
	int32_t a = submit("POST", "/api/x", "", "{}", &r1);
	int32_t b = submit("POST", "/api/y", "", "{}", &r2);
	pump();
	nghttp2_submit_rst_stream(H.srv, NGHTTP2_FLAG_NONE, a, NGHTTP2_INTERNAL_ERROR);
	nghttp2_submit_rst_stream(H.srv, NGHTTP2_FLAG_NONE, b, NGHTTP2_REFUSED_STREAM);
	pump();
	CHECK(r1.calls == 1 && r1.why == GH2_RESET && r1.sent);
	CHECK(r2.calls == 1 && r2.why == GH2_REFUSED);
	stop();

	/* cancel: no callback, the host sees CANCEL */
	start(4, 1024);
	a = submit("GET", "/api/x", "", NULL, &r1);
	pump();
	CHECK(gh2_cancel(C, a));
	pump();
	CHECK_EQ_INT(r1.calls, 0);
	CHECK(hs(a)->got_rst && hs(a)->rst_error == NGHTTP2_CANCEL);
	stop();
	CHECK_EQ_INT(r1.calls, 0);

	/* one stream at a time: the second waits unsent; cancelling it
	 * while queued sends nothing */
	start(1, 1024);
	a = submit("GET", "/api/x", "", NULL, &r1);
	b = submit("GET", "/api/y", "", NULL, &r2);
	pump();
	CHECK(hs(a)->complete);
	CHECK(!hs(b)->complete);
	CHECK(!gh2_cancel(C, b));
	nghttp2_nv ok[] = { NV(":status", "200") };
	reply(a, ok, 1, NULL, 0);
	pump();
	CHECK_EQ_INT(r1.status, 200);
	CHECK_EQ_INT(r2.calls, 0);
	CHECK(!hs(b)->complete && hs(b)->hlen == 0);
	stop();

	/* GOAWAY(last = a): a still answered, b refused, nothing new taken,
	 * the session over once a is done */
	start(4, 1024);
	a = submit("POST", "/api/x", "", "{}", &r1);
	b = submit("POST", "/api/y", "", "{}", &r2);
	pump();
	nghttp2_submit_goaway(H.srv, NGHTTP2_FLAG_NONE, a, NGHTTP2_NO_ERROR,
	    NULL, 0);
	pump();
	CHECK_EQ_INT(goaways, 1);
	CHECK(r2.calls == 1 && r2.why == GH2_REFUSED);
	CHECK(submit("GET", "/api/z", "", NULL, &r3) < 0);
	CHECK_EQ_INT(r3.calls, 0);
	CHECK(!gh2_over(C));
	reply(a, ok, 1, NULL, 0);
	CHECK_EQ_INT(r1.status, 200);
	CHECK(gh2_over(C));
	stop();

	/* freed with one sent and one never sent (max 1 stream) */
	start(1, 1024);
	a = submit("POST", "/api/x", "", "{}", &r1);
	b = submit("POST", "/api/y", "", "{}", &r2);
	pump();
	stop();
	CHECK(r1.calls == 1 && r1.why == GH2_SESSION && r1.sent);
	CHECK(r2.calls == 1 && r2.why == GH2_REFUSED && !r2.sent);

	/* garbage from the host: over, open requests failed at free */
	start(4, 1024);
	a = submit("GET", "/api/x", "", NULL, &r1);
	pump();
	static const uint8_t junk[] = "HTTP/1.1 200 OK\r\n\r\n";
	int rc = gh2_recv(C, junk, sizeof(junk) - 1);
	const uint8_t *p;
	while (gh2_send(C, &p) > 0)
		;
	CHECK(rc < 0 || gh2_over(C));
	CHECK(rc < 0 ? *gh2_reason(C) != '\0' : true);
	stop();
	CHECK(r1.calls == 1 && r1.why == GH2_SESSION);
}

int
main(void)
{
	request_shape();
	answers();
	refusals();
	endings();
	TEST_DONE();
}
