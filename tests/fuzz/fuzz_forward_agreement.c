/*
 * libFuzzer harness: the child's decision and the parent's re-check agree.
 *
 * An HTTP request from the sandbox goes through the child's real code —
 * the strict parser (http_parse.c), the chunked decoder, gate_describe and
 * decide_head / decide_body / decide_forward (decide.c), which write the
 * MSG_REQUEST frame — and the frame is handed to the parent's real
 * re-check (src/priv/request_check.c) with the parent's own copy of the
 * policy: the table the child compiled, encoded as MSG_POLICY carries it
 * and decoded with the parent's own --var bindings (policy_decode), as
 * mon_policy does.  The parent kills a child that forwards anything its
 * re-check refuses, so a request the child lets through and the parent
 * refuses is a way for a sandbox to crash-loop keyhole-net.
 *
 * With bit 6 the request takes the queue_v1 way instead: keyhole-gateway's
 * request file for it (gateway_envelope.c), read by the host's envelope
 * parser (queue_envelope.c) and queue_describe — sandbox to upstream
 * through every layer but the file system.
 *
 * Input: one configuration byte, then the request: a head, then its body
 * as the head frames it (Content-Length bytes, or chunked).
 *   bits 0-1   mutations already spent of the policy's `max 3` { 0..3 }
 *   bits 2-3   operator --max-body { 0, 64, 4096, KH_DEF_BODY }
 *   bit 4      --var issue=BRI-7 given (else {issue} is unbound)
 *   bit 5      the child is shutting down
 *   bit 6      queue_v1 transport (gateway request file), else HTTP
 *   bit 7      queue: the gateway writes the body base64-encoded
 *
 * Properties (abort() when broken):
 *  - every request decide lets through is accepted by request_check,
 *    given the same bindings, limits and spent budget;
 *  - what the parent would forward is what the client sent: method,
 *    canonical path, query, body bytes; each forwarded header but
 *    content-type is one of the request's fields (name case-folded, value
 *    byte-exact; on the queue way, a header of the request file, whose
 *    fidelity to the client's request fuzz_gateway_request checks), and
 *    each field the matched rule allows is forwarded;
 *  - what the upstream would decode is what keyhole checked (issue 11):
 *    the forwarded content-type, read the way Express's body-parser reads
 *    one (npm content-type: type before ';', first of a repeated
 *    parameter, quoted values unescaped), has the client's type, charset
 *    and boundary and no other parameter; its charset is utf-8 or none;
 *    a body the upstream would parse as JSON (a JSON type, or a `body
 *    json` / `keys` rule) is one JSON text, with only listed top-level
 *    keys under `keys` (json_judge.h, as JSON.parse decodes keys); no
 *    content-encoding is forwarded;
 *  - a refusal sends nothing to the parent and has a 4xx/5xx status with
 *    a JSON body {"error": "..."}.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "budget.h"
#include "decide.h"
#include "gateway_envelope.h"
#include "json_judge.h"
#include "net.h"
#include "policy_compile.h"
#include "policy_table.h"
#include "queue_envelope.h"
#include "request_check.h"
#include "upstream.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every kind of rule the policy language has. */
static const char fuzz_policy_text[] =
    "optional-var issue\n"
    "max-body 1k\n"
    "max 3\n"
    "request-header accept\n"
    "request-header content-type\n"
    "request-header if-match\n"
    "response-header etag\n"
    "allow GET /api/agents/me\n"
    "allow GET /api/issues/*\n"
    "allow GET /api/q query none\n"
    "allow PATCH /api/issues/{issue} keys status,comment query none\n"
    "allow POST /api/issues/{issue}/comments keys body,reopen rate 30/min\n"
    "allow POST /api/json body json\n"
    "allow DELETE /api/drafts/* body none\n"
    "allow POST /api/upload content-type multipart/form-data max-body 4k\n"
    "allow POST /api/small max-body 64\n"
    "allow PUT /api/files/** content-type application/octet-stream,text/plain\n"
    "allow POST /api/cap body json request-header x-capability query none\n"
    "allow GET /api/rated rate 2/min\n"
    "allow HEAD /api/agents/me\n"
    "allow OPTIONS /api/free\n"
    "allow POST /api/free\n";

static struct {
	struct event_base *base;
	struct bufferevent *pair[2];	/* [0] the child's link to the parent */
	struct policy child[2];		/* compiled: issue unbound / bound */
	struct policy parent[2];	/* decoded by the parent's rules */
	struct pol_bindings bind[2];
	bool ready;
} fz;

