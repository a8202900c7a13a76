/*
 * Route policy: the compiler (child: src/unpriv/policy_compile.c,
 * policy_rule.c, policy_lint.c), the binary table and its decoder (the
 * parent: src/common/policy_table.c), the matcher both use
 * (policy_match.c) and the names and bindings (policy_names.c): literal,
 * '*', '**' and {variable} patterns, header allowlists, per-rule
 * constraints, warnings, and what the parent's decoder makes of each.
 * (The body checks, budgets and MSG_CONFIG have files of their own:
 * test_body_check.c, test_budget.c, test_child_config.c.)  Each test is
 * named after the property it guards.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kh_test.h"
#include "path.h"
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
	int n, nwarn;
	char all[32768];
	char first[2048];
	char firstwarn[2048];
};

static void
diag_collect(void *arg, bool warning, const char *msg)
{
	struct diags *d = arg;
	size_t l = strlen(d->all);

	snprintf(d->all + l, sizeof(d->all) - l, "%s\n", msg);
	if (warning) {
		if (d->nwarn++ == 0)
			snprintf(d->firstwarn, sizeof(d->firstwarn), "%s", msg);
		return;
	}
	if (d->n++ == 0)
		snprintf(d->first, sizeof(d->first), "%s", msg);
}

static struct pol_bindings *
binds(const char *a, const char *b)
{
	static struct pol_bindings bb;
	char why[512];

	memset(&bb, 0, sizeof(bb));
	if (a != NULL)
		CHECK_EQ_INT(policy_binding_add(&bb, a, why, sizeof(why)), 0);
	if (b != NULL)
		CHECK_EQ_INT(policy_binding_add(&bb, b, why, sizeof(why)), 0);
	return &bb;
}

static int
compile_with(const char *text, const struct pol_bindings *b, unsigned flags,
    struct policy *p, struct diags *d)
{
	memset(d, 0, sizeof(*d));
	return policy_compile("t.policy", (const uint8_t *)text, strlen(text),
	    b, flags, p, diag_collect, d);
}

/* Strict compile, with issue=BRI-7 bound when the text uses {issue} (a
 * binding the policy never uses is itself worth a warning). */
static int
compile_text(const char *text, struct policy *p, struct diags *d)
{
	return compile_with(text, strstr(text, "{issue}") ?
	    binds("issue=BRI-7", NULL) : NULL, 0, p, d);
}

static int
match(const struct policy *p, const char *m, const char *path)
{
	return policy_match(p, m, path, strlen(path));
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

/* Exactly one error, equal to `want` (the whole message). */
static void
expect_only_error(const char *text, const char *want)
{
	struct policy p;
	struct diags d;
	int n = compile_text(text, &p, &d);

	CHECK_EQ_INT(n, 1);
	CHECK_EQ_STR(d.first, want);
	if (n != 1 || strcmp(d.first, want) != 0)
		fprintf(stderr, "  for:\n%s  got:\n%s", text, d.all);
	CHECK(p.rules == NULL && p.nrules == 0);
}

/* Compiles without error, one warning equal to `want`. */
static void
expect_warning(const char *text, const char *want)
{
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_text(text, &p, &d), 0);
	CHECK_EQ_INT(d.nwarn, 1);
	CHECK_EQ_STR(d.firstwarn, want);
	if (d.nwarn != 1 || strcmp(d.firstwarn, want) != 0)
		fprintf(stderr, "  for:\n%s  got:\n%s", text, d.all);
	policy_free(&p);
}

#define OK "allow GET /ok\n"

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

