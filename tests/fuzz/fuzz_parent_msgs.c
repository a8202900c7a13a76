/*
 * libFuzzer harness for the parent's handling of child messages: the real
 * frame decoder, dispatch table and handlers of src/priv/monitor.c, fed a
 * byte stream "from the child" through a libevent bufferevent pair, in
 * pieces whose sizes come from a PRNG seeded with the input.
 *
 * The rest of the parent is replaced at link time by the stubs at the end
 * of this file (the linker takes them instead of upstream.o, supervise.o
 * and serve.o; upstream_req.o, which builds the header list libcurl
 * would get, is the real one): upstream_start() records what would be
 * forwarded and keeps
 * the request in flight until the harness completes it; supervise_kill()
 * records the kill and frees the child exactly as the real one does; so
 * monitor.c runs unmodified.
 *
 * Input: one configuration byte, then the stream.
 *   bit 0      0 = no policy yet (the stream's MSG_POLICY is the first one
 *              accepted), 1 = preloaded (a restarted child: it must send
 *              the table of fuzz_policy_text below, byte for byte)
 *   bit 1      draining (SIGTERM came before the child's policy); the
 *              PRNG may also deliver SIGTERM and the drain deadline later
 *   bits 2-3   --max-inflight { 1, 2, 4, 64 }
 *   bits 4-5   --max-body     { 0, 16, 4096, KH_DEF_BODY }
 *   bits 6-7   upstream: how often upstream_start fails and requests
 *              complete between pieces { never, 1/8, 1/4, 1/2 }
 * tests/fuzz/make_wire_seeds.py writes the seeds (byte 0x01 or 0x00 first).
 *
 * Properties (abort() when broken):
 *  - every forwarded request is inside the loaded policy, judged here by
 *    an independent matcher of policy v2 (first matching rule; literal,
 *    '*', {variable} with the parent's own binding issue=BRI-7, final
 *    '**'): method and canonical path match that rule of the table the
 *    parent holds, the path is safe to append to the upstream URL, the
 *    query is valid and absent on `query none`, each header is a
 *    lower-case token on the policy's or the rule's allowlist and on no
 *    list of forbidden names, not duplicated, with a forwardable value;
 *    no body on GET/HEAD; the body within the operator's, the policy's
 *    and the rule's limit (none on `body none`), present where the rule
 *    needs one; no more mutations than the policy's `max`, counting
 *    only what was forwarded; a body's content-type (only ever the
 *    parent's own spelling) exactly `type[; charset=utf-8][; boundary=B]`
 *    with a type the rule accepts and a boundary only on multipart, and
 *    present with every body where the rule forwards content-type; a
 *    body of a JSON type, or on a `body json` / `keys` rule, one JSON
 *    text, with only listed top-level keys under `keys` (the harness's
 *    own recursive judge, json_judge.h);
 *  - the accepted policy never allowlists a forbidden header;
 *  - the decoder kills the child at the first frame whose header, type or
 *    state is wrong (checked by an independent frame walker), and a bad
 *    header as soon as its 16 bytes are in, before any payload;
 *  - after the kill nothing more is forwarded, answered or logged, and
 *    the child's memory is gone (ASan sees any later use);
 *  - every frame sent back to the child is well-formed (type, header,
 *    MSG_RESPONSE fields, a final status 200..599: the child refuses a
 *    1xx, so the upstream's 1xx or 999 must not pass) and answers a
 *    request the child made; a request is never answered twice, and once
 *    every in-flight request completes, every request the parent took
 *    has one answer;
 *  - a request whose method is not safe and that the (stubbed) upstream
 *    says was sent, and that did not end with a valid answer, is answered
 *    409 with x-paperclip-bridge-outcome: indeterminate, never a status a
 *    client would retry (SECURITY.md I6).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "json_judge.h"
#include "log.h"
#include "media.h"
#include "policy_compile.h"
#include "metrics.h"
#include "metrics_wire.h"
#include "priv.h"
#include "util.h"

#define FZ_IDS 64		/* request ids tracked per input */

static const char fuzz_policy_text[] =
    "max-body 4k\n"
    "request-header accept\n"
    "request-header content-type\n"
    "request-header if-match\n"
    "response-header content-type\n"
    "response-header etag\n"
    "allow GET /api/agents/me\n"
    "allow GET /api/issues/*/comments\n"
    "allow POST /api/issues/*/comments\n"
    "allow PATCH /api/issues/*\n"
    "allow HEAD /\n"
    "allow DELETE /a/*/*/*/*\n";

/* Forbidden in either direction whatever a table says (docs/policy.md). */
static const char *const fuzz_forbidden[] = {
	"authorization", "proxy-authorization", "cookie", "set-cookie", "host",
	"content-length", "transfer-encoding", "connection", "keep-alive",
	"upgrade", "te", "trailer", "expect", "accept-encoding",
	"content-encoding", "x-paperclip-run-id", "forwarded",
	"x-forwarded-for", "x-forwarded-host", "x-http-method-override",
	NULL,
};

struct parent *kh_parent;