static struct net N;
static struct http_req fuzz_req;
static struct qenv fuzz_env;		/* the queue way's request file */
static bool fuzz_queue;
static bool fuzz_req_has_body;		/* a non-empty body was forwarded */

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

	fz.base = event_base_new();
	if (fz.base == NULL ||
	    bufferevent_pair_new(fz.base, 0, fz.pair) != 0 ||
	    policy_binding_add(&fz.bind[1], "issue=BRI-7", why, sizeof(why)) != 0)
		abort();
	bufferevent_enable(fz.pair[0], EV_READ | EV_WRITE);
	bufferevent_enable(fz.pair[1], EV_READ | EV_WRITE);
	for (int b = 0; b < 2; b++) {
		struct wbuf w;
		struct msg_reader rd;
		struct msg_hdr h;

		policy_init(&fz.child[b]);
		policy_init(&fz.parent[b]);
		if (policy_compile("fuzz.policy", (const uint8_t *)fuzz_policy_text,
		    strlen(fuzz_policy_text), &fz.bind[b], 0, &fz.child[b],
		    fuzz_diag, NULL) != 0)
			abort();
		/* As MSG_POLICY carries it, decoded as mon_policy does. */
		wbuf_init(&w);
		msg_begin(&w, MSG_POLICY, 0);
		policy_encode(&fz.child[b], &w);
		if (msg_finish(&w) != 0 || msg_hdr_decode((uint8_t *)w.buf, &h) != 0)
			abort();
		msg_reader_init(&rd, (uint8_t *)w.buf + KH_WIRE_HDR,
		    w.len - KH_WIRE_HDR);
		if (policy_decode(&rd, &fz.bind[b], &fz.parent[b], why,
		    sizeof(why)) != 0) {
			fprintf(stderr, "fuzz policy: parent refuses: %s\n", why);
			abort();
		}
		wbuf_free(&w);
	}
	fz.ready = true;
}

/* Everything the child queued for the parent, drained into out. */
static void
fuzz_take_link(struct evbuffer *out)
{
	evbuffer_add_buffer(out, bufferevent_get_output(fz.pair[0]));
	evbuffer_add_buffer(out, bufferevent_get_input(fz.pair[1]));
}

/* The body as the child's conn_read.c would have it: the next
 * content-length bytes, or the chunked body decoded within the rule's
 * limit.  Returns false when the transport itself refuses or the input
 * ends first. */
static bool
fuzz_body(const uint8_t *p, size_t n, uint64_t limit, uint8_t **body,
    size_t *blen)
{
	*body = NULL;
	*blen = 0;
	if (fuzz_req.body == HTTP_BODY_NONE)
		return true;
	if (fuzz_req.body == HTTP_BODY_LENGTH) {
		if (fuzz_req.content_length > n)
			return false;
		*blen = (size_t)fuzz_req.content_length;
		if (*blen > 0 && (*body = malloc(*blen)) == NULL)
			abort();
		if (*blen > 0)
			memcpy(*body, p, *blen);
		return true;
	}
	struct http_limits lim = { KH_DEF_HEAD, KH_DEF_HEADERS, limit };
	struct http_chunked c;
	size_t off = 0, used, dlen;
	const uint8_t *d;
	int r = HTTP_NEED_MORE;

	if ((*body = malloc(n + 1)) == NULL)
		abort();
	http_chunked_init(&c, &lim);
	while (r == HTTP_NEED_MORE && off < n) {
		r = http_chunked_feed(&c, p + off, n - off, &used, &d, &dlen);
		if (dlen > 0)
			memcpy(*body + *blen, d, dlen);
		*blen += dlen;
		off += used;
	}
	if (r != HTTP_OK) {
		free(*body);
		*body = NULL;
		*blen = 0;
		return false;
	}
	return true;
}

/* The queue way: the body is the rest of the input (the gateway reads it
 * with the same framing code the http_parse harness covers); the
 * gateway's request file for the request, parsed by the host as
 * queue_process does, checked as queue_gate does before deciding.
 * Returns false when the host refuses the file or the transport answers
 * by itself; else *body is the envelope's body (owned by the caller). */