static void
compiler_names_line_column_and_fix_for_each_v2_error(void)
{
	expect_only_error(OK "allow POST /a frob 1\n", "t.policy:2:15: unknown "
	    "constraint 'frob' (expected body, keys, content-type, "
	    "request-header, max-body, query or rate)");
	expect_only_error(OK "allow POST /a keys\n", "t.policy:2:15: 'keys' needs a "
	    "value, e.g. 'keys status,comment'");
	expect_only_error(OK "allow POST /a body json body none\n", "t.policy:2:25: "
	    "'body' given twice on one rule; remove one");
	expect_only_error(OK "allow POST /a body xml\n", "t.policy:2:20: 'body xml': "
	    "expected 'body json' (a body is required and must be one JSON "
	    "value) or 'body none'");
	expect_only_error(OK "allow POST /a keys a,,b\n", "t.policy:2:22: empty key "
	    "in 'keys a,,b' (a comma-separated list without spaces)");
	expect_only_error(OK "allow POST /a keys a,\n", "t.policy:2:22: empty key in "
	    "'keys a,' (a comma-separated list without spaces)");
	expect_only_error(OK "allow POST /a keys a,b/c\n", "t.policy:2:22: invalid "
	    "key 'b/c' (letters, digits and _.$@-)");
	expect_only_error(OK "allow POST /a keys a,b,a\n", "t.policy:2:24: key 'a' "
	    "listed twice");
	expect_only_error(OK "allow POST /a content-type */*\n", "t.policy:2:28: "
	    "invalid media type '*/*' (type/subtype, e.g. multipart/form-data; "
	    "no parameters, no '*')");
	expect_only_error(OK "allow POST /a content-type text/plain;charset=x\n",
	    "t.policy:2:28: invalid media type 'text/plain;charset=x' "
	    "(type/subtype, e.g. multipart/form-data; no parameters, no '*')");
	expect_only_error(OK "allow POST /a content-type text/plain,TEXT/PLAIN\n",
	    "t.policy:2:39: media type 'text/plain' listed twice");
	expect_only_error(OK "allow POST /a request-header cookie\n", "t.policy:2:30: "
	    "header 'cookie' may never be allowlisted (keyhole sets, strips "
	    "or frames it itself)");
	expect_only_error(OK "allow POST /a request-header x:y\n", "t.policy:2:30: "
	    "invalid header name 'x:y' (a token of letters, digits and "
	    "!#$%&'*+-.^_`|~)");
	expect_only_error(OK "allow POST /a max-body 9m\n", "t.policy:2:24: "
	    "max-body '9m' is over the limit of 8m");
	expect_only_error(OK "allow POST /a max-body lots\n", "t.policy:2:24: bad "
	    "size 'lots' (expected bytes, or a whole number with a k or m "
	    "suffix, e.g. 'max-body 1m')");
	expect_only_error(OK "allow POST /a query some\n", "t.policy:2:21: 'query "
	    "some': expected 'query none' or 'query any'");
	expect_only_error(OK "allow POST /a rate 10/h\n", "t.policy:2:20: bad rate "
	    "'10/h' (N/s or N/min with N from 1 to 1000000, e.g. 'rate "
	    "30/min')");
	expect_only_error(OK "allow POST /a rate 0/s\n", "t.policy:2:20: bad rate "
	    "'0/s' (N/s or N/min with N from 1 to 1000000, e.g. 'rate "
	    "30/min')");
	expect_only_error(OK "allow POST /a rate 1000001/s\n", "t.policy:2:20: bad "
	    "rate '1000001/s' (N/s or N/min with N from 1 to 1000000, e.g. "
	    "'rate 30/min')");
	expect_only_error(OK "allow POST /a rate /min\n", "t.policy:2:20: bad rate "
	    "'/min' (N/s or N/min with N from 1 to 1000000, e.g. 'rate "
	    "30/min')");
	expect_only_error(OK "allow GET /a keys x\n", "t.policy:2:14: GET requests "
	    "carry no body (keyhole refuses one), so 'keys' can never apply; "
	    "remove it");
	expect_only_error(OK "allow HEAD /a max-body 1k\n", "t.policy:2:15: HEAD "
	    "requests carry no body (keyhole refuses one), so 'max-body' can "
	    "never apply; remove it");
	expect_only_error(OK "allow GET /a body json\n", "t.policy:2:14: GET "
	    "requests carry no body (keyhole refuses one), so 'body' can never "
	    "apply; remove it");
	expect_only_error(OK "allow GET /a content-type text/plain\n", "t.policy:2:14: "
	    "GET requests carry no body (keyhole refuses one), so "
	    "'content-type' can never apply; remove it");
	expect_only_error(OK "allow POST /a body none keys a\n", "t.policy:2:25: "
	    "'keys' contradicts 'body none' on the same rule; remove one");
	expect_only_error(OK "allow POST /a keys a content-type text/plain\n",
	    "t.policy:2:22: 'keys' checks a JSON body, but 'content-type' does "
	    "not list application/json");
	expect_only_error(OK "allow POST /a body json content-type text/plain\n",
	    "t.policy:2:25: 'body json' checks a JSON body, but 'content-type' "
	    "does not list application/json");
	expect_only_error(OK "allow GET /a/**/b\n", "t.policy:2:14: '**' in pattern "
	    "'/a/**/b' must be the last segment (it matches all the rest of "
	    "the path); use '*' for one segment");
	expect_only_error(OK "allow GET /a/{1x}\n", "t.policy:2:14: '{1x}' in "
	    "pattern '/a/{1x}' is not a variable: write '{name}' with letters, "
	    "digits and '_', not starting with a digit, at most 32 bytes");
	expect_only_error(OK "allow GET /a/{}\n", "t.policy:2:14: '{}' in pattern "
	    "'/a/{}' is not a variable: write '{name}' with letters, digits "
	    "and '_', not starting with a digit, at most 32 bytes");
	expect_only_error(OK "allow GET /a/{a-b}\n", "t.policy:2:14: '{a-b}' in "
	    "pattern '/a/{a-b}' is not a variable: write '{name}' with "
	    "letters, digits and '_', not starting with a digit, at most 32 "
	    "bytes");
	expect_only_error(OK "allow GET /a/{x\n", "t.policy:2:14: segment '{x' in "
	    "pattern '/a/{x': a variable must be a whole segment, '{name}'");
	expect_only_error(OK "allow PATCH /api/issues/{company}\n", "t.policy:2:25: "
	    "variable 'company' is not bound (start keyhole with --var "
	    "company=VALUE or KEYHOLE_VAR_company=VALUE, or declare "
	    "'optional-var company' so its rules match nothing when it is "
	    "unbound)");
	expect_only_error(OK "max\n", "t.policy:2:1: 'max' needs one number: the "
	    "mutations (POST, PUT, PATCH, DELETE) allowed per run, e.g. 'max "
	    "200'");
	expect_only_error(OK "max 0\n", "t.policy:2:5: bad budget '0' (a whole "
	    "number from 1 to 100000000)");
	expect_only_error(OK "max 100000001\n", "t.policy:2:5: bad budget "
	    "'100000001' (a whole number from 1 to 100000000)");
	expect_only_error(OK "max 5x\n", "t.policy:2:5: bad budget '5x' (a whole "
	    "number from 1 to 100000000)");
	expect_only_error(OK "max 5\nmax 6\n", "t.policy:3:1: 'max' given twice "
	    "(first at line 2); remove one");
	expect_only_error(OK "optional-var\n", "t.policy:2:1: 'optional-var' needs "
	    "one variable name, e.g. 'optional-var issue'");
	expect_only_error(OK "optional-var 9\n", "t.policy:2:14: '9' is not a "
	    "variable name (letters, digits and '_', not starting with a "
	    "digit, at most 32 bytes)");
	expect_only_error(OK "optional-var x\nallow GET /{x}\noptional-var x\n",
	    "t.policy:4:14: 'optional-var x' given twice (first at line 2); "
	    "remove one");
	expect_only_error(OK "frob x\n", "t.policy:2:1: unknown directive 'frob' "
	    "(expected allow, request-header, response-header, max-body, max "
	    "or optional-var)");
	expect_only_error(OK "allow POST /a body json keys a content-type "
	    "application/json request-header x-a max-body 1k query none rate "
	    "1/s body json\n", "t.policy:2:113: 'body' given twice on one "
	    "rule; remove one");

	/* More distinct variables than a table may hold. */
	char text[2048] = "";
	for (int i = 0; i < (int)KH_POLICY_VARS_MAX + 1; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "optional-var v%d\nallow GET /v%d/{v%d}\n", i, i, i);
	struct policy p;
	struct diags d;
	CHECK_EQ_INT(compile_with(text, NULL, 0, &p, &d), 2);	/* both uses */
	CHECK(strstr(d.first, "t.policy:33:14: more than 16 distinct "
	    "variables") != NULL);
}