static struct {
	struct event_base *base;
	struct policy preload;
	bool preload_ok;
	struct parent p;
	struct kh_config cfg;
	struct child *c;		/* NULL once killed */
	struct bufferevent *pair[2];	/* [0] parent's end, [1] child's */
	bool killed;
	size_t kill_offset;		/* stream offset of the fatal frame */
	bool in_kill;
	size_t fed;			/* stream bytes written so far */
	uint64_t rng;
	unsigned fail_mask;		/* upstream failures / completions */
	/* per request id (id % FZ_IDS): frames taken, answers sent */
	unsigned asked[FZ_IDS], answered[FZ_IDS];
	/* per request id (id % FZ_IDS), set when it ends upstream: its
	 * answer must be the 409 indeterminate */
	struct { uint64_t id; bool must409; } expect[FZ_IDS];
	bool answering;			/* the drain deadline is answering */
	bool policy_ok_seen, shutdown_seen;
	size_t nforwarded;
	uint32_t nmutations;		/* forwarded POST/PUT/PATCH/DELETE */
} fz;

static void __attribute__((noreturn))
fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz_parent_msgs: property broken: %s\n", why);
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

/* ------------------------------------------------------------------ */
/* Independent judges of what may leave the parent. */

static int
fuzz_hex(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static bool
fuzz_unreserved(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
	    ch == '~';
}

/* RFC 3986 pchar minus '%' (handled apart). */
static bool
fuzz_pchar(unsigned char ch)
{
	return fuzz_unreserved(ch) || strchr("!$&'()*+,;=:@", ch) != NULL;
}

/* A path that is safe to append to the upstream base: '/'-separated
 * segments of pchar and %XX (upper-case, not hiding an unreserved byte, a
 * separator or a control), none empty but the last, none "." or "..". */
static bool
fuzz_path_safe(const char *s, size_t n)
{
	size_t i, seg = 1;

	if (n == 0 || s[0] != '/')
		return false;
	for (i = 1; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		const char *g = s + seg;
		size_t gl = i - seg, name;
		if (gl == 0 && i != n)
			return false;
		for (size_t k = 0; k < gl; k++) {
			unsigned char ch = (unsigned char)g[k];
			if (ch == '%') {
				if (k + 2 >= gl)
					return false;
				int hi = fuzz_hex((unsigned char)g[k + 1]);
				int lo = fuzz_hex((unsigned char)g[k + 2]);
				if (hi < 0 || lo < 0)
					return false;
				ch = (unsigned char)(hi * 16 + lo);
				if (fuzz_unreserved(ch) || ch == '/' ||
				    ch == '\\' || ch < 0x20 || ch >= 0x7f)
					return false;
				k += 2;
				continue;
			}
			if (!fuzz_pchar(ch))
				return false;
		}
		for (name = 0; name < gl && g[name] != ';'; name++)
			;
		if (gl > 0 && (name == 0 || (g[0] == '.' && (name == 1 ||
		    (name == 2 && g[1] == '.')))))
			return false;
		seg = i + 1;
	}
	return true;
}

/* The first rule that allows METHOD PATH, matched here from the table
 * alone, or -1: the same method; "/" only by a rule without segments;
 * else each literal equal, each '*' one non-empty segment, each
 * {variable} exactly its bound value (unbound: nothing), a final '**' one
 * or more non-empty segments. */
static int
fuzz_policy_rule(const struct policy *pol, const char *method,
    const char *path)
{
	size_t pl = strlen(path);

	for (size_t r = 0; r < pol->nrules; r++) {
		const struct pol_rule *rule = &pol->rules[r];
		const char *seg = path + 1, *end;
		bool ok = true;
		size_t k, sl;

		if (strcmp(rule->method, method) != 0)
			continue;
		if (pl == 1) {
			if (rule->nsegs == 0)
				return (int)r;
			continue;
		}
		for (k = 0; k < rule->nsegs && ok; k++) {
			const struct pol_seg *g = &rule->segs[k];
			if (seg == NULL) {
				ok = false;
				break;
			}
			if (g->kind == SEG_GLOB) {
				for (const char *q = seg; ok; q = end + 1) {
					end = strchr(q, '/');
					sl = end ? (size_t)(end - q) : strlen(q);
					ok = sl > 0;
					if (end == NULL)
						break;
				}
				seg = NULL;
				continue;
			}
			end = strchr(seg, '/');
			sl = end ? (size_t)(end - seg) : strlen(seg);
			switch (g->kind) {
			case SEG_LIT:
				ok = g->len == sl && memcmp(g->lit, seg, sl) == 0;
				break;
			case SEG_STAR:
				ok = sl > 0;
				break;
			case SEG_VAR:
				ok = g->var >= 0 && (size_t)g->var < pol->nvars &&
				    pol->vars[g->var].bound &&
				    pol->vars[g->var].vlen == sl && sl > 0 &&
				    memcmp(pol->vars[g->var].value, seg, sl) == 0;
				break;
			default:
				ok = false;
			}
			seg = end != NULL ? end + 1 : NULL;
		}
		if (ok && k == rule->nsegs && seg == NULL)
			return (int)r;
	}
	return -1;
}

static bool
fuzz_forbidden_name(const char *name)
{
	for (size_t i = 0; fuzz_forbidden[i] != NULL; i++)
		if (strcmp(fuzz_forbidden[i], name) == 0)
			return true;
	return false;
}

static void
fuzz_check_policy(const struct policy *pol)
{
	for (size_t i = 0; i < pol->nreq_hdrs; i++)
		if (fuzz_forbidden_name(pol->req_hdrs[i]))
			fuzz_fail("accepted table allowlists a forbidden request "
			    "header");
	for (size_t i = 0; i < pol->nresp_hdrs; i++)
		if (fuzz_forbidden_name(pol->resp_hdrs[i]))
			fuzz_fail("accepted table allowlists a forbidden "
			    "response header");
}

/* The forwarded content-type value v, judged against the rule: exactly
 * "T", "T; charset=utf-8", with "; boundary=B" after either on a
 * multipart T; T the rule's (application/json when it lists none).
 * *json: T is a JSON type. */
static void
fuzz_check_media(const struct pol_rule *rule, const char *v, bool *json)
{
	const char *t = v, *semi = strchr(v, ';');
	size_t tl = semi ? (size_t)(semi - v) : strlen(v);
	bool ok = false;

	if (rule->nctypes == 0)
		ok = tl == 16 && memcmp(v, "application/json", 16) == 0;
	for (size_t i = 0; i < rule->nctypes; i++)
		ok |= strlen(rule->ctypes[i]) == tl &&
		    memcmp(rule->ctypes[i], v, tl) == 0;
	if (!ok)
		fuzz_fail("forwarded a media type the rule does not accept");
	*json = (tl == 16 && memcmp(v, "application/json", 16) == 0) ||
	    (tl > 5 && memcmp(v + tl - 5, "+json", 5) == 0);
	v += tl;
	if (strncmp(v, "; charset=utf-8", 15) == 0)
		v += 15;
	if (strncmp(v, "; boundary=", 11) == 0) {
		const char *b = v + 11;
		bool quoted = *b == '"';
		size_t bl;
		if (tl < 11 || memcmp(t, "multipart/", 10) != 0)
			fuzz_fail("forwarded a boundary on a non-multipart type");
		b += quoted;
		for (bl = 0; b[bl] != '\0' && b[bl] != '"'; bl++)
			if (!((b[bl] >= '0' && b[bl] <= '9') ||
			    (b[bl] >= 'a' && b[bl] <= 'z') ||
			    (b[bl] >= 'A' && b[bl] <= 'Z') ||
			    strchr(quoted ? "'()+_,-./:=?" : "'+_-.", b[bl])))
				fuzz_fail("forwarded a boundary character it may "
				    "not");
		if (bl == 0 || bl > 70 || (quoted && (b[bl] != '"' ||
		    b[bl + 1] != '\0')) || (!quoted && b[bl] != '\0'))
			fuzz_fail("forwarded a malformed boundary");
		v = b + bl + quoted;
	}
	if (*v != '\0')
		fuzz_fail("forwarded a media-type parameter nobody checked");
}

static void
fuzz_check_forward(const struct up_req *r, const char *path,
    const char *query, bool has_query)
{
	const char *media = NULL;
	bool json = false;
	const struct policy *pol = fz.p.gen->policy;
	char seen[KH_FWD_HEADERS_MAX][KH_HNAME_MAX + 1];
	size_t nseen = 0;
	uint64_t max_body;

	if (pol == NULL || fz.c == NULL || fz.c->state == CS_WAIT_POLICY)
		fuzz_fail("forwarded before a policy was accepted");
	if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD") &&
	    strcmp(r->method, "POST") && strcmp(r->method, "PUT") &&
	    strcmp(r->method, "PATCH") && strcmp(r->method, "DELETE") &&
	    strcmp(r->method, "OPTIONS"))
		fuzz_fail("forwarded an unknown method");
	if (!fuzz_path_safe(path, strlen(path)) || strcmp(path, r->path) != 0)
		fuzz_fail("forwarded a path that is not canonical");
	int ri = fuzz_policy_rule(pol, r->method, path);
	if (ri < 0)
		fuzz_fail("forwarded a request outside the policy");
	const struct pol_rule *rule = &pol->rules[ri];
	if (has_query && (rule->flags & POL_QUERY_NONE))
		fuzz_fail("forwarded a query on a 'query none' rule");
	if (!has_query && query[0] != '\0')
		fuzz_fail("query without has_query");
	for (const char *q = query; *q != '\0'; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f ||
		    *q == '#')
			fuzz_fail("forwarded an invalid query");
	for (const struct curl_slist *s = r->hdrs; s != NULL; s = s->next) {
		const char *d = s->data, *sep = d + strcspn(d, ":;");
		size_t nl = (size_t)(sep - d);
		char name[KH_HNAME_MAX + 1];

		if (*sep == '\0' || nl == 0 || nl > KH_HNAME_MAX)
			fuzz_fail("forwarded header line without a name");
		memcpy(name, d, nl);
		name[nl] = '\0';
		for (size_t k = 0; k < nl; k++)
			if (!((name[k] >= 'a' && name[k] <= 'z') ||
			    (name[k] >= '0' && name[k] <= '9') ||
			    strchr("!#$%&'*+-.^_`|~", name[k]) != NULL))
				fuzz_fail("forwarded header name not a "
				    "lower-case token");
		bool allowed = false;
		for (size_t k = 0; k < pol->nreq_hdrs; k++)
			allowed |= strcmp(pol->req_hdrs[k], name) == 0;
		for (size_t k = 0; k < rule->nhdrs; k++)
			allowed |= strcmp(rule->hdrs[k], name) == 0;
		if (!allowed || fuzz_forbidden_name(name))
			fuzz_fail("forwarded a header outside the allowlist");
		for (size_t k = 0; k < nseen; k++)
			if (strcmp(seen[k], name) == 0)
				fuzz_fail("forwarded a header twice");
		if (nseen == KH_FWD_HEADERS_MAX)
			fuzz_fail("forwarded too many headers");
		memcpy(seen[nseen++], name, nl + 1);
		if (*sep == ';') {
			if (sep[1] != '\0')
				fuzz_fail("empty-value header with a value");
			continue;
		}
		if (sep[1] != ' ' || sep[2] == '\0')
			fuzz_fail("header line not 'name: value'");
		for (const char *v = sep + 2; *v != '\0'; v++)
			if (*v != '\t' && ((unsigned char)*v < 0x20 ||
			    (unsigned char)*v > 0x7e))
				fuzz_fail("forwarded a header value with a "
				    "control byte");
		if (strcmp(name, "content-type") == 0)
			media = sep + 2;
	}
	if (media != NULL)
		fuzz_check_media(rule, media, &json);
	bool ct_allowed = false;
	for (size_t k = 0; k < pol->nreq_hdrs; k++)
		ct_allowed |= strcmp(pol->req_hdrs[k], "content-type") == 0;
	for (size_t k = 0; k < rule->nhdrs; k++)
		ct_allowed |= strcmp(rule->hdrs[k], "content-type") == 0;
	bool need_json = (rule->flags & POL_BODY_JSON) || rule->nkeys > 0;
	if (r->body_len > 0 && ct_allowed && media == NULL)
		fuzz_fail("forwarded a body without its media type");
	if (r->body_len > 0 && need_json && media != NULL && !json)
		fuzz_fail("forwarded a non-JSON media type on a JSON rule");
	if (r->body_len > 0 && (json || need_json) &&
	    !fuzz_json_text(r->body, r->body_len))
		fuzz_fail("forwarded a JSON body that is not JSON");
	if (r->body_len > 0 && rule->nkeys > 0 &&
	    !fuzz_json_keys_listed(r->body, r->body_len,
	    (const char (*)[KH_POLICY_KEY_MAX + 1])rule->keys, rule->nkeys))
		fuzz_fail("forwarded a top-level key the rule does not list");
	if (r->body_len > 0 && (strcmp(r->method, "GET") == 0 ||
	    strcmp(r->method, "HEAD") == 0))
		fuzz_fail("forwarded a body on GET/HEAD");
	max_body = fz.p.ccfg.max_body;
	if (rule->max_body != 0 && rule->max_body < max_body)
		max_body = rule->max_body;
	else if (rule->max_body == 0 && pol->max_body != 0 &&
	    pol->max_body < max_body)
		max_body = pol->max_body;
	if (rule->flags & POL_BODY_NONE)
		max_body = 0;
	if (r->body_len > max_body || (r->body_len > 0) != (r->body != NULL))
		fuzz_fail("forwarded a body over the limit");
	if (r->body_len == 0 && ((rule->flags & POL_BODY_JSON) ||
	    rule->nkeys > 0))
		fuzz_fail("forwarded no body on a rule that needs one");
	/* Counted by upstream_start below, once it succeeded: only what
	 * reaches the upstream is charged. */
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 &&
	    strcmp(r->method, "OPTIONS") != 0 && pol->max_mutations != 0 &&
	    fz.nmutations >= pol->max_mutations)
		fuzz_fail("forwarded more mutations than the policy's max");
}