static bool
fuzz_queue_describe(const uint8_t *p, size_t n, bool base64,
    struct decide_req *q, struct decide_hdr *hdrs, uint8_t **body,
    size_t *blen)
{
	const struct qenv_limits ql = { N.max_body, KH_DEF_HEADERS };
	struct sbuf s;
	const char *why;
	int st;

	sbuf_init(&s, KH_QUEUE_ENVELOPE_MAX(KH_DEF_BODY));
	gw_envelope_build(&s, "0b6c8f4e-1d2a-4c1b-9e7f-3a5b6c7d8e9f",
	    &fuzz_req, p, n, base64, "2026-11-22T10:00:00.000Z");
	if (s.failed)
		abort();
	st = qenv_parse((const uint8_t *)s.buf, s.len, &ql, &fuzz_env, &why);
	sbuf_free(&s);
	/* The host refuses what the gateway wrote only for a method keyhole
	 * never forwards, or a body over its limit (413). */
	if (st != 0 && st != 413 &&
	    policy_method_valid(fuzz_req.method, strlen(fuzz_req.method)))
		abort();
	if (st != 0 || (fuzz_env.body_len > 0 &&
	    (strcmp(fuzz_env.method, "GET") == 0 ||
	    strcmp(fuzz_env.method, "HEAD") == 0)))
		return false;	/* queue_gate's 400 / the host's 413 */
	queue_describe(&fuzz_env, "queue:0b6c8f4e", q, hdrs);
	*body = fuzz_env.body;		/* decide_forward takes it over */
	*blen = fuzz_env.body_len;
	fuzz_env.body = NULL;
	return true;
}

static void
fuzz_check_refusal(const struct decide_verdict *v, struct evbuffer *link)
{
	char *json;
	cJSON *j;

	fuzz_take_link(link);
	if (evbuffer_get_length(link) != 0 || v->status < 400 || v->status > 599)
		abort();
	json = decide_json(v);
	j = json != NULL ? cJSON_Parse(json) : NULL;
	if (j == NULL || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j,
	    "error")))
		abort();
	cJSON_Delete(j);
	cJSON_free(json);
}

/* A Content-Type as the upstream's parser reads it (npm content-type 2,
 * body-parser 2): the type before the first ';', OWS-trimmed and
 * lower-cased; then "name=value" parameters, the name lower-cased, a
 * quoted value unescaped, the first of a repeated name kept. */
struct fz_ct {
	char type[256];
	char charset[256];	/* lower-cased, as getCharset() does */
	char boundary[256];
	bool has_charset, has_boundary, other;
};

static void
fuzz_ct_value(const char *v, size_t n, size_t *i, char *out, size_t cap)
{
	size_t k = 0;

	while (*i < n && (v[*i] == ' ' || v[*i] == '\t'))
		(*i)++;
	if (*i < n && v[*i] == '"') {
		for ((*i)++; *i < n && v[*i] != '"'; (*i)++) {
			if (v[*i] == '\\' && *i + 1 < n)
				(*i)++;
			if (k + 1 < cap)
				out[k++] = v[*i];
		}
		while (*i < n && v[*i] != ';')
			(*i)++;
	} else {
		size_t s = *i;
		while (*i < n && v[*i] != ';')
			(*i)++;
		size_t e = *i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		for (; s < e && k + 1 < cap; s++)
			out[k++] = v[s];
	}
	out[k] = '\0';
}