/* The remaining messages: limits and rarer spellings. */
static void
compiler_names_limits_and_rare_spellings(void)
{
	char text[2048], big[400];
	struct policy p;
	struct diags d;

	strcpy(text, OK "allow POST /a keys k0");
	for (int i = 1; i <= (int)KH_POLICY_KEYS_MAX; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    ",k%d", i);
	strcat(text, "\n");
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK(strstr(d.first, "t.policy:2:") == d.first &&
	    strstr(d.first, ": more than 32 entries in 'keys'") != NULL);

	memset(big, 'k', 65);
	big[65] = '\0';
	snprintf(text, sizeof(text), OK "allow POST /a keys %s\n", big);
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK(strstr(d.first, "t.policy:2:20: key 'kkkk") == d.first &&
	    strstr(d.first, "' is longer than 64 bytes") != NULL);

	memset(big, 's', 257);
	big[257] = '\0';
	snprintf(text, sizeof(text), OK "allow GET /a/%s\n", big);
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK(strstr(d.first, "t.policy:2:14: a segment of pattern") == d.first &&
	    strstr(d.first, "is longer than 256 bytes") != NULL);

	strcpy(text, OK "allow GET ");
	for (int i = 0; i < (int)KH_POLICY_SEGS_MAX + 1; i++)
		strcat(text, "/x");
	strcat(text, "\n");
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK(strstr(d.first, "t.policy:2:76: pattern '/x/x") == d.first &&
	    strstr(d.first, "' has more than 32 segments") != NULL);

	expect_only_error(OK "allow GET /a\\b\n", "t.policy:2:13: '\\' in pattern "
	    "'/a\\b' can never match (keyhole refuses it in paths)");
	expect_only_error(OK "allow GET /a\"b\n", "t.policy:2:13: character '\"' in "
	    "pattern '/a\"b' is not allowed in a path segment (percent-encode "
	    "it as '%22')");
	expect_only_error(OK "allow GET /a%G1\n", "t.policy:2:13: bad percent-escape "
	    "in pattern '/a%G1' (write '%' as %25 and escapes as %XX with two "
	    "hex digits)");
	expect_only_error(OK "allow GET /a%2\n", "t.policy:2:13: bad percent-escape "
	    "in pattern '/a%2' (write '%' as %25 and escapes as %XX with two "
	    "hex digits)");
	expect_only_error(OK "max-body\n", "t.policy:2:1: 'max-body' needs one size, "
	    "e.g. 'max-body 1m'");
	expect_only_error(OK "allow GET /a\x7f\n", "t.policy:2:13: DEL byte");
	memset(big, 'h', 65);
	big[65] = '\0';
	snprintf(text, sizeof(text), OK "request-header %s\n", big);
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK(strstr(d.first, "t.policy:2:16: header name 'hhh") == d.first &&
	    strstr(d.first, "' is longer than 64 bytes") != NULL);

	strcpy(text, OK);
	for (int i = 0; i <= (int)KH_POLICY_HDRS_MAX; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "response-header x-%d\n", i);
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK_EQ_STR(d.first, "t.policy:34:1: more than 32 'response-header' "
	    "lines");

	CHECK(compile_text(OK "allow POST /a body json keys a content-type "
	    "application/json request-header x max-body 1k query none rate 1/s "
	    "x y z\n", &p, &d) >= 1);
	CHECK(strstr(d.all, "t.policy:2:115: too many fields on one line "
	    "(each constraint may be given once)\n") != NULL);
	if (strstr(d.all, "too many fields") == NULL)
		fprintf(stderr, "%s", d.all);
}