/* ------------------------------------------------------------------ */
/* Independent walk over the stream: where must the parent stop? */

static bool
fuzz_hdr_ok(const uint8_t *h, uint8_t *type, uint32_t *len, uint64_t *id)
{
	*type = h[1];
	*len = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
	    (uint32_t)h[6] << 8 | h[7];
	*id = 0;
	for (int i = 8; i < 16; i++)
		*id = *id << 8 | h[i];
	return h[0] == KH_WIRE_VERSION && h[2] == 0 && h[3] == 0 &&
	    *len <= KH_MSG_MAX - KH_WIRE_HDR;
}

/* Walks the stream s[0..n) the parent was given.  killed: it killed the
 * child at the frame starting at kill_off.  Every frame before must pass
 * the header/type/state checks here; the fatal one must have a bad header
 * or be complete; with no kill, a trailing partial frame must have a
 * valid header (headers are checked before any payload is buffered). */
static void
fuzz_walk(const uint8_t *s, size_t n, bool killed, size_t kill_off)
{
	size_t off = 0;
	bool serving = false;

	for (;;) {
		uint8_t type;
		uint32_t len;
		uint64_t id;
		bool ok;

		if (killed && off > kill_off)
			fuzz_fail("kill inside a frame");
		if (n - off < KH_WIRE_HDR) {
			if (killed)
				fuzz_fail("kill before a whole header");
			return;
		}
		ok = fuzz_hdr_ok(s + off, &type, &len, &id);
		if (killed && off == kill_off) {
			if (ok && n - off - KH_WIRE_HDR < len)
				fuzz_fail("kill before the frame was complete");
			return;		/* the fatal frame */
		}
		if (!ok)
			fuzz_fail(killed ? "frame with a bad header passed" :
			    "bad frame header did not kill the child");
		if (n - off - KH_WIRE_HDR < len) {
			if (killed)
				fuzz_fail("kill after the last complete frame");
			return;
		}
		switch (type) {
		case MSG_LOG:
		case MSG_FATAL:
			break;
		case MSG_POLICY:
			ok = !serving;
			serving = true;
			break;
		case MSG_REQUEST:
			ok = serving && id != 0;
			break;
		case MSG_ACCESS:
			/* a request the child answered itself: for the log */
			ok = serving && id == 0;
			break;
		case MSG_METRICS:
			/* an operator's scrape: exactly the child's counters */
			ok = serving && id != 0 &&
			    len == 1 + 8 * KH_METRICS_CHILD_N &&
			    s[off + KH_WIRE_HDR] == KH_METRICS_CHILD_N;
			break;
		default:
			ok = false;
		}
		if (!ok)
			fuzz_fail("frame of a wrong type or state passed");
		off += KH_WIRE_HDR + len;
	}
}

