/*
 * keyhole audit log: the records (schema version AUDIT_VERSION; every
 * field is described in docs/keyhole-audit.5).
 *
 * A record is built in a fixed buffer (KH_AUDIT_LINE_MAX) with its fields
 * in a fixed order; every string is made printable ASCII (any other byte
 * becomes '?') and JSON-escaped, so a line is one JSON object with no
 * control byte and no '\n' in it.  What a record says comes from the
 * parent's own values (what request_check validated, what libcurl
 * returned, the parent's clock), except in a record with
 * "source":"child": those are the child's claims about a request it
 * answered itself (MSG_ACCESS), which the parent cannot check.  A query
 * and the bodies appear only as their size and SHA-256: never a body.
 * No field is made from the credential or the bridge token, and every
 * string is masked as log lines are (log_scrub), so neither appears even
 * where a sandbox put the token into a path.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit_int.h"
#include "json_out.h"
#include "log.h"
#include "util.h"

static const char *const audit_ev_names[AUDIT_EV_COUNT] = {
	[AUDIT_START] = "start",
	[AUDIT_STOP] = "stop",
	[AUDIT_DRAIN] = "drain",
	[AUDIT_RELOAD] = "reload",
	[AUDIT_CHILD_START] = "child-start",
	[AUDIT_CHILD_EXIT] = "child-exit",
	[AUDIT_CHILD_RESTART] = "child-restart",
	[AUDIT_CHILD_STUCK] = "child-stuck",
	[AUDIT_VIOLATION] = "violation",
	[AUDIT_BUDGET] = "budget",
	[AUDIT_RECOVER] = "recover",
	[AUDIT_ROTATE] = "rotate",
	[AUDIT_DROPPED] = "dropped",
};

/* Longest string kept from one event field, bytes. */
#define AUDIT_EV_STR_MAX 512u

static void
audit_line_raw(struct audit_line *l, const char *s, size_t n)
{
	if (l->off <= sizeof(l->buf) && n <= sizeof(l->buf) - l->off)
		memcpy(l->buf + l->off, s, n);
	l->off += n;		/* past the end: audit_line_end refuses it */
}

static void
audit_line_key_name(struct audit_line *l, const char *k)
{
	audit_line_raw(l, ",\"", 2);
	audit_line_raw(l, k, strlen(k));
	audit_line_raw(l, "\":", 2);
}

/* s[0..n) as a JSON string: printable ASCII, '"' and '\\' escaped. */
static void
audit_line_quoted(struct audit_line *l, const char *s, size_t n)
{
	size_t run = 0;

	audit_line_raw(l, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep;

		if (c == '"')
			rep = "\\\"";
		else if (c == '\\')
			rep = "\\\\";
		else if (c < 0x20 || c > 0x7e)
			rep = "?";
		else
			continue;
		audit_line_raw(l, s + run, i - run);
		audit_line_raw(l, rep, strlen(rep));
		run = i + 1;
	}
	audit_line_raw(l, s + run, n - run);
	audit_line_raw(l, "\"", 1);
}

void
audit_line_begin(struct audit_line *l, const char *type)
{
	struct audit *A = &audit_g;
	char t[JSON_ISO_LEN], prev[2 * AUDIT_HASH_LEN + 1];
	int n;

	json_iso8601_now(t);
	hex_lower(A->head, AUDIT_HASH_LEN, prev);
	n = snprintf(l->buf, sizeof(l->buf), AUDIT_PREFIX "%llu,\"time\":\"%s\","
	    "\"run\":\"%s\",\"prev\":\"%s\",\"type\":\"%s\"",
	    (unsigned long long)A->seq, t, A->run, prev, type);
	l->off = n > 0 ? (size_t)n : sizeof(l->buf) + 1;
}

/* Every string: printable, and neither the credential nor the bridge
 * token (registered with log_redact) in it, as in a log line (a sandbox
 * may put the token in a path, a peer is the child's claim). */
void
audit_line_strn(struct audit_line *l, const char *k, const char *v, size_t n)
{
	static char scratch[KH_PATH_MAX + 1];
	bool cut = n >= sizeof(scratch);

	if (cut)
		n = sizeof(scratch) - 1;
	if (n > 0)
		memcpy(scratch, v, n);
	log_sanitize(scratch, n);
	log_scrub(scratch, n, cut);
	audit_line_key_name(l, k);
	audit_line_quoted(l, scratch, n);
}