static void
unbound_variable_is_reported_once_at_its_first_use(void)
{
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_with("allow GET /a/{issue}\n"
	    "allow PATCH /api/issues/{issue}\n", NULL, 0, &p, &d), 1);
	CHECK(strncmp(d.first, "t.policy:1:14: variable 'issue' is not bound",
	    44) == 0);
	/* Bound: no error.  Lenient (check-policy, explain): no error. */
	CHECK_EQ_INT(compile_with("allow GET /a/{issue}\n",
	    binds("issue=X", NULL), 0, &p, &d), 0);
	policy_free(&p);
	CHECK_EQ_INT(compile_with("allow GET /a/{issue}\n", NULL,
	    POLICY_LENIENT, &p, &d), 0);
	CHECK_EQ_INT(match(&p, "GET", "/a/X"), -1);
	policy_free(&p);
	/* Declared optional: no error, and its rules match nothing. */
	CHECK_EQ_INT(compile_with("optional-var issue\nallow GET /a/{issue}\n"
	    "allow GET /a/*/x\n", NULL, 0, &p, &d), 0);
	CHECK_EQ_INT(d.nwarn, 0);
	CHECK_EQ_INT(match(&p, "GET", "/a/X"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/a/{issue}"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/a/X/x"), 1);
	policy_free(&p);
}

static void
warnings_for_shadowed_rules_and_unused_names(void)
{
	expect_warning("allow GET /a/*\nallow GET /a/b\n", "t.policy:2:1: "
	    "warning: rule 'allow GET /a/b' can never match: 'allow GET /a/*' "
	    "(line 1) matches every request it would, and the first matching "
	    "rule decides; move this rule above line 1 or remove it");
	expect_warning("allow POST /a/**\nallow POST /a/b/c keys x\n",
	    "t.policy:2:1: warning: rule 'allow POST /a/b/c' can never match: "
	    "'allow POST /a/**' (line 1) matches every request it would, and "
	    "the first matching rule decides; move this rule above line 1 or "
	    "remove it");
	expect_warning("allow GET /a/**\nallow GET /a/*/**\n", "t.policy:2:1: "
	    "warning: rule 'allow GET /a/*/**' can never match: 'allow GET "
	    "/a/**' (line 1) matches every request it would, and the first "
	    "matching rule decides; move this rule above line 1 or remove it");
	expect_warning("allow GET /a/*\nallow GET /a/{issue}\n", "t.policy:2:1: "
	    "warning: rule 'allow GET /a/{issue}' can never match: 'allow GET "
	    "/a/*' (line 1) matches every request it would, and the first "
	    "matching rule decides; move this rule above line 1 or remove it");
	expect_warning("optional-var spare\nallow GET /a\n", "t.policy:1:1: "
	    "warning: 'optional-var spare' is not used by any rule");
	expect_warning("allow POST /a request-header accept\n", "t.policy:1:1: "
	    "warning: request-header 'accept' is forwarded on every route "
	    "already; remove it from this rule");

	/* Not shadowed: more specific first, other methods, '**' needing
	 * at least one segment, a literal against a variable (it depends
	 * on the run's value), '*' against a deeper '**'. */
	static const char *const quiet[] = {
		"allow GET /a/b\nallow GET /a/*\n",
		"allow GET /a/*\nallow POST /a/b\n",
		"allow GET /a/**\nallow GET /a\n",
		"allow GET /a/{issue}\nallow GET /a/BRI-7\n",
		"allow GET /a/BRI-7\nallow GET /a/{issue}\n",
		"allow GET /a/*\nallow GET /a/**\n",
		"allow GET /a/*/c\nallow GET /a/b/*\n",
		"allow GET /\nallow GET /a\n",
	};
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
		struct policy p;
		struct diags d;
		CHECK_EQ_INT(compile_text(quiet[i], &p, &d), 0);
		if (d.nwarn != 0)
			fprintf(stderr, "unexpected warning for:\n%s%s",
			    quiet[i], d.all);
		CHECK_EQ_INT(d.nwarn, 0);
		policy_free(&p);
	}

	/* A --var the policy never uses is named (a typo, most likely). */
	struct policy p;
	struct diags d;
	CHECK_EQ_INT(compile_with("allow GET /a\n", binds("isue=X", NULL), 0,
	    &p, &d), 0);
	CHECK_EQ_STR(d.firstwarn, "t.policy:1:1: warning: variable 'isue' is "
	    "bound but the policy never uses {isue}");
	policy_free(&p);
}