/* ------------------------------------------------------------------ */
/* What the parent sends back to the child. */

/* asked[]: REQUEST frames among the complete frames of s[0..upto). */
static void
fuzz_count_asked(const uint8_t *s, size_t upto)
{
	memset(fz.asked, 0, sizeof(fz.asked));
	for (size_t o = 0; upto - o >= KH_WIRE_HDR;) {
		uint8_t type;
		uint32_t len;
		uint64_t id;
		if (!fuzz_hdr_ok(s + o, &type, &len, &id) ||
		    upto - o - KH_WIRE_HDR < len)
			break;
		if (type == MSG_REQUEST)
			fz.asked[id % FZ_IDS]++;
		o += KH_WIRE_HDR + len;
	}
}

static void
fuzz_check_replies(void)
{
	struct evbuffer *in = bufferevent_get_input(fz.pair[1]);

	for (;;) {
		size_t have = evbuffer_get_length(in);
		uint8_t hb[KH_WIRE_HDR], type;
		uint32_t len;
		uint64_t id;

		if (have < KH_WIRE_HDR)
			break;
		evbuffer_copyout(in, hb, KH_WIRE_HDR);
		if (!fuzz_hdr_ok(hb, &type, &len, &id))
			fuzz_fail("parent sent a bad frame header");
		if (have < KH_WIRE_HDR + len)
			fuzz_fail("parent sent half a frame");
		const uint8_t *f = evbuffer_pullup(in, KH_WIRE_HDR + len);
		struct msg_reader r;
		msg_reader_init(&r, f + KH_WIRE_HDR, len);
		switch (type) {
		case MSG_POLICY_OK:
			if (fz.policy_ok_seen || msg_end(&r) < 0 || id != 0)
				fuzz_fail("second or malformed POLICY_OK");
			fz.policy_ok_seen = true;
			break;
		case MSG_SHUTDOWN:
			if (!fz.policy_ok_seen || msg_end(&r) < 0 || id != 0)
				fuzz_fail("SHUTDOWN before POLICY_OK");
			fz.shutdown_seen = true;
			break;
		case MSG_RESPONSE: {
			uint16_t status, nh;
			const char *s;
			const uint8_t *b;
			size_t sl;
			msg_get_u16(&r, &status);
			msg_get_u16(&r, &nh);
			if (nh > KH_FWD_HEADERS_MAX)
				fuzz_fail("response with too many headers");
			bool indet = false;
			for (uint16_t i = 0; i < nh; i++) {
				const char *v;
				size_t vl;
				msg_get_str(&r, &s, &sl, KH_HNAME_MAX);
				msg_get_str(&r, &v, &vl, KH_HVALUE_MAX);
				if (!r.failed && sl == 26 && memcmp(s,
				    "x-paperclip-bridge-outcome", 26) == 0 &&
				    vl == 13 && memcmp(v, "indeterminate", 13) == 0)
					indet = true;
			}
			msg_get_blob(&r, &b, &sl, KH_RESPONSE_MAX);
			if (msg_end(&r) < 0 || status < 200 || status > 599)
				fuzz_fail("malformed MSG_RESPONSE");
			if (indet && status != 409)
				fuzz_fail("indeterminate header without 409");
			if (fz.expect[id % FZ_IDS].id == id &&
			    fz.expect[id % FZ_IDS].must409 && status != 409)
				fuzz_fail("a mutation that was sent answered with "
				    "a status a client would retry");
			fz.expect[id % FZ_IDS].id = 0;
			if (id == 0 || ++fz.answered[id % FZ_IDS] >
			    fz.asked[id % FZ_IDS])
				fuzz_fail("answer to a request never made, or "
				    "a second answer");
			break;
		}
		case MSG_METRICS_TEXT: {
			const uint8_t *b;
			size_t bl;
			msg_get_blob(&r, &b, &bl, KH_MSG_MAX);
			if (msg_end(&r) < 0 || id == 0 || bl == 0 ||
			    b[bl - 1] != '\n')
				fuzz_fail("malformed METRICS_TEXT");
			break;
		}
		default:
			fuzz_fail("parent sent a frame of a wrong type");
		}
		evbuffer_drain(in, KH_WIRE_HDR + len);
	}
}