void
audit_line_str(struct audit_line *l, const char *k, const char *v)
{
	if (v == NULL) {
		audit_line_null(l, k);
		return;
	}
	audit_line_strn(l, k, v, strlen(v));
}

/* A string keyhole made itself (a name from a table, hex, base64): no
 * byte that needs escaping or masking. */
static void
audit_line_lit(struct audit_line *l, const char *k, const char *v)
{
	audit_line_key_name(l, k);
	audit_line_raw(l, "\"", 1);
	audit_line_raw(l, v, strlen(v));
	audit_line_raw(l, "\"", 1);
}

void
audit_line_int(struct audit_line *l, const char *k, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);

	audit_line_key_name(l, k);
	audit_line_raw(l, num, (size_t)n);
}

void
audit_line_bool(struct audit_line *l, const char *k, bool v)
{
	audit_line_key_name(l, k);
	audit_line_raw(l, v ? "true" : "false", v ? 4 : 5);
}

void
audit_line_null(struct audit_line *l, const char *k)
{
	audit_line_key_name(l, k);
	audit_line_raw(l, "null", 4);
}

void
audit_line_hex(struct audit_line *l, const char *k, const uint8_t *p,
    size_t n)
{
	char hex[2 * AUDIT_HASH_LEN + 1];

	if (n > AUDIT_HASH_LEN)
		n = AUDIT_HASH_LEN;
	hex_lower(p, n, hex);
	audit_line_key_name(l, k);
	audit_line_raw(l, "\"", 1);
	audit_line_raw(l, hex, 2 * n);
	audit_line_raw(l, "\"", 1);
}

bool
audit_line_end(struct audit_line *l)
{
	audit_line_raw(l, "}", 1);
	return l->off <= sizeof(l->buf);
}

void
audit_line_key(struct audit_line *l)
{
	audit_line_lit(l, "key", audit_g.key.fp_hex);
	audit_line_lit(l, "pubkey", audit_g.key.pub_b64);
}

/* The transport a request came by.  The parent's own configuration says
 * where it can: --connect serves nothing but that command's http2_v1
 * session (config_connect.c), whatever the child calls a stream ("connect:
 * <stream id>"); beside HTTP listeners, a request file is told by the peer
 * the child names ("queue:<id>"; an address or "unix" for HTTP), its
 * claim, and only when keyhole serves a queue at all. */
static const char *
audit_transport(const char *peer)
{
	const struct kh_config *cfg = audit_g.p->cfg;

	if (cfg->connect != NULL)
		return "http2_v1";
	if (cfg->queue_dir != NULL && strncmp(peer, "queue:", 6) == 0)
		return "queue";
	return "http";
}

static void
audit_line_request(struct audit_line *l, const char *source,
    const char *peer, uint64_t id, const char *method, size_t method_len,
    const char *path, size_t path_len)
{
	audit_line_begin(l, "request");
	audit_line_lit(l, "source", source);
	audit_line_lit(l, "transport", audit_transport(peer));
	audit_line_str(l, "peer", peer);
	audit_line_int(l, "id", (long long)id);
	audit_line_strn(l, "method", method, method_len);
	audit_line_strn(l, "path", path, path_len);
}

/* Append l, or count it as dropped when it does not fit (never expected:
 * every field is bounded). */
static bool
audit_line_commit(struct audit_line *l, bool sync, uint64_t *dropped)
{
	if (!audit_line_end(l)) {
		log_error("internal: an audit record longer than %u bytes",
		    KH_AUDIT_LINE_MAX);
		(*dropped)++;
		return false;
	}
	return audit_append(l, sync) == 0;
}

/* The policy that decided: its generation's digest and number. */
static void
audit_line_policy(struct audit_line *l, const uint8_t sha[AUDIT_HASH_LEN],
    uint64_t gen)
{
	audit_line_hex(l, "policy", sha, AUDIT_HASH_LEN);
	audit_line_int(l, "generation", (long long)gen);
}

void
audit_begin(struct up_req *r, const struct kh_gen *g,
    const struct req_checked *ck)
{
	if (!audit_g.on)
		return;
	memcpy(r->audit_policy, g->sha256, AUDIT_HASH_LEN);
	r->audit_has_query = ck->has_query;
	if (ck->has_query)
		sha256(ck->query, strlen(ck->query), r->audit_query);
}

void
audit_digest(const uint8_t *p, size_t n, uint8_t out[32])
{
	if (audit_g.on)
		sha256(p, n, out);
}