static void
matcher_variables_wildcards_methods_and_trailing_slash(void)
{
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_with("allow PATCH /api/issues/{issue}\n"
	    "allow GET /api/issues/{issue}/comments/*\n"
	    "allow GET /files/**\n"
	    "allow GET /files\n"
	    "allow POST /c/{company}/i/{issue}\n"
	    "allow GET /api/agents/me\n",
	    binds("issue=BRI-7", "company=c%201"), 0, &p, &d), 0);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/BRI-7"), 0);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/BRI-8"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/BRI-77"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/BRI-"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/bri-7"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/BRI-7/"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/{issue}"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/*"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-7"), -1);	/* method */
	CHECK_EQ_INT(match(&p, "POST", "/api/issues/BRI-7"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-7/comments/c1"), 1);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-8/comments/c1"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-7/comments/"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-7/comments"), -1);
	/* '**': one or more non-empty, non-dot segments */
	CHECK_EQ_INT(match(&p, "GET", "/files/a"), 2);
	CHECK_EQ_INT(match(&p, "GET", "/files/a/b/c.txt"), 2);
	CHECK_EQ_INT(match(&p, "GET", "/files"), 3);	/* not '**': needs one */
	CHECK_EQ_INT(match(&p, "GET", "/files/"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/files/a/"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/files/a//b"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/files/a/../b"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/files/a/..;x/b"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/files/./a"), -1);
	CHECK_EQ_INT(match(&p, "HEAD", "/files/a"), -1);
	/* two variables; a value that needed percent-encoding */
	CHECK_EQ_INT(match(&p, "POST", "/c/c%201/i/BRI-7"), 4);
	CHECK_EQ_INT(match(&p, "POST", "/c/c 1/i/BRI-7"), -1);
	CHECK_EQ_INT(match(&p, "POST", "/c/c%201/i/BRI-8"), -1);
	CHECK_EQ_INT(match(&p, "POST", "/c/other/i/BRI-7"), -1);

	/* Canonical-path interplay: what the gate matches is
	 * path_canonicalize()'s output, so a spelling of the bound value
	 * with encoded unreserved characters still matches, and one that
	 * climbs out does not. */
	static const struct { const char *raw; int want; } canon[] = {
		{ "/api/issues/%42RI-7", 0 },
		{ "/api/issues/BRI%2D7", 0 },
		{ "/api/%69ssues/BRI-7", 0 },
		{ "/api/issues/BRI-8/../BRI-7", -2 },	/* refused outright */
		{ "/api/issues/BRI-7%2F", -2 },
		{ "/api/issues//BRI-7", -2 },
	};
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		char out[KH_PATH_MAX + 1];
		size_t olen;
		int rc = path_canonicalize((const uint8_t *)canon[i].raw,
		    strlen(canon[i].raw), out, sizeof(out), &olen);
		if (canon[i].want == -2) {
			CHECK(rc != 0);
			continue;
		}
		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_INT(policy_match(&p, "PATCH", out, olen), canon[i].want);
	}

	/* A path deeper than KH_PATH_SEGS_MAX matches nothing, '**' too. */
	char deep[4 * (KH_PATH_SEGS_MAX + 2)] = "/files";
	for (unsigned i = 0; i < KH_PATH_SEGS_MAX - 1; i++)
		strcat(deep, "/x");
	CHECK_EQ_INT(match(&p, "GET", deep), 2);	/* exactly the limit */
	strcat(deep, "/x");
	CHECK_EQ_INT(match(&p, "GET", deep), -1);
	policy_free(&p);

	/* First match decides: the earlier rule's constraints apply. */
	CHECK_EQ_INT(compile_text("allow POST /a/* keys x\n"
	    "allow POST /a/b body json\n", &p, &d), 0);
	CHECK_EQ_INT(d.nwarn, 1);
	CHECK_EQ_INT(match(&p, "POST", "/a/b"), 0);
	policy_free(&p);
}

static void
bindings_accept_one_canonical_segment_per_name(void)
{
	struct pol_bindings b;
	char why[512];
	static const char *const bad[] = { "issue", "=x", "1a=x", "a-b=x",
	    "issue=", "issue=a/b", "issue=..", "issue=.", "issue=*", "issue=**",
	    "issue=a b", "issue=%2F", "issue=%41", "issue=%3a", "issue=\xc3\xa9",
	    "issue=..;x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=x" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&b, 0, sizeof(b));
		why[0] = '\0';
		if (policy_binding_add(&b, bad[i], why, sizeof(why)) == 0)
			fprintf(stderr, "accepted binding '%s'\n", bad[i]);
		CHECK_EQ_INT(b.n, 0);
		CHECK(why[0] != '\0');
	}
	memset(&b, 0, sizeof(b));
	CHECK_EQ_INT(policy_binding_add(&b, "issue=BRI-7", why, sizeof(why)), 0);
	CHECK_EQ_INT(policy_binding_add(&b, "_x9=a%20b:@!", why, sizeof(why)), 0);
	CHECK_EQ_INT(policy_binding_add(&b, "issue=BRI-8", why, sizeof(why)), -1);
	CHECK_EQ_STR(why, "variable 'issue' is bound twice");
	CHECK(policy_binding_find(&b, "issue", 5) != NULL);
	CHECK_EQ_STR(policy_binding_find(&b, "issue", 5)->value, "BRI-7");
	CHECK(policy_binding_find(&b, "issu", 4) == NULL);
	for (unsigned i = 2; i < KH_POLICY_VARS_MAX; i++) {
		char kv[32];
		snprintf(kv, sizeof(kv), "v%u=x", i);
		CHECK_EQ_INT(policy_binding_add(&b, kv, why, sizeof(why)), 0);
	}
	CHECK_EQ_INT(policy_binding_add(&b, "last=x", why, sizeof(why)), -1);
	CHECK_EQ_STR(why, "more than 16 variables");
}

/*
 * A UTF-8 segment (a document key such as "café") arrives canonical as
 * caf%C3%A9: '*' and '**' match it like any other segment, a literal or a
 * bound {variable} matches it when written in that one spelling, which
 * is the only one the compiler, the --var parser and the parent's table
 * decoder accept; the lower-case spelling can never arrive (the
 * canonicalizer upper-cases it), so it is refused where it is written.
 */