/* ------------------------------------------------------------------ */
/* The parent's surroundings, replaced at link time. */

/* KH_FUZZ_VERBOSE=1: print the parent's log lines (which seed kills the
 * child for what). */
static bool fuzz_verbose;

static void
fuzz_log_sink(enum log_level level, const char *line)
{
	(void)level;
	if (fuzz_verbose)
		fprintf(stderr, "%s\n", line);
	if (fz.killed && !fz.in_kill)
		fuzz_fail("logged after the kill");
	for (const char *s = line; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			fuzz_fail("log line with a control byte");
}

int64_t
supervise_now_ms(void)
{
	if (fz.killed && !fz.in_kill)
		fuzz_fail("clock read after the kill");
	return 1000;
}

/* As supervise.c: log, forget the child, cancel its requests, free it. */
void
supervise_kill(struct parent *p, struct child *c, const char *why)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *queued = bufferevent_get_output(fz.pair[1]);

	if (fz.killed || c != fz.c)
		fuzz_fail("a dead child killed again");
	fz.killed = true;
	fz.in_kill = true;
	fz.kill_offset = fz.fed - evbuffer_get_length(in) -
	    evbuffer_get_length(queued);
	log_error("protocol violation from child pid=%ld: %s; killing it",
	    (long)c->pid, why);
	if (p->child == c)
		p->child = NULL;
	monitor_abort_inflight(p, c, false);
	bufferevent_free(c->bev);
	gen_unref(c->gen);
	free(c);
	fz.c = NULL;
	fz.in_kill = false;
}

