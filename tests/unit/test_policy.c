/*
 * Route policy: the compiler (child), the binary table and its decoder
 * (parent), and the matcher both use -- the v1 subset (literal and '*'
 * patterns, header allowlists, max-body).  The v2 additions are in
 * test_policy_v2.c.  Each test is named after the property it guards.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kh_test.h"
#include "policy_compile.h"
#include "policy_table.h"
#include "wire.h"

/* A copy of policy/paperclip-minimal.policy's directives (the reference
 * bridge's routes); the shipped file is also compiled when it can be
 * found and must print the same table. */
static const char paperclip_text[] =
    "# Paperclip agent surface\n"
    "max-body 1m\n"
    "request-header accept\n"
    "request-header content-type\n"
    "request-header if-match\n"
    "request-header if-none-match\n"
    "response-header content-type\n"
    "response-header etag\n"
    "response-header last-modified\n"
    "allow GET    /api/agents/me\n"
    "allow GET    /api/issues/*/heartbeat-context\n"
    "allow GET    /api/issues/*/comments\n"
    "allow GET    /api/issues/*/comments/*\n"
    "allow GET    /api/issues/*/documents\n"
    "allow GET    /api/issues/*/documents/*\n"
    "allow POST   /api/issues/*/checkout\n"
    "allow POST   /api/issues/*/comments\n"
    "allow POST   /api/issues/*/interactions\n"
    "allow POST   /api/issues/*/interactions/*\n"
    "allow PATCH  /api/issues/*\n";

struct diags {
	int n;
	int nwarn;
	char all[16384];
	char first[2048];
};

static void
diag_collect(void *arg, bool warning, const char *msg)
{
	struct diags *d = arg;
	if (warning) {
		d->nwarn++;
		size_t l = strlen(d->all);
		snprintf(d->all + l, sizeof(d->all) - l, "%s\n", msg);
		return;
	}
	if (d->n++ == 0)
		snprintf(d->first, sizeof(d->first), "%s", msg);
	size_t l = strlen(d->all);
	snprintf(d->all + l, sizeof(d->all) - l, "%s\n", msg);
}

static int
compile_text(const char *text, struct policy *p, struct diags *d)
{
	memset(d, 0, sizeof(*d));
	return policy_compile("t.policy", (const uint8_t *)text, strlen(text),
	    NULL, 0, p, diag_collect, d);
}

static char *
print_policy(const struct policy *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	policy_print(f, p);
	fclose(f);
	return buf;
}

static int
match(const struct policy *p, const char *m, const char *path)
{
	return policy_match(p, m, path, strlen(path));
}

static void
paperclip_routes_are_allowed(void)
{
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_text(paperclip_text, &p, &d), 0);
	CHECK_EQ_INT(p.nrules, 11);
	CHECK_EQ_INT(p.max_body, 1024 * 1024);
	CHECK_EQ_INT(match(&p, "GET", "/api/agents/me"), 0);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/ISS-1/heartbeat-context"), 1);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/ISS-1/comments"), 2);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/ISS-1/comments/c9"), 3);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/ISS-1/documents"), 4);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/ISS-1/documents/plan"), 5);
	CHECK_EQ_INT(match(&p, "POST", "/api/issues/ISS-1/checkout"), 6);
	CHECK_EQ_INT(match(&p, "POST", "/api/issues/ISS-1/comments"), 7);
	CHECK_EQ_INT(match(&p, "POST", "/api/issues/ISS-1/interactions"), 8);
	CHECK_EQ_INT(match(&p, "POST", "/api/issues/1/interactions/i-2"), 9);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/issue-1"), 10);
	CHECK_EQ_INT(match(&p, "PATCH",
	    "/api/issues/5d7e9c1a-0000-4000-8000-00000000000a"), 10);
	CHECK(policy_req_header_allowed(&p, "Content-Type", 12));
	CHECK(policy_req_header_allowed(&p, "if-none-match", 13));
	CHECK(!policy_req_header_allowed(&p, "authorization", 13));
	CHECK(!policy_req_header_allowed(&p, "x-other", 7));
	CHECK(policy_resp_header_allowed(&p, "ETag", 4));
	CHECK(!policy_resp_header_allowed(&p, "set-cookie", 10));
	policy_free(&p);
}