static void
utf8_segments_match_wildcards_and_canonical_literals(void)
{
	struct policy p;
	struct diags d;
	struct pol_bindings b;
	char why[512];
	const char *path = "/api/issues/BRI-7/documents/caf%C3%A9";

	CHECK_EQ_INT(compile_with("allow GET /api/issues/*/documents/*\n"
	    "allow PUT /api/issues/{issue}/documents/{doc}\n"
	    "allow POST /api/issues/*/documents/caf%C3%A9/versions\n"
	    "allow DELETE /api/issues/*/**\n",
	    binds("issue=BRI-7", "doc=caf%C3%A9"), 0, &p, &d), 0);
	CHECK_EQ_INT(match(&p, "GET", path), 0);
	CHECK_EQ_INT(match(&p, "PUT", path), 1);
	CHECK_EQ_INT(match(&p, "PUT",
	    "/api/issues/BRI-7/documents/caf%C3%A8"), -1);	/* cafe-grave */
	CHECK_EQ_INT(match(&p, "PUT", "/api/issues/BRI-7/documents/cafe"), -1);
	CHECK_EQ_INT(match(&p, "POST",
	    "/api/issues/BRI-7/documents/caf%C3%A9/versions"), 2);
	CHECK_EQ_INT(match(&p, "DELETE", path), 3);
	CHECK_EQ_INT(match(&p, "DELETE",
	    "/api/issues/BRI-7/%E6%96%87/%F0%9F%98%80"), 3);
	policy_free(&p);

	/* --var takes the canonical spelling only, and says how. */
	memset(&b, 0, sizeof(b));
	CHECK_EQ_INT(policy_binding_add(&b, "doc=caf%C3%A9", why, sizeof(why)), 0);
	static const char *const bad[] = { "doc=caf%c3%a9", "doc=caf\xc3\xa9",
	    "doc=caf%C3", "doc=%C0%AE", "doc=%EF%BC%8E%EF%BC%8E", "doc=a%EF%BC%8Fb",
	    "doc=%C2%85" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&b, 0, sizeof(b));
		why[0] = '\0';
		CHECK_EQ_INT(policy_binding_add(&b, bad[i], why, sizeof(why)), -1);
		CHECK(strstr(why, "caf%C3%A9") != NULL);
	}
	/* A literal that can never arrive is a compile error naming it. */
	CHECK(compile_text("allow GET /api/docs/caf%c3%a9\n", &p, &d) != 0);
	CHECK(strstr(d.first, "upper-case hex") != NULL);
	CHECK(compile_text("allow GET /api/docs/caf%C3\n", &p, &d) != 0);
	CHECK(strstr(d.first, "UTF-8") != NULL);
	CHECK(compile_text("allow GET /api/docs/%EF%BC%8E%EF%BC%8E\n", &p,
	    &d) != 0);
	CHECK(strstr(d.first, "can never match") != NULL);
}

/* ---- the wire ---- */

static int
decode_bytes_bound(const uint8_t *b, size_t n, const struct pol_bindings *bind,
    struct policy *p, char *err)
{
	struct msg_reader r;
	msg_reader_init(&r, b, n);
	return policy_decode(&r, bind, p, err, 128);
}

static const char v2_text[] =
    "max-body 64k\n"
    "max 3\n"
    "optional-var spare_unused_here\n"
    "allow GET /api/issues/{issue}/files/**\n"
    "allow POST /api/issues/{issue}/comments keys body,reopen rate 2/s "
    "query none\n"
    "allow POST /up content-type multipart/form-data,application/json "
    "max-body 8m request-header x-cap,x-trace\n"
    "allow DELETE /x/* body none\n"
    "allow PUT /doc/* body json rate 5/min\n";