/* supervise.c's, for the one child here (no reload: no candidate, no
 * retired child). */
bool
supervise_live(const struct parent *p, const struct child *c)
{
	return c != NULL && p->child == c;
}

size_t
supervise_inflight(const struct parent *p)
{
	return p->child != NULL ? p->child->ninflight : 0;
}

/* reload.c's, never reached here: the one child is the current one. */
void
reload_swap(struct parent *p, struct child *c)
{
	(void)p;
	(void)c;
	fuzz_fail("a reload's swap without a reload");
}

void
reload_retired_ack(struct parent *p, struct child *c)
{
	(void)p;
	(void)c;
	fuzz_fail("MSG_RETIRED accepted from a child never retired");
}

void
reload_queue_start(struct parent *p, struct child *c)
{
	(void)p;
	(void)c;
}

/* No reload under way: nothing waits for a child to serve. */
void
reload_child_serves(struct parent *p, struct child *c)
{
	(void)p;
	(void)c;
}

void
reload_note_line(struct parent *p, struct child *c, enum log_level level,
    const char *line, size_t len)
{
	(void)p;
	(void)c;
	(void)level;
	(void)line;
	(void)len;
}

void
reload_ready_fields(const struct parent *p, char *out, size_t cap)
{
	(void)p;
	if (cap > 0)
		out[0] = '\0';
}

int
upstream_start(struct upstream *up, struct up_req *r,
    const struct req_checked *ck, const struct up_allow *resp)
{
	(void)up;
	if (fz.killed)
		fuzz_fail("forwarded after the kill");
	if (resp->names != (const void *)fz.p.gen->policy->resp_hdrs ||
	    resp->n != fz.p.gen->policy->nresp_hdrs)
		fuzz_fail("response headers not the policy's allowlist");
	fuzz_check_forward(r, ck->path, ck->query, ck->has_query);
	fz.nforwarded++;
	r->url = malloc(strlen(ck->path) + strlen(ck->query) + 2);
	if (r->url == NULL)
		abort();
	sprintf(r->url, "%s%s%s", ck->path, ck->has_query ? "?" : "",
	    ck->query);
	if (fz.fail_mask && (fuzz_next() & fz.fail_mask) == 0)
		return -1;	/* e.g. no memory for the transfer: 502 */
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 &&
	    strcmp(r->method, "OPTIONS") != 0)
		fz.nmutations++;
	return 0;
}