void
audit_forwarded(const struct up_req *r, enum up_result res, int status,
    size_t resp_len, const uint8_t resp_sha[32])
{
	struct audit *A = &audit_g;
	struct audit_line l;
	uint8_t d[AUDIT_HASH_LEN];

	if (!A->on)
		return;
	audit_line_request(&l, "parent", r->peer, r->id, r->method,
	    strlen(r->method), r->path, strlen(r->path));
	if (r->audit_has_query)
		audit_line_hex(&l, "query", r->audit_query, AUDIT_HASH_LEN);
	else
		audit_line_null(&l, "query");
	audit_line_int(&l, "rule", r->rule_line);
	audit_line_lit(&l, "decision", "forwarded");
	audit_line_lit(&l, "outcome", up_result_name(res));
	audit_line_bool(&l, "sent", r->sent);
	if (r->status > 0)
		audit_line_int(&l, "upstreamStatus", r->status);
	else
		audit_line_null(&l, "upstreamStatus");
	audit_line_int(&l, "upstreamMs", supervise_now_ms() - r->started_ms);
	audit_line_int(&l, "status", status);
	audit_line_int(&l, "reqBytes", (long long)r->body_len);
	sha256(r->body, r->body_len, d);
	audit_line_hex(&l, "reqSha256", d, AUDIT_HASH_LEN);
	audit_line_int(&l, "respBytes", (long long)resp_len);
	if (status != 0)
		audit_line_hex(&l, "respSha256", resp_sha, AUDIT_HASH_LEN);
	else
		audit_line_null(&l, "respSha256");
	audit_line_policy(&l, r->audit_policy, r->gen);
	/* A mutation's record is on disk before its answer goes out. */
	(void)audit_line_commit(&l, !util_method_safe(r->method),
	    &A->dropped_other);
}

/* While the log fails, what is pending is bounded: records of requests
 * nothing forwarded are counted instead of kept beyond the bound. */
static bool
audit_droppable_full(void)
{
	return audit_g.failing && audit_g.buf.len >= KH_AUDIT_PENDING_MAX;
}

bool
audit_refused(const struct kh_gen *g, uint64_t id,
    const struct req_checked *ck, int status, const char *why,
    const uint8_t *body, size_t blen)
{
	struct audit *A = &audit_g;
	struct audit_line l;
	uint8_t d[AUDIT_HASH_LEN];

	if (!A->on)
		return false;
	if (audit_droppable_full()) {
		A->dropped_other++;
		return false;
	}
	audit_line_request(&l, "parent", ck->peer, id, ck->method,
	    strlen(ck->method), ck->path, ck->path_len);
	if (ck->has_query) {
		sha256(ck->query, strlen(ck->query), d);
		audit_line_hex(&l, "query", d, AUDIT_HASH_LEN);
	} else {
		audit_line_null(&l, "query");
	}
	audit_line_int(&l, "rule", ck->rule->line);
	audit_line_lit(&l, "decision", "refused");
	audit_line_str(&l, "reason", why);
	audit_line_int(&l, "status", status);
	audit_line_int(&l, "reqBytes", (long long)ck->body_len);
	sha256(ck->body, ck->body_len, d);
	audit_line_hex(&l, "reqSha256", d, AUDIT_HASH_LEN);
	audit_line_int(&l, "respBytes", (long long)blen);
	sha256(body, blen, d);
	audit_line_hex(&l, "respSha256", d, AUDIT_HASH_LEN);
	audit_line_policy(&l, g->sha256, g->number);
	/* A refusal's answer waits for its record like any other, except
	 * while the log cannot be written: nothing happened that a crash
	 * could hide, and the client must not wait for the disk. */
	return audit_line_commit(&l, false, &A->dropped_other) && !A->failing;
}

void
audit_child(const struct kh_gen *g, const struct relay_record *a)
{
	struct audit *A = &audit_g;
	struct audit_line l;
	char peer[KH_PEER_MAX + 1];

	if (!A->on)
		return;
	if (audit_droppable_full() || !relay_take(&A->child_bucket,
	    KH_AUDIT_CHILD_PER_S, KH_AUDIT_CHILD_BURST, supervise_now_ms())) {
		A->dropped_child++;
		return;
	}
	snprintf(peer, sizeof(peer), "%.*s", (int)a->peer_len, a->peer);
	audit_line_request(&l, "child", peer, 0, a->method, a->method_len,
	    a->path, a->path_len);
	audit_line_null(&l, "query");
	audit_line_null(&l, "rule");
	audit_line_lit(&l, "decision", "refused");
	audit_line_strn(&l, "reason", a->reason, a->reason_len);
	audit_line_int(&l, "status", a->status);
	audit_line_int(&l, "reqBytes", (long long)a->bytes_in);
	audit_line_null(&l, "reqSha256");
	audit_line_int(&l, "respBytes", (long long)a->bytes_out);
	audit_line_null(&l, "respSha256");
	if (g != NULL) {
		audit_line_policy(&l, g->sha256, g->number);
	} else {
		audit_line_null(&l, "policy");
		audit_line_null(&l, "generation");
	}
	(void)audit_line_commit(&l, false, &A->dropped_child);
}