static void
near_misses_are_denied(void)
{
	static const char *const miss[][2] = {
		{ "GET", "/api/issues/1/comments/" },	/* trailing slash */
		{ "GET", "/api/agents/me/x" },
		{ "GET", "/api/agents/me/" },
		{ "GET", "/api/agents" },
		{ "GET", "/api/agents/you" },
		{ "DELETE", "/api/issues/1" },
		{ "POST", "/api/issues/1" },
		{ "PUT", "/api/issues/1" },
		{ "get", "/api/agents/me" },		/* methods are exact */
		{ "HEAD", "/api/agents/me" },
		{ "GET", "/api/issues//comments" },	/* '*' is non-empty */
		{ "PATCH", "/api/issues/" },
		{ "PATCH", "/api/issues/.." },		/* never a dot segment */
		{ "PATCH", "/api/issues/..;x" },
		{ "POST", "/api/issues/1/interactions/2/accept" },
		{ "POST", "/api/issues/1/release" },
		{ "GET", "/api/issues/1/comments/2/3" },
		{ "GET", "/API/agents/me" },
		{ "GET", "/" },
		{ "GET", "" },
		{ "GET", "api/agents/me" },
	};
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_text(paperclip_text, &p, &d), 0);
	for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++) {
		int r = match(&p, miss[i][0], miss[i][1]);
		if (r != -1)
			fprintf(stderr, "allowed: %s %s\n", miss[i][0],
			    miss[i][1]);
		CHECK_EQ_INT(r, -1);
	}
	policy_free(&p);
}

static void
shipped_policy_compiles_to_the_embedded_copy(void)
{
	const char *src = getenv("KEYHOLE_SRC");
	const char *cands[] = { NULL, "policy/paperclip-minimal.policy",
	    "../policy/paperclip-minimal.policy",
	    "../../policy/paperclip-minimal.policy" };
	char path[4096];
	FILE *f = NULL;

	if (src != NULL) {
		snprintf(path, sizeof(path), "%s/policy/paperclip-minimal.policy",
		    src);
		f = fopen(path, "r");
		CHECK(f != NULL);	/* KEYHOLE_SRC set: the file must exist */
	}
	for (size_t i = 1; f == NULL && i < 4; i++) {
		snprintf(path, sizeof(path), "%s", cands[i]);
		f = fopen(path, "r");
	}
	if (f == NULL) {
		printf("note: policy/paperclip-minimal.policy not found; set "
		    "KEYHOLE_SRC\n");
		return;
	}
	static uint8_t buf[KH_POLICY_TEXT_MAX + 1];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	struct policy shipped, embedded;
	struct diags d;
	memset(&d, 0, sizeof(d));
	CHECK_EQ_INT(policy_compile(path, buf, n, NULL, 0, &shipped,
	    diag_collect, &d), 0);
	if (d.n)
		fprintf(stderr, "%s", d.all);
	CHECK_EQ_INT(compile_text(paperclip_text, &embedded, &d), 0);
	char *a = print_policy(&shipped), *b = print_policy(&embedded);
	CHECK_EQ_STR(a, b);
	free(a);
	free(b);
	policy_free(&shipped);
	policy_free(&embedded);
}