/* The expected answer of r, ending upstream with res (r->sent set). */
static void
fuzz_expect(const struct up_req *r, enum up_result res)
{
	fz.expect[r->id % FZ_IDS].id = r->id;
	fz.expect[r->id % FZ_IDS].must409 = r->sent &&
	    !util_method_safe(r->method) && (res != UP_OK ||
	    r->status < 200 || r->status > 599);
}

void
upstream_cancel(struct up_req *r)
{
	r->easy = NULL;
	r->sent = (fuzz_next() & 1) != 0;
	/* Only the drain deadline answers a cancelled request; a child gone
	 * gets nothing (an earlier answer to the same id may still be
	 * queued, and must not be judged by this one's expectation). */
	if (fz.answering)
		fuzz_expect(r, UP_CANCELLED);
}

const char *
up_result_name(enum up_result res)
{
	return res == UP_OK ? "ok" : "failed";
}

/* The one answer a client would see for a safe method or an unsent
 * request; spelled out so a change to answer.c's table shows up here. */
static void
fuzz_check_table(void)
{
	char json[256];
	bool indet;

	for (unsigned res = 0; res < UP_RESULT_COUNT; res++)
		for (int sent = 0; sent < 2; sent++) {
			int st = answer_error_for((enum up_result)res, false,
			    sent != 0, json, sizeof(json), &indet);
			bool unsent_kind = res == UP_UNREACHABLE ||
			    res == UP_TIMEOUT_UNSENT;
			if (sent && !unsent_kind && (st != 409 || !indet))
				fuzz_fail("a sent mutation not answered 409");
			if ((st == 409) != indet || (st != 409 && (st < 500 ||
			    st > 504)))
				fuzz_fail("error answer outside 409/5xx");
			st = answer_error_for((enum up_result)res, true,
			    sent != 0, json, sizeof(json), &indet);
			if (indet || st < 500 || st > 504)
				fuzz_fail("a safe method answered 409");
		}
}

/* The upstream answers the oldest request in flight (or all of them). */
static void
fuzz_complete(bool all)
{
	while (fz.c != NULL && fz.c->inflight != NULL) {
		struct up_req *r = fz.c->inflight;
		while (r->next != NULL)
			r = r->next;	/* newest first: take the last */
		uint64_t x = fuzz_next();
		enum up_result res = (enum up_result)(x % UP_RESULT_COUNT);
		/* Sent, unless the result says nothing was. */
		r->sent = res != UP_UNREACHABLE && res != UP_TIMEOUT_UNSENT &&
		    ((x >> 20) & 3) != 0;
		if (res == UP_OK) {
			r->status = 100 + (long)((x >> 8) % 500);
			strcpy(r->resp_hdrs[0].name, "etag");
			r->resp_hdrs[0].value = strdup("\"v1\"");
			r->resp_hdrs[0].vlen = 4;
			r->nresp_hdrs = 1;
			r->resp_body = malloc(2);
			memcpy(r->resp_body, "{}", 2);
			r->resp_len = 2;
		}
		fuzz_expect(r, res);
		r->done(r, res);
		if (!all)
			break;
	}
}

/* ------------------------------------------------------------------ */