void
audit_event_v(enum audit_ev ev, const struct audit_field *f)
{
	struct audit *A = &audit_g;
	struct audit_line l;

	if (!A->on || A->closed || (unsigned)ev >= AUDIT_EV_COUNT)
		return;
	audit_line_begin(&l, "event");
	audit_line_lit(&l, "event", audit_ev_names[ev]);
	for (; f->type != AF_T_END; f++) {
		switch (f->type) {
		case AF_T_STR:
			if (f->s == NULL)
				audit_line_null(&l, f->name);
			else
				audit_line_strn(&l, f->name, f->s,
				    strnlen(f->s, AUDIT_EV_STR_MAX));
			break;
		case AF_T_INT:
			audit_line_int(&l, f->name, f->i);
			break;
		case AF_T_BOOL:
			audit_line_bool(&l, f->name, f->i != 0);
			break;
		case AF_T_END:
			break;
		}
	}
	if (ev == AUDIT_ROTATE)
		audit_line_key(&l);
	/* What changes the bridge itself is made durable at once. */
	(void)audit_line_commit(&l, ev == AUDIT_RECOVER || ev == AUDIT_ROTATE ||
	    ev == AUDIT_STOP || ev == AUDIT_RELOAD, &A->dropped_other);
}

int
audit_record_start(void)
{
	struct audit *A = &audit_g;
	const struct kh_config *cfg = A->p->cfg;
	struct audit_line l;

	audit_line_begin(&l, "event");
	audit_line_lit(&l, "event", "start");
	audit_line_str(&l, "version", KH_VERSION);
	audit_line_int(&l, "pid", (long long)getpid());
	audit_line_str(&l, "runId", cfg->run_id);
	audit_line_str(&l, "upstream", cfg->upstream);
	audit_line_str(&l, "policyFile", cfg->policy_file);
	audit_line_policy(&l, A->p->gen->sha256, A->p->gen->number);
	audit_line_key(&l);
	audit_line_int(&l, "checkpointRecords", A->ckpt_records);
	audit_line_int(&l, "checkpointSecs", A->ckpt_secs);
	audit_line_int(&l, "maxBytes", (long long)A->max_bytes);
	audit_line_lit(&l, "sync", A->sync_all ? "all" : "mutations");
	if (!audit_line_end(&l))
		return -1;
	return audit_append(&l, true);
}

void
audit_record_dropped(void)
{
	struct audit *A = &audit_g;

	if (A->dropped_child == 0 && A->dropped_other == 0)
		return;
	audit_event(AUDIT_DROPPED, AF_INT("childRecords", A->dropped_child),
	    AF_INT("otherRecords", A->dropped_other));
	A->dropped_child = A->dropped_other = 0;
	A->dropped_ms = supervise_now_ms();
}

int
audit_checkpoint(bool final)
{
	struct audit *A = &audit_g;
	struct audit_line l;
	char sig[AUDIT_SIG_B64_LEN + 1];

	audit_line_begin(&l, "checkpoint");
	audit_line_lit(&l, "key", A->key.fp_hex);
	audit_line_int(&l, "records", (long long)A->since_ckpt);
	audit_line_bool(&l, "final", final);
	if (l.off > sizeof(l.buf) - AUDIT_SIG_TAIL_LEN ||
	    audit_key_sign(&A->key, l.buf, l.off, sig) < 0) {
		log_error("audit: cannot sign a checkpoint");
		return -1;
	}
	audit_line_raw(&l, AUDIT_SIG_FIELD, sizeof(AUDIT_SIG_FIELD) - 1);
	audit_line_raw(&l, sig, AUDIT_SIG_B64_LEN);
	audit_line_raw(&l, "\"", 1);
	if (!audit_line_end(&l) || audit_append(&l, true) < 0)
		return -1;
	A->since_ckpt = 0;
	return 0;
}