static void
v2_table_round_trips_and_parent_resolves_its_own_bindings(void)
{
	struct policy p, q;
	struct diags d;
	struct wbuf w;
	char err[128];

	CHECK_EQ_INT(compile_with(v2_text, binds("issue=BRI-7", NULL), 0, &p,
	    &d), 0);
	CHECK_EQ_INT(d.nwarn, 1);		/* the unused optional-var */
	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	policy_encode(&p, &w);
	CHECK_EQ_INT(msg_finish(&w), 0);
	const uint8_t *pl = w.buf + KH_WIRE_HDR;
	size_t n = w.len - KH_WIRE_HDR;

	/* The parent binds issue to ANOTHER value: its own wins. */
	CHECK_EQ_INT(decode_bytes_bound(pl, n, binds("issue=OWN-1", NULL), &q, err), 0);
	CHECK(policy_equal(&p, &q));
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-7/files/a"), 0);
	CHECK_EQ_INT(match(&q, "GET", "/api/issues/BRI-7/files/a"), -1);
	CHECK_EQ_INT(match(&q, "GET", "/api/issues/OWN-1/files/a"), 0);
	CHECK_EQ_INT(q.max_mutations, 3);
	CHECK_EQ_INT(q.rules[1].rate_count, 2);
	CHECK_EQ_INT(q.rules[1].rate_period_s, 1);
	CHECK_EQ_INT(q.rules[1].flags, POL_QUERY_NONE);
	CHECK_EQ_INT(q.rules[3].flags, POL_BODY_NONE);
	CHECK(policy_rule_header_allowed(&q, &q.rules[2], "X-Cap", 5));
	CHECK(!policy_rule_header_allowed(&q, &q.rules[1], "x-cap", 5));
	CHECK(!policy_req_header_allowed(&q, "x-cap", 5));
	policy_free(&q);

	/* The parent binds nothing: {issue} rules match nothing there. */
	CHECK_EQ_INT(decode_bytes_bound(pl, n, NULL, &q, err), 0);
	CHECK_EQ_INT(match(&q, "GET", "/api/issues/BRI-7/files/a"), -1);
	CHECK_EQ_INT(match(&q, "DELETE", "/x/y"), 3);
	policy_free(&q);

	/* Cut short at every byte offset, and one byte too many. */
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ_INT(decode_bytes_bound(pl, i, NULL, &q, err), -1);
		CHECK(q.rules == NULL && q.nrules == 0);
	}
	uint8_t *longer = malloc(n + 1);
	memcpy(longer, pl, n);
	longer[n] = 0;
	CHECK_EQ_INT(decode_bytes_bound(longer, n + 1, NULL, &q, err), -1);
	CHECK_EQ_STR(err, "policy: trailing bytes");
	free(longer);
	wbuf_free(&w);

	/* Print -> compile is a fixed point, v2 directives included. */
	char *s = print_policy(&p);
	CHECK_EQ_STR(s, "max-body 64k\nmax 3\noptional-var spare_unused_here\n"
	    "request-header accept\nrequest-header content-type\n"
	    "request-header if-match\nrequest-header if-none-match\n"
	    "response-header content-type\nresponse-header etag\n"
	    "response-header last-modified\n"
	    "allow GET /api/issues/{issue}/files/**\n"
	    "allow POST /api/issues/{issue}/comments keys body,reopen query "
	    "none rate 2/s\n"
	    "allow POST /up content-type multipart/form-data,application/json "
	    "request-header x-cap,x-trace max-body 8m\n"
	    "allow DELETE /x/* body none\n"
	    "allow PUT /doc/* body json rate 5/min\n");
	CHECK_EQ_INT(compile_with(s, binds("issue=BRI-7", NULL), 0, &q, &d), 0);
	for (size_t i = 0; i < q.nrules; i++)
		q.rules[i].line = p.rules[i].line;
	CHECK(policy_equal(&p, &q));
	free(s);
	policy_free(&q);
	policy_free(&p);
}

/* One-rule v2 table with the given fields, for the decoder. */
struct hrule {
	const char *method;
	uint8_t kind;			/* of the single segment */
	const char *text;
	uint8_t kind2;			/* second segment, 0 = none */
	uint8_t flags;
	uint64_t max_body;
	const char *key, *ctype, *hdr;	/* one entry each, NULL = none */
	uint32_t rate, period;
	uint32_t max_mutations;
};

static int
decode_rule(const struct hrule *h, const struct pol_bindings *bind, char *err)
{
	struct wbuf w;
	struct policy p;

	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	msg_put_u64(&w, 0);
	msg_put_u32(&w, h->max_mutations);
	msg_put_u16(&w, 1);
	msg_put_cstr(&w, h->method);
	msg_put_u32(&w, 1);
	msg_put_u16(&w, h->kind2 ? 2 : 1);
	msg_put_u8(&w, h->kind);
	msg_put_cstr(&w, h->text);
	if (h->kind2) {
		msg_put_u8(&w, h->kind2);
		msg_put_cstr(&w, h->kind2 == SEG_LIT ? "x" : "");
	}
	msg_put_u8(&w, h->flags);
	msg_put_u64(&w, h->max_body);
	const char *lists[3] = { h->key, h->ctype, h->hdr };
	for (int i = 0; i < 3; i++) {
		msg_put_u16(&w, lists[i] ? 1 : 0);
		if (lists[i])
			msg_put_cstr(&w, lists[i]);
	}
	msg_put_u32(&w, h->rate);
	msg_put_u32(&w, h->period);
	msg_put_u16(&w, 1);
	msg_put_cstr(&w, "accept");
	msg_put_u16(&w, 0);
	CHECK_EQ_INT(msg_finish(&w), 0);
	int rc = decode_bytes_bound(w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR, bind,
	    &p, err);
	if (rc == 0)
		CHECK(p.nrules == 1);
	else
		CHECK(p.rules == NULL && err[0] != '\0');
	policy_free(&p);
	wbuf_free(&w);
	return rc;
}