static void
fuzz_init(void)
{
	struct policy *pol = &fz.preload;

	fz.base = event_base_new();
	policy_init(pol);
	fz.preload_ok = policy_compile("fuzz.policy",
	    (const uint8_t *)fuzz_policy_text, strlen(fuzz_policy_text), NULL,
	    0, pol, NULL, NULL) == 0;
	if (fz.base == NULL || !fz.preload_ok)
		abort();
	fuzz_verbose = getenv("KH_FUZZ_VERBOSE") != NULL;
	log_init("keyhole", fuzz_log_sink);
	log_set_verbosity(LOG_DEBUG);
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
	static const uint32_t inflight[] = { 1, 2, 4, 64 };
	static const uint64_t bodies[] = { 0, 16, 4096, KH_DEF_BODY };
	static const unsigned masks[] = { 0, 7, 3, 1 };
	const uint8_t *s;
	size_t n, off = 0;

	if (fz.base == NULL) {
		fuzz_init();
		fuzz_check_table();
	}
	if (size < 1)
		return 0;
	s = data + 1;
	n = size - 1;

	struct event_base *base = fz.base;
	struct policy preload = fz.preload;
	memset(&fz, 0, sizeof(fz));
	fz.base = base;
	fz.preload = preload;
	fz.preload_ok = true;
	fz.rng = fuzz_seed(data, size);
	fz.fail_mask = masks[data[0] >> 6];

	fz.cfg.max_inflight = inflight[(data[0] >> 2) & 3];
	/* The parent's own --var: {issue} segments resolve to it. */
	char why[64];
	if (policy_binding_add(&fz.cfg.vars, "issue=BRI-7", why,
	    sizeof(why)) != 0)
		abort();
	fz.p.cfg = &fz.cfg;
	fz.p.base = base;
	/* Generation 0, with the parent's own bindings. */
	fz.p.gen = gen_new(0);
	if (fz.p.gen == NULL)
		abort();
	fz.p.gen->vars = fz.cfg.vars;
	gen_make_current(fz.p.gen);
	fz.p.metrics = metrics_new();	/* MSG_METRICS renders from it */
	if (fz.p.metrics == NULL)
		abort();
	fz.p.ccfg.max_body = bodies[(data[0] >> 4) & 3];
	fz.p.draining = (data[0] & 2) != 0;
	if (data[0] & 1) {
		/* A restarted child: the parent keeps the first table. */
		struct policy *copy = calloc(1, sizeof(*copy));
		if (copy == NULL)
			abort();
		*copy = fz.preload;
		copy->rules = malloc(copy->nrules * sizeof(*copy->rules));
		if (copy->rules == NULL)
			abort();
		memcpy(copy->rules, fz.preload.rules,
		    copy->nrules * sizeof(*copy->rules));
		if (gen_accept_policy(fz.p.gen, copy, 1000) < 0)
			abort();
		fz.p.ever_served = true;
		fz.p.ready_written = true;
	}
	kh_parent = &fz.p;

	if (bufferevent_pair_new(base, 0, fz.pair) != 0)
		abort();
	fz.c = calloc(1, sizeof(*fz.c));
	if (fz.c == NULL)
		abort();
	fz.c->pid = 4242;
	fz.c->state = CS_WAIT_POLICY;
	fz.c->base = base;
	fz.c->bev = fz.pair[0];
	fz.c->gen = gen_ref(fz.p.gen);
	fz.c->role = CHILD_CURRENT;
	fz.p.child = fz.c;
	monitor_attach(&fz.p, fz.c);
	bufferevent_enable(fz.pair[1], EV_READ | EV_WRITE);

	while (off < n && !fz.killed) {
		uint64_t x = fuzz_next();
		size_t piece = (x & 3) == 0 ? (size_t)(x >> 8) % 4096 + 1 :
		    (size_t)(x >> 8) % 24 + 1;
		if (piece > n - off)
			piece = n - off;
		fz.fed = off + piece;
		bufferevent_write(fz.pair[1], s + off, piece);
		off += piece;
		/* The pair moves the bytes at once; the read callback, as for
		 * a socket, runs from the loop. */
		event_base_loop(fz.base, EVLOOP_NONBLOCK);
		/* Requests made so far (all of them if the child lives on:
		 * an answer may only follow its request). */
		fuzz_count_asked(s, fz.killed ? fz.kill_offset : fz.fed);
		fuzz_check_replies();
		if (fz.killed)
			break;
		if (fz.fail_mask && (fuzz_next() & fz.fail_mask) == 0) {
			fuzz_complete(false);
			fuzz_check_replies();
		}
		if ((x >> 40) % 32 == 0 && !fz.p.draining) {
			/* SIGTERM, as serve_signal_cb() handles it. */
			fz.p.draining = true;
			if (fz.c->state == CS_SERVING) {
				fz.c->state = CS_DRAINING;
				monitor_send_simple(fz.c, MSG_SHUTDOWN);
			}
			fuzz_check_replies();
		} else if ((x >> 40) % 32 == 1 && fz.p.draining) {
			/* The drain deadline, as serve_drain_deadline(): the
			 * requests in flight are cancelled and answered (503,
			 * or 409 indeterminate for a mutation). */
			fz.answering = true;
			monitor_abort_inflight(&fz.p, fz.c, true);
			fz.answering = false;
			fuzz_check_replies();
		}
	}

	if (fz.killed && (fz.kill_offset > fz.fed || fz.fed > n))
		fuzz_fail("kill offset beyond the stream");
	fuzz_walk(s, fz.killed ? fz.fed : n, fz.killed, fz.kill_offset);

	if (!fz.killed) {
		if (fz.p.gen->policy != NULL)
			fuzz_check_policy(fz.p.gen->policy);
		fuzz_complete(true);
		fuzz_count_asked(s, n);
		fuzz_check_replies();
		/* Every request taken has exactly one answer. */
		for (size_t i = 0; i < FZ_IDS; i++)
			if (fz.answered[i] != fz.asked[i])
				fuzz_fail("a request without exactly one answer");
		if ((fz.c->state != CS_WAIT_POLICY) != fz.policy_ok_seen ||
		    (fz.p.draining && fz.policy_ok_seen && !fz.shutdown_seen))
			fuzz_fail("state and replies disagree");
		/* As supervise_reap() frees a child that exited. */
		fz.p.child = NULL;
		monitor_abort_inflight(&fz.p, fz.c, false);
		bufferevent_free(fz.c->bev);
		gen_unref(fz.c->gen);
		free(fz.c);
		fz.c = NULL;
	}
	bufferevent_free(fz.pair[1]);
	/* libevent frees bufferevents from the loop. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	gen_unref(fz.p.gen);	/* its table and buckets */
	if (fz.p.relay_ev != NULL)
		event_free(fz.p.relay_ev);
	metrics_free(fz.p.metrics);
	kh_parent = NULL;
	return 0;
}