static void
match_semantics_are_segmentwise_first_wins(void)
{
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_text("allow GET /\n"
	    "allow GET /a/*\n"
	    "allow GET /a/b\n"
	    "allow POST /a/b\n"
	    "allow GET /x/a*b\n", &p, &d), 1);	/* '*' inside: error */
	policy_free(&p);
	CHECK_EQ_INT(compile_text("allow GET /\n"
	    "allow GET /a/*\n"
	    "allow GET /a/b\n"
	    "allow POST /a/b\n"
	    "allow GET /p/%25/:@!$&'()+,;=\n", &p, &d), 0);
	CHECK_EQ_INT(match(&p, "GET", "/"), 0);
	CHECK_EQ_INT(match(&p, "POST", "/"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/a/b"), 1);	/* first match wins */
	CHECK_EQ_INT(match(&p, "POST", "/a/b"), 3);
	CHECK_EQ_INT(match(&p, "GET", "/a"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/a/"), -1);
	CHECK_EQ_INT(match(&p, "GET", "//"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/p/%25/:@!$&'()+,;="), 4);
	CHECK_EQ_INT(match(&p, "GET", "/p/%25/:@!$&'()+,;"), -1);
	/* pathlen, not NUL, bounds the path */
	CHECK_EQ_INT(policy_match(&p, "GET", "/a/bc", 4), 1);
	char deep[200] = "";
	for (int i = 0; i < 33; i++)
		strcat(deep, "/a");
	CHECK_EQ_INT(match(&p, "GET", deep), -1);
	policy_free(&p);
}

static void
forbidden_headers_are_refused_in_any_case(void)
{
	static const char *const bad[] = { "authorization", "Proxy-Authorization",
	    "HOST", "cookie", "set-cookie", "accept-encoding", "content-length",
	    "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
	    "trailer", "expect", "proxy-connection", "X-Paperclip-Run-Id",
	    "forwarded", "x-forwarded-for", "x-forwarded-host",
	    "x-forwarded-proto", "x-real-ip", "content-encoding" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(policy_header_forbidden(bad[i], strlen(bad[i])));
	CHECK(!policy_header_forbidden("accept", 6));
	CHECK(!policy_header_forbidden("te2", 3));
	CHECK(!policy_header_forbidden("t", 1));
	CHECK(policy_method_valid("OPTIONS", 7));
	CHECK(!policy_method_valid("GETX", 4));
	CHECK(!policy_method_valid("GE", 2));
	CHECK(!policy_method_valid("CONNECT", 7));
	CHECK(!policy_method_valid("TRACE", 5));
}

/* ---- the parent's decoder ---- */

static int
decode_bytes(const uint8_t *b, size_t n, struct policy *p, char *err)
{
	struct msg_reader r;
	msg_reader_init(&r, b, n);
	return policy_decode(&r, NULL, p, err, 128);
}

static void
encode(const struct policy *p, struct wbuf *w)
{
	wbuf_init(w);
	msg_begin(w, MSG_POLICY, 0);
	policy_encode(p, w);
	CHECK_EQ_INT(msg_finish(w), 0);
}

static void
encode_decode_round_trip_is_equal(void)
{
	struct policy p, q;
	struct diags d;
	struct wbuf w;
	char err[128];

	CHECK_EQ_INT(compile_text(paperclip_text, &p, &d), 0);
	encode(&p, &w);
	CHECK_EQ_INT(decode_bytes(w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR, &q,
	    err), 0);
	CHECK(policy_equal(&p, &q));
	q.rules[3].line++;
	CHECK(!policy_equal(&p, &q));
	q.rules[3].line--;
	q.resp_hdrs[1][0] = 'x';
	CHECK(!policy_equal(&p, &q));
	policy_free(&q);

	/* Cut short at every byte offset, and one byte too many. */
	size_t n = w.len - KH_WIRE_HDR;
	for (size_t i = 0; i < n; i++) {
		int rc = decode_bytes(w.buf + KH_WIRE_HDR, i, &q, err);
		CHECK_EQ_INT(rc, -1);
		CHECK(q.rules == NULL && q.nrules == 0);
	}
	msg_put_u8(&w, 0);
	CHECK_EQ_INT(decode_bytes(w.buf + KH_WIRE_HDR, n + 1, &q, err), -1);
	CHECK_EQ_STR(err, "policy: trailing bytes");
	CHECK(q.rules == NULL);
	wbuf_free(&w);
	policy_free(&p);
}

/* A one-rule table for hostile variants: GET /<lit> then stars, max_body, one
 * header in each direction. */
struct hostile {
	uint64_t max_body;
	uint16_t nrules;
	const char *method;
	uint16_t nsegs;
	uint8_t kind;
	const char *lit;
	size_t litlen;
	uint16_t nreq;
	const char *req[2];
	const char *resp;
};

static int
decode_hostile(const struct hostile *h, char *err)
{
	struct wbuf w;
	struct policy p;

	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	msg_put_u64(&w, h->max_body);
	msg_put_u32(&w, 0);		/* max_mutations */
	msg_put_u16(&w, h->nrules);
	for (size_t i = 0; i < (h->nrules ? 1u : 0u); i++) {
		msg_put_cstr(&w, h->method);
		msg_put_u32(&w, 7);
		msg_put_u16(&w, h->nsegs);
		for (size_t j = 0; j < h->nsegs; j++) {
			msg_put_u8(&w, j == 0 ? h->kind : SEG_STAR);
			if (j == 0) {
				/* raw bytes: the wire helper refuses NUL */
				msg_put_u32(&w, (uint32_t)h->litlen);
				for (size_t k = 0; k < h->litlen; k++)
					msg_put_u8(&w, (uint8_t)h->lit[k]);
			} else {
				msg_put_str(&w, "", 0);
			}
		}
		msg_put_u8(&w, 0);		/* flags */
		msg_put_u64(&w, 0);		/* rule max_body */
		msg_put_u16(&w, 0);		/* keys */
		msg_put_u16(&w, 0);		/* content types */
		msg_put_u16(&w, 0);		/* rule headers */
		msg_put_u32(&w, 0);		/* rate */
		msg_put_u32(&w, 0);
	}
	msg_put_u16(&w, h->nreq);
	for (size_t i = 0; i < h->nreq; i++) {
		char gen[16];
		snprintf(gen, sizeof(gen), "x-h%zu", i);
		msg_put_cstr(&w, i < 2 && h->req[i] ? h->req[i] : gen);
	}
	msg_put_u16(&w, 1);
	msg_put_cstr(&w, h->resp);
	msg_finish(&w);
	int rc = decode_bytes(w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR, &p, err);
	if (rc == 0)
		CHECK(p.nrules == 1 && p.rules != NULL);
	else
		CHECK(p.rules == NULL && p.nrules == 0 && err[0] != '\0');
	policy_free(&p);
	wbuf_free(&w);
	return rc;
}

static void
decode_rejects_hostile_tables(void)
{
	const struct hostile ok = { 1024, 1, "GET", 2, SEG_LIT, "api", 3, 1,
	    { "accept", NULL }, "etag" };
	struct hostile h;
	char err[128];

	CHECK_EQ_INT(decode_hostile(&ok, err), 0);
	h = ok; h.nrules = 0;
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
	h = ok; h.nrules = KH_POLICY_RULES_MAX + 1;
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
	h = ok; h.nrules = 2;		/* claims more rules than it holds */
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
	h = ok; h.nsegs = KH_POLICY_SEGS_MAX + 1;
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
	h = ok; h.nsegs = KH_POLICY_SEGS_MAX;
	CHECK_EQ_INT(decode_hostile(&h, err), 0);
	h = ok; h.kind = 0;
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
	h = ok; h.kind = 5;
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
	h = ok; h.kind = SEG_GLOB;	/* '**' carries no text either */
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
	h = ok; h.kind = SEG_STAR;	/* a star carries no literal */
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
	h = ok; h.kind = SEG_STAR; h.lit = ""; h.litlen = 0;
	CHECK_EQ_INT(decode_hostile(&h, err), 0);
	h = ok; h.max_body = KH_BODY_MAX;
	CHECK_EQ_INT(decode_hostile(&h, err), 0);
	h = ok; h.max_body = KH_BODY_MAX + 1;
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
	h = ok; h.max_body = UINT64_MAX;
	CHECK_EQ_INT(decode_hostile(&h, err), -1);

	static const char *const methods[] = { "get", "FETCH", "CONNECT",
	    "TRACE", "", "GET ", "GETGETGETGETGETGET" };
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		h = ok; h.method = methods[i];
		CHECK_EQ_INT(decode_hostile(&h, err), -1);
	}

	static const char *const hdrs[] = { "authorization", "Accept",
	    "x forwarded", "x:y", "", "host", "x-paperclip-run-id",
	    "x-real-ip",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		h = ok; h.req[0] = hdrs[i];
		CHECK_EQ_INT(decode_hostile(&h, err), -1);
		h = ok; h.resp = hdrs[i];
		CHECK_EQ_INT(decode_hostile(&h, err), -1);
	}
	h = ok; h.nreq = 2; h.req[1] = "accept";
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
	CHECK_EQ_STR(err, "policy: request headers: duplicate name");
	h = ok; h.nreq = 2; h.req[1] = "if-match";
	CHECK_EQ_INT(decode_hostile(&h, err), 0);
	h = ok; h.nreq = KH_POLICY_HDRS_MAX + 1;
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
}

/* Literal segments: the decoder's verdict, and the compiler's must agree
 * (the compiler may additionally refuse '*' inside a segment).  Valid is
 * exactly what path_canonicalize can emit as a segment: '%7F' (an encoded
 * control) and ';x' (an empty name) never arrive, so no rule may name
 * them; UTF-8 such as 'caf%C3%A9' does. */
static void
literal_segments_are_canonical_in_compiler_and_decoder(void)
{
	static const struct { const char *s; size_t len; int ok; } seg[] = {
		{ "api", 3, 1 }, { "a-b_c.d~e", 9, 1 }, { "%20", 3, 1 },
		{ "%25", 3, 1 }, { "%3A", 3, 1 }, { "%7F", 3, 0 },
		{ "caf%C3%A9", 9, 1 }, { "%E6%96%87", 9, 1 }, { "a%EF%BC%8E", 10, 1 },
		{ "caf%c3%a9", 9, 0 }, { "%C3", 3, 0 }, { "%C0%AE", 6, 0 },
		{ "%C2%85", 6, 0 }, { "%EF%BC%8F", 9, 0 }, { "%EF%BC%8E", 9, 0 },
		{ ";x", 2, 0 }, { "%3Bx", 4, 0 }, { "%0A", 3, 0 },
		{ ":@!$&'()+,;=", 12, 1 }, { "...", 3, 1 }, { ".a", 2, 1 },
		{ "a/b", 3, 0 }, { ".", 1, 0 }, { "..", 2, 0 }, { "..;x", 4, 0 },
		{ ".;", 2, 0 }, { "a\0b", 3, 0 }, { "", 0, 0 }, { "*", 1, 0 },
		{ "%2F", 3, 0 }, { "%2f", 3, 0 }, { "%5C", 3, 0 },
		{ "%00", 3, 0 }, { "%80", 3, 0 }, { "%FF", 3, 0 },
		{ "%41", 3, 0 }, { "%2E", 3, 0 }, { "%7E", 3, 0 },
		{ "%3a", 3, 0 }, { "%", 1, 0 }, { "%2", 2, 0 }, { "%G0", 3, 0 },
		{ "a b", 3, 0 }, { "a\"b", 3, 0 }, { "a\\b", 3, 0 },
		{ "{id}", 4, 0 }, { "a|b", 3, 0 }, { "a?b", 3, 0 },
		{ "a#b", 3, 0 }, { "\xc3\xa9", 2, 0 }, { "a\tb", 3, 0 },
	};
	char err[128], text[512];
	struct policy p;
	struct diags d;

	for (size_t i = 0; i < sizeof(seg) / sizeof(seg[0]); i++) {
		struct hostile h = { 0, 1, "GET", 1, SEG_LIT, seg[i].s,
		    seg[i].len, 0, { NULL, NULL }, "etag" };
		int dec = decode_hostile(&h, err) == 0;
		if (dec != seg[i].ok)
			fprintf(stderr, "decoder disagrees on segment %zu\n", i);
		CHECK_EQ_INT(dec, seg[i].ok);
		/* "a/b" and "*" are valid patterns, just not literals */
		if (seg[i].len == 0 || memchr(seg[i].s, '\0', seg[i].len) ||
		    memchr(seg[i].s, '/', seg[i].len) ||
		    strcmp(seg[i].s, "*") == 0)
			continue;
		snprintf(text, sizeof(text), "allow GET /x/%s\n", seg[i].s);
		int comp = compile_text(text, &p, &d) == 0;
		if (comp != seg[i].ok)
			fprintf(stderr, "compiler disagrees on '%s': %s\n",
			    seg[i].s, d.first);
		CHECK_EQ_INT(comp, seg[i].ok);
		policy_free(&p);
	}
	long long big = KH_POLICY_SEG_MAX + 1;
	char *s = malloc((size_t)big);
	memset(s, 'a', (size_t)big);
	struct hostile h = { 0, 1, "GET", 1, SEG_LIT, s, (size_t)big, 0,
	    { NULL, NULL }, "etag" };
	CHECK_EQ_INT(decode_hostile(&h, err), -1);
	h.litlen--;
	CHECK_EQ_INT(decode_hostile(&h, err), 0);
	free(s);
}

/* ---- the compiler ---- */

/* Exactly one error, on `where`, containing `what`. */
static void
expect_error(const char *text, const char *where, const char *what)
{
	struct policy p;
	struct diags d;
	int n = compile_text(text, &p, &d);

	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(d.n, 1);
	CHECK(strncmp(d.first, where, strlen(where)) == 0);
	CHECK(strstr(d.first, what) != NULL);
	if (n != 1 || strncmp(d.first, where, strlen(where)) != 0 ||
	    strstr(d.first, what) == NULL)
		fprintf(stderr, "  for %s%s  got: %s\n", where, what, d.all);
	CHECK(p.rules == NULL && p.nrules == 0);
}

#define OK "allow GET /ok\n"

static void
compiler_names_line_and_fix_for_each_error(void)
{
	expect_error(OK "allow FETCH /a\n", "t.policy:2:7: ",
	    "unknown method 'FETCH' (expected GET, HEAD, POST, PUT, PATCH, "
	    "DELETE or OPTIONS)");
	expect_error(OK "allow get /a\n", "t.policy:2:7: ", "must be upper-case: 'GET'");
	expect_error(OK "\n\nalow GET /a\n", "t.policy:4:1: ", "unknown directive 'alow'");
	expect_error(OK "allow GET\n", "t.policy:2:1: ", "needs a method and a pattern");
	expect_error(OK "allow GET /a json\n", "t.policy:2:14: ",
	    "unknown constraint 'json'");
	expect_error(OK "allow GET a/b\n", "t.policy:2:11: ", "must start with '/'");
	expect_error(OK "allow GET /a//b\n", "t.policy:2:14: ", "empty segment");
	expect_error(OK "allow GET /a/\n", "t.policy:2:13: ", "trailing '/'");
	expect_error(OK "allow GET /a/../b\n", "t.policy:2:14: ", "dot segment '..'");
	expect_error(OK "allow GET /a/./b\n", "t.policy:2:14: ", "dot segment '.'");
	expect_error(OK "allow GET /a?x=1\n", "t.policy:2:13: ", "'?' in pattern");
	expect_error(OK "allow GET /a#x\n", "t.policy:2:13: ", "'#' in pattern");
	expect_error(OK "allow GET /a%2Fb\n", "t.policy:2:13: ", "'%2F' in pattern");
	expect_error(OK "allow GET /a/**/b\n", "t.policy:2:14: ",
	    "'**' in pattern '/a/**/b' must be the last segment");
	expect_error(OK "allow GET /a/b*\n", "t.policy:2:14: ",
	    "'*' and '**' must be whole segments");
	expect_error(OK "allow GET /a/x{id}\n", "t.policy:2:14: ",
	    "a variable must be a whole segment");
	expect_error(OK "allow GET /%41\n", "t.policy:2:12: ", "write 'A'");
	expect_error(OK "allow GET /%3a\n", "t.policy:2:12: ", "'%3A'");
	expect_error(OK "allow GET /a\nallow GET /a\n", "t.policy:3:11: ",
	    "duplicate rule 'allow GET /a' (first at line 2)");
	expect_error(OK "request-header Authorization\n", "t.policy:2:16: ",
	    "header 'authorization' may never be allowlisted");
	expect_error(OK "response-header set-cookie\n", "t.policy:2:17: ",
	    "'set-cookie' may never");
	expect_error(OK "request-header x:y\n", "t.policy:2:16: ", "invalid header name 'x:y'");
	expect_error(OK "request-header\n", "t.policy:2:1: ", "needs one header name");
	expect_error(OK "request-header a b\n", "t.policy:2:18: ", "unexpected 'b'");
	expect_error(OK "request-header accept\nrequest-header ACCEPT\n",
	    "t.policy:3:16: ", "duplicate request-header 'accept' (first at line 2)");
	expect_error(OK "max-body 1.5m\n", "t.policy:2:10: ", "bad size '1.5m'");
	expect_error(OK "max-body 1g\n", "t.policy:2:10: ", "bad size '1g'");
	expect_error(OK "max-body m\n", "t.policy:2:10: ", "bad size 'm'");
	expect_error(OK "max-body 9m\n", "t.policy:2:10: ", "over the limit of 8m");
	expect_error(OK "max-body 99999999999999999999999k\n", "t.policy:2:10: ",
	    "over the limit");
	expect_error(OK "max-body 0\n", "t.policy:2:10: ", "at least 1 byte");
	expect_error(OK "max-body 1m\nmax-body 2m\n", "t.policy:3:1: ",
	    "max-body given twice (first at line 2)");
	expect_error("# nothing\n\n", "t.policy:2:1: ", "no 'allow' rule");
	expect_error("", "t.policy:1:1: ", "no 'allow' rule");
	expect_error(OK "allow GET /a\r\n", "t.policy:2:13: ", "LF line endings");
	expect_error(OK "# caf\xc3\xa9\n", "t.policy:2:6: ", "non-ASCII byte 0xc3");
	expect_error(OK "allow GET /\x01\n", "t.policy:2:12: ", "control byte 0x01");

	char big[1100];
	memset(big, ' ', sizeof(big));
	memcpy(big, OK "#", 15);
	big[1099] = '\0';
	expect_error(big, "t.policy:2:1: ", "line is 1085 bytes; the limit is 1024");

	static const uint8_t nul[] = "allow GET /a\nallow GET /b\0\n";
	struct policy p;
	struct diags d;
	memset(&d, 0, sizeof(d));
	CHECK_EQ_INT(policy_compile("n.policy", nul, sizeof(nul) - 1, NULL, 0,
	    &p, diag_collect, &d), 1);
	CHECK_EQ_STR(d.first, "n.policy:2:13: NUL byte (a policy is plain "
	    "ASCII text)");

	size_t n = KH_POLICY_TEXT_MAX + 1;
	uint8_t *huge = malloc(n);
	memset(huge, '\n', n);
	memset(&d, 0, sizeof(d));
	CHECK_EQ_INT(policy_compile("h.policy", huge, n, NULL, 0, &p,
	    diag_collect, &d), 1);
	CHECK(strncmp(d.first, "h.policy:1:1: policy is 262145 bytes", 36) == 0);
	free(huge);
}

static void
compiler_reports_every_error(void)
{
	struct policy p;
	struct diags d;
	int n = compile_text("allow FETCH /a\n"
	    "allow GET /b\n"
	    "frobnicate\n"
	    "allow GET /c/\n"
	    "request-header host\n"
	    "max-body lots\n", &p, &d);
	CHECK_EQ_INT(n, 5);
	CHECK_EQ_INT(d.n, 5);
	CHECK(strstr(d.all, "t.policy:1:7: unknown method") != NULL);
	CHECK(strstr(d.all, "t.policy:3:1: unknown directive") != NULL);
	CHECK(strstr(d.all, "t.policy:4:13: trailing") != NULL);
	CHECK(strstr(d.all, "t.policy:5:16: header 'host'") != NULL);
	CHECK(strstr(d.all, "t.policy:6:10: bad size") != NULL);
	CHECK(p.rules == NULL && p.nrules == 0);

	/* Too many rules is reported once, not once per extra rule. */
	size_t cap = (KH_POLICY_RULES_MAX + 3) * 24;
	char *t = malloc(cap), *q = t;
	for (unsigned i = 0; i < KH_POLICY_RULES_MAX + 3; i++)
		q += sprintf(q, "allow GET /r%u\n", i);
	CHECK_EQ_INT(compile_text(t, &p, &d), 1);
	CHECK(strstr(d.first, "t.policy:513:1: more than 512") != NULL);
	free(t);
}

static void
header_defaults_apply_only_without_directives(void)
{
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_text("allow GET /a # inline comment\n", &p, &d), 0);
	CHECK_EQ_INT(p.max_body, 0);
	CHECK_EQ_INT(p.nreq_hdrs, 4);
	CHECK_EQ_STR(p.req_hdrs[0], "accept");
	CHECK_EQ_STR(p.req_hdrs[3], "if-none-match");
	CHECK_EQ_INT(p.nresp_hdrs, 3);
	CHECK_EQ_STR(p.resp_hdrs[2], "last-modified");
	policy_free(&p);

	CHECK_EQ_INT(compile_text("request-header X-Custom\n"
	    "\tallow\tPOST\t/a/*\t\n", &p, &d), 0);
	CHECK_EQ_INT(p.nreq_hdrs, 1);
	CHECK_EQ_STR(p.req_hdrs[0], "x-custom");
	CHECK_EQ_INT(p.nresp_hdrs, 3);
	CHECK_EQ_INT(p.rules[0].line, 2);
	CHECK(policy_req_header_allowed(&p, "X-CUSTOM", 8));
	CHECK(!policy_req_header_allowed(&p, "accept", 6));
	policy_free(&p);

	CHECK_EQ_INT(compile_text("max-body 3k\nmax-body-x 1\nallow GET /\n",
	    &p, &d), 1);
	CHECK_EQ_INT(compile_text("max-body 3K\nallow GET /\n", &p, &d), 0);
	CHECK_EQ_INT(p.max_body, 3072);
	CHECK_EQ_INT(p.rules[0].nsegs, 0);
	policy_free(&p);
}

static void
print_compile_round_trip_is_equal(void)
{
	static const char *const texts[] = {
		paperclip_text,
		"allow GET /\n",
		"max-body 1000\nmax-body-\n",
		"max-body 8m\nresponse-header etag\nallow DELETE /a/*/b/%20\n"
		    "allow OPTIONS /*/*/*\n",
		"max-body 5k\nrequest-header x-a\nallow HEAD /x\n",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct policy a, b;
		struct diags d;
		if (compile_text(texts[i], &a, &d) != 0)
			continue;	/* the invalid entry is skipped */
		char *s = print_policy(&a);
		CHECK_EQ_INT(compile_text(s, &b, &d), 0);
		/* Rule lines follow the printed text; everything else on
		 * the wire must be identical. */
		CHECK_EQ_INT(a.nrules, b.nrules);
		for (size_t j = 0; j < a.nrules && j < b.nrules; j++)
			b.rules[j].line = a.rules[j].line;
		CHECK(policy_equal(&a, &b));
		char *s2 = print_policy(&b);
		CHECK_EQ_STR(s, s2);	/* canonical: a fixed point */
		free(s);
		free(s2);
		policy_free(&a);
		policy_free(&b);
	}
	struct policy a;
	struct diags d;
	CHECK_EQ_INT(compile_text("allow GET /a\nmax-body 1025\n", &a, &d), 0);
	char *s = print_policy(&a);
	CHECK_EQ_STR(s, "max-body 1025\nrequest-header accept\n"
	    "request-header content-type\nrequest-header if-match\n"
	    "request-header if-none-match\nresponse-header content-type\n"
	    "response-header etag\nresponse-header last-modified\n"
	    "allow GET /a\n");
	free(s);
	policy_free(&a);
}

int
main(void)
{
	paperclip_routes_are_allowed();
	near_misses_are_denied();
	shipped_policy_compiles_to_the_embedded_copy();
	match_semantics_are_segmentwise_first_wins();
	forbidden_headers_are_refused_in_any_case();
	encode_decode_round_trip_is_equal();
	decode_rejects_hostile_tables();
	literal_segments_are_canonical_in_compiler_and_decoder();
	compiler_names_line_and_fix_for_each_error();
	compiler_reports_every_error();
	header_defaults_apply_only_without_directives();
	print_compile_round_trip_is_equal();
	TEST_DONE();
}