static void
fuzz_ct_parse(const char *v, size_t n, struct fz_ct *ct)
{
	size_t i = 0, s, e, k = 0;

	memset(ct, 0, sizeof(*ct));
	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	s = i;
	while (i < n && v[i] != ';')
		i++;
	e = i;
	while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
		e--;
	for (; s < e && k + 1 < sizeof(ct->type); s++)
		ct->type[k++] = (char)tolower((unsigned char)v[s]);
	while (i < n) {
		char name[64], val[256];
		size_t nl = 0;
		i++;			/* the ';' */
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		while (i < n && v[i] != '=' && v[i] != ';') {
			if (nl + 1 < sizeof(name))
				name[nl++] = (char)tolower((unsigned char)v[i]);
			i++;
		}
		if (i == n || v[i] == ';')
			continue;	/* no '=': ignored */
		while (nl > 0 && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
			nl--;
		name[nl] = '\0';
		i++;
		fuzz_ct_value(v, n, &i, val, sizeof(val));
		if (strcmp(name, "charset") == 0 && !ct->has_charset) {
			for (size_t c = 0; val[c] != '\0'; c++)
				val[c] = (char)tolower((unsigned char)val[c]);
			memcpy(ct->charset, val, sizeof(val));
			ct->has_charset = true;
		} else if (strcmp(name, "boundary") == 0 && !ct->has_boundary) {
			memcpy(ct->boundary, val, sizeof(val));
			ct->has_boundary = true;
		} else if (strcmp(name, "charset") != 0 &&
		    strcmp(name, "boundary") != 0) {
			ct->other = true;
		}
	}
}

static bool
fuzz_ct_is_json(const char *t)
{
	size_t l = strlen(t);

	return strcmp(t, "application/json") == 0 ||
	    (l > 5 && strcmp(t + l - 5, "+json") == 0);
}

/* The client's Content-Type (HTTP field, or the request file's header). */
static bool
fuzz_client_ctype(const char **v, size_t *n)
{
	if (fuzz_queue) {
		for (size_t i = 0; i < fuzz_env.nheaders; i++)
			if (fuzz_env.headers[i].nlen == 12 && strncasecmp(
			    fuzz_env.headers[i].name, "content-type", 12) == 0) {
				*v = fuzz_env.headers[i].value;
				*n = fuzz_env.headers[i].vlen;
				return true;
			}
		return false;
	}
	for (size_t i = 0; i < fuzz_req.nfields; i++)
		if (fuzz_req.fields[i].nlen == 12 && strncasecmp(
		    (const char *)fuzz_req.fields[i].name, "content-type",
		    12) == 0) {
			*v = (const char *)fuzz_req.fields[i].value;
			*n = fuzz_req.fields[i].vlen;
			return true;
		}
	return false;
}

/* What the upstream decodes is what keyhole checked (see the header). */
static void
fuzz_check_upstream_view(const struct pol_rule *rule,
    const struct curl_slist *fwd, const uint8_t *body, size_t blen)
{
	const char *fv = NULL, *cv;
	size_t cn;
	struct fz_ct f, c;
	bool json;

	for (; fwd != NULL; fwd = fwd->next) {
		if (strncmp(fwd->data, "content-encoding", 16) == 0)
			abort();
		if (strncmp(fwd->data, "content-type: ", 14) == 0)
			fv = fwd->data + 14;
	}
	if (fv != NULL) {
		if (!fuzz_client_ctype(&cv, &cn))
			abort();	/* invented */
		fuzz_ct_parse(fv, strlen(fv), &f);
		fuzz_ct_parse(cv, cn, &c);
		if (strcmp(f.type, c.type) != 0 || f.other ||
		    f.has_charset != c.has_charset ||
		    strcmp(f.charset, c.charset) != 0 ||
		    (f.has_charset && strcmp(f.charset, "utf-8") != 0) ||
		    f.has_boundary != c.has_boundary ||
		    strcmp(f.boundary, c.boundary) != 0) {
			fprintf(stderr, "upstream reads content-type '%s', the "
			    "client sent '%.*s'\n", fv, (int)cn, cv);
			abort();
		}
	}
	json = (fv != NULL && fuzz_ct_is_json(f.type)) ||
	    (rule->flags & POL_BODY_JSON) || rule->nkeys > 0;
	if (blen == 0 || !json)
		return;
	if (!fuzz_json_text(body, blen) || (rule->nkeys > 0 &&
	    !fuzz_json_keys_listed(body, blen,
	    (const char (*)[KH_POLICY_KEY_MAX + 1])rule->keys, rule->nkeys))) {
		fprintf(stderr, "forwarded a body the upstream parses as JSON "
		    "that keyhole did not check as such\n");
		abort();
	}
}

/* Each forwarded "name: value" / "name;" line is a field of the request
 * (content-type: fuzz_check_upstream_view). */
static void
fuzz_check_header(const char *line)
{
	const char *colon = strpbrk(line, ":;");
	size_t nl, vl;
	const char *v;

	if (colon == NULL)
		abort();
	nl = (size_t)(colon - line);
	if (*colon == ';') {
		v = "";
		if (colon[1] != '\0')
			abort();
	} else {
		if (colon[1] != ' ')
			abort();
		v = colon + 2;
	}
	vl = strlen(v);
	if (nl == 12 && strncmp(line, "content-type", 12) == 0)
		return;
	if (fuzz_queue) {
		for (size_t i = 0; i < fuzz_env.nheaders; i++) {
			const struct qenv_header *h = &fuzz_env.headers[i];
			if (h->nlen == nl && strncasecmp(h->name, line, nl) == 0 &&
			    h->vlen == vl && memcmp(h->value, v, vl) == 0)
				return;
		}
		abort();
	}
	for (size_t i = 0; i < fuzz_req.nfields; i++) {
		const struct http_field *f = &fuzz_req.fields[i];
		if (f->nlen == nl &&
		    strncasecmp((const char *)f->name, line, nl) == 0 &&
		    f->vlen == vl && memcmp(f->value, v, vl) == 0)
			return;
	}
	abort();
}

/* A field the matched rule allows (the parent's own judgement, names
 * case-folded here) is among the forwarded lines with its exact value. */
static void
fuzz_check_field_forwarded(const struct policy *pol,
    const struct pol_rule *rule, const struct decide_hdr *h,
    const struct curl_slist *fwd)
{
	char name[KH_HNAME_MAX + 1];

	if (h->nlen > KH_HNAME_MAX)
		return;
	for (size_t k = 0; k < h->nlen; k++)
		name[k] = (char)(h->name[k] >= 'A' && h->name[k] <= 'Z' ?
		    h->name[k] + 32 : h->name[k]);
	name[h->nlen] = '\0';
	if (!policy_rule_header_allowed(pol, rule, name, h->nlen) ||
	    policy_header_forbidden(name, h->nlen))
		return;
	if (strcmp(name, "content-type") == 0) {
		/* Forwarded as the parent writes it, when it is one keyhole
		 * accepts for the rule (and for a body it must be). */
		bool any = false;
		for (; fwd != NULL; fwd = fwd->next)
			any |= strncmp(fwd->data, "content-type: ", 14) == 0;
		if (!any && fuzz_req_has_body)
			abort();
		return;
	}
	for (; fwd != NULL; fwd = fwd->next) {
		const char *l = fwd->data;
		if (strncmp(l, name, h->nlen) != 0)
			continue;
		if (h->vlen == 0 ? strcmp(l + h->nlen, ";") == 0 :
		    (strncmp(l + h->nlen, ": ", 2) == 0 &&
		    strlen(l + h->nlen + 2) == h->vlen &&
		    memcmp(l + h->nlen + 2, h->value, h->vlen) == 0))
			return;
	}
	fprintf(stderr, "allowed field %s not forwarded\n", name);
	abort();
}

static void
fuzz_check_forwarded(struct evbuffer *link, uint32_t used, uint64_t max_body,
    int b, const struct decide_req *q)
{
	struct msg_hdr h;
	struct msg_reader rd;
	struct req_checked ck;
	struct up_req *r;
	const char *why = NULL;
	size_t len;
	uint8_t *frame;

	fuzz_take_link(link);
	len = evbuffer_get_length(link);
	frame = evbuffer_pullup(link, -1);
	if (len < KH_WIRE_HDR || frame == NULL ||
	    msg_hdr_decode(frame, &h) != 0 || h.type != MSG_REQUEST ||
	    h.length != len - KH_WIRE_HDR || h.id == 0)
		abort();
	msg_reader_init(&rd, frame + KH_WIRE_HDR, len - KH_WIRE_HDR);
	if (request_check(&fz.parent[b], max_body, used, &rd, &ck, &why) != 0) {
		fprintf(stderr, "parent refuses what the child forwarded: %s "
		    "(%s %s)\n", why, fuzz_req.method, fuzz_req.path);
		abort();
	}
	/* What libcurl would be given (upstream_req.c), as monitor.c makes
	 * it from the checked request. */
	if ((r = calloc(1, sizeof(*r))) == NULL || up_req_fill(r, h.id, &ck) < 0)
		abort();
	/* q is the transport's view: fuzz_req itself on HTTP, the request
	 * file on the queue way. */
	if (strcmp(r->method, q->method) != 0 ||
	    strlen(ck.path) != q->path_len ||
	    memcmp(ck.path, q->path, q->path_len) != 0 ||
	    ck.has_query != q->has_query || strlen(ck.query) != q->query_len ||
	    memcmp(ck.query, q->query, q->query_len) != 0 ||
	    strcmp(r->method, fuzz_req.method) != 0 ||
	    strcmp(ck.path, fuzz_req.path) != 0 ||
	    strcmp(ck.query, fuzz_req.query) != 0 ||
	    /* a request file has no '?' without a query */
	    ck.has_query != (fuzz_queue ? fuzz_req.query_len > 0 :
	    fuzz_req.has_query) ||
	    r->body_len != q->body_len ||
	    (q->body_len > 0 && memcmp(r->body, q->body, q->body_len) != 0))
		abort();
	for (struct curl_slist *s = r->hdrs; s != NULL; s = s->next)
		fuzz_check_header(s->data);
	fuzz_check_upstream_view(ck.rule, r->hdrs, r->body, r->body_len);
	/* ... and every field the rule lets through is forwarded. */
	for (size_t i = 0; i < q->nhdrs; i++)
		fuzz_check_field_forwarded(&fz.parent[b], ck.rule, &q->hdrs[i],
		    r->hdrs);
	up_req_free(r);
	evbuffer_drain(link, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t bodies[] = { 0, 64, 4096, KH_DEF_BODY };
	struct decide_hdr hdrs[KH_HEADERS_MAX];
	struct decide_req q;
	struct decide_verdict v;
	struct evbuffer *link;
	size_t head_len, blen;
	uint8_t *body;
	uint32_t used;
	uint8_t cfg;
	int b;

	if (!fz.ready)
		fuzz_init();
	if (size < 1)
		return 0;
	cfg = data[0];
	used = cfg & 3;
	b = (data[0] >> 4) & 1;
	memset(&N, 0, sizeof(N));
	N.base = fz.base;
	N.parent = fz.pair[0];
	N.policy = fz.child[b];		/* borrowed: never freed here */
	N.cfg.max_body = bodies[(data[0] >> 2) & 3];
	N.cfg.max_inflight = 8;
	N.max_body = policy_body_limit_any(&N.policy, N.cfg.max_body);
	N.shutting_down = (data[0] >> 5) & 1;
	if (budget_init(&N.budget, &N.policy, used, (uint64_t)util_now_ms()) != 0)
		abort();
	struct http_limits lim = { KH_DEF_HEAD, KH_DEF_HEADERS, N.max_body };
	data++;
	size--;
	link = evbuffer_new();
	if (link == NULL)
		abort();
	if (http_head_end(data, size, &lim, &head_len) != HTTP_OK ||
	    http_head_parse(data, head_len, &lim, &fuzz_req) != HTTP_OK)
		goto out;
	fuzz_queue = (cfg >> 6) & 1;
	if (fuzz_queue) {
		if (!fuzz_queue_describe(data + head_len, size - head_len,
		    (cfg >> 7) & 1, &q, hdrs, &body, &blen))
			goto out;
		if (decide_head(&N, &q, &v) != 0 ||
		    decide_body(&N, &q, &v) != 0) {
			free(body);
			fuzz_check_refusal(&v, link);
			goto out;
		}
	} else {
		gate_describe(&fuzz_req, "127.0.0.1:4000", NULL, 0, &q, hdrs);
		if (decide_head(&N, &q, &v) != 0) {
			fuzz_check_refusal(&v, link);
			goto out;
		}
		if (!fuzz_body(data + head_len, size - head_len, v.body_limit,
		    &body, &blen))
			goto out;	/* the transport's own 400/413, or input ended */
		gate_describe(&fuzz_req, "127.0.0.1:4000", body, blen, &q, hdrs);
		if (decide_body(&N, &q, &v) != 0) {
			free(body);
			fuzz_check_refusal(&v, link);
			goto out;
		}
	}
	/* decide_forward takes the body over; keep a copy to compare. */
	uint8_t *sent = blen > 0 ? malloc(blen) : NULL;
	if (blen > 0 && sent == NULL)
		abort();
	if (blen > 0)
		memcpy(sent, body, blen);
	q.body = sent;
	fuzz_req_has_body = blen > 0;
	struct pending *p = decide_forward(&N, &q, body, &v);
	if (p == NULL)
		fuzz_check_refusal(&v, link);
	else
		fuzz_check_forwarded(link, used, N.cfg.max_body, b, &q);
	free(sent);
	while (N.pending != NULL) {
		struct pending *next = N.pending->next;
		free(N.pending);
		N.pending = next;
	}
out:
	if (fuzz_queue)
		qenv_free(&fuzz_env);
	fuzz_queue = false;
	evbuffer_free(link);
	budget_free(&N.budget);
	return 0;
}