static void
decoder_rejects_hostile_v2_fields(void)
{
	const struct hrule ok = { "POST", SEG_VAR, "issue", SEG_GLOB,
	    POL_BODY_JSON | POL_QUERY_NONE, 1024, "status", "application/json",
	    "x-cap", 5, 60, 10 };
	struct hrule h;
	char err[128];

	CHECK_EQ_INT(decode_rule(&ok, NULL, err), 0);
	CHECK_EQ_INT(decode_rule(&ok, binds("issue=A", NULL), err), 0);
#define BAD(field, value, why) do { h = ok; h.field = value; \
	err[0] = '\0'; CHECK_EQ_INT(decode_rule(&h, NULL, err), -1); \
	CHECK(strstr(err, why) != NULL); \
	if (strstr(err, why) == NULL) fprintf(stderr, "  got '%s'\n", err); \
	} while (0)
	BAD(text, "1x", "invalid variable name");
	BAD(text, "", "invalid variable name");
	BAD(text, "a-b", "invalid variable name");
	h = ok; h.kind = SEG_GLOB; h.text = "";	/* '**' not last */
	CHECK_EQ_INT(decode_rule(&h, NULL, err), -1);
	CHECK(strstr(err, "'**' with text or not last") != NULL);
	h = ok; h.kind = SEG_GLOB; h.text = "x"; h.kind2 = 0;
	CHECK_EQ_INT(decode_rule(&h, NULL, err), -1);
	BAD(flags, 0x08, "invalid flags");
	BAD(flags, POL_BODY_JSON | POL_BODY_NONE, "invalid flags");
	BAD(max_body, KH_BODY_MAX + 1, "max_body over limit");
	BAD(key, "a b", "invalid key");
	BAD(key, "", "invalid key");
	BAD(ctype, "*/*", "invalid media type");
	BAD(ctype, "text/plain; charset=x", "invalid media type");
	BAD(ctype, "Text/Plain", "invalid media type");
	BAD(ctype, "textplain", "invalid media type");
	BAD(hdr, "authorization", "forbidden header name");
	BAD(hdr, "x-paperclip-run-id", "forbidden header name");
	BAD(hdr, "X-Cap", "lower-case token");
	BAD(rate, 0, "invalid rate");			/* period without count */
	BAD(period, 2, "invalid rate");
	BAD(period, 0, "invalid rate");
	BAD(rate, KH_POLICY_RATE_MAX + 1, "invalid rate");
	BAD(max_mutations, KH_POLICY_BUDGET_MAX + 1, "max_mutations over");
	BAD(method, "GET", "body constraint on GET or HEAD");
	h = ok; h.method = "GET"; h.flags = POL_QUERY_NONE; h.max_body = 0;
	h.key = NULL; h.ctype = NULL;
	CHECK_EQ_INT(decode_rule(&h, NULL, err), 0);	/* header, rate ok */
#undef BAD
	/* More distinct variable names than KH_POLICY_VARS_MAX. */
	struct wbuf w;
	struct policy p;
	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	msg_put_u64(&w, 0);
	msg_put_u32(&w, 0);
	msg_put_u16(&w, KH_POLICY_VARS_MAX + 1);
	for (unsigned i = 0; i <= KH_POLICY_VARS_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "v%u", i);
		msg_put_cstr(&w, "GET");
		msg_put_u32(&w, i + 1);
		msg_put_u16(&w, 1);
		msg_put_u8(&w, SEG_VAR);
		msg_put_cstr(&w, name);
		msg_put_u8(&w, 0);
		msg_put_u64(&w, 0);
		msg_put_u16(&w, 0);
		msg_put_u16(&w, 0);
		msg_put_u16(&w, 0);
		msg_put_u32(&w, 0);
		msg_put_u32(&w, 0);
	}
	msg_put_u16(&w, 0);
	msg_put_u16(&w, 0);
	CHECK_EQ_INT(msg_finish(&w), 0);
	CHECK_EQ_INT(decode_bytes_bound(w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR,
	    NULL, &p, err), -1);
	CHECK(strstr(err, "too many variables") != NULL);
	wbuf_free(&w);
}

/* ---- per-rule predicates ---- */

static void
body_limits_media_types_and_mutations(void)
{
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_text("max-body 1k\n"
	    "allow POST /a\n"
	    "allow POST /b max-body 4k\n"
	    "allow POST /c body none\n"
	    "allow POST /d content-type multipart/form-data\n", &p, &d), 0);
	CHECK_EQ_INT(policy_body_limit(&p, &p.rules[0], 1 << 20), 1024);
	CHECK_EQ_INT(policy_body_limit(&p, &p.rules[1], 1 << 20), 4096);
	CHECK_EQ_INT(policy_body_limit(&p, &p.rules[1], 2048), 2048);
	CHECK_EQ_INT(policy_body_limit(&p, &p.rules[2], 1 << 20), 0);
	CHECK_EQ_INT(policy_body_limit_any(&p, 1 << 20), 4096);
	CHECK_EQ_INT(policy_body_limit_any(&p, 100), 100);
	CHECK(policy_rule_ctype_allowed(&p.rules[0], "application/json", 16));
	CHECK(policy_rule_ctype_allowed(&p.rules[0], "Application/JSON", 16));
	CHECK(!policy_rule_ctype_allowed(&p.rules[0], "text/plain", 10));
	CHECK(!policy_rule_ctype_allowed(&p.rules[0], "application/jso", 15));
	CHECK(policy_rule_ctype_allowed(&p.rules[3], "multipart/form-data", 19));
	CHECK(!policy_rule_ctype_allowed(&p.rules[3], "application/json", 16));
	CHECK(policy_method_mutates("POST") && policy_method_mutates("PUT") &&
	    policy_method_mutates("PATCH") && policy_method_mutates("DELETE"));
	CHECK(!policy_method_mutates("GET") && !policy_method_mutates("HEAD") &&
	    !policy_method_mutates("OPTIONS"));
	policy_free(&p);
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
	compiler_names_line_column_and_fix_for_each_v2_error();
	compiler_names_limits_and_rare_spellings();
	unbound_variable_is_reported_once_at_its_first_use();
	warnings_for_shadowed_rules_and_unused_names();
	matcher_variables_wildcards_methods_and_trailing_slash();
	bindings_accept_one_canonical_segment_per_name();
	utf8_segments_match_wildcards_and_canonical_literals();
	v2_table_round_trips_and_parent_resolves_its_own_bindings();
	decoder_rejects_hostile_v2_fields();
	body_limits_media_types_and_mutations();
	TEST_DONE();
}
