/*
 * keyhole answers: what the parent tells the child (and so the client)
 * about a request it forwarded, and what the access log says about it.
 *
 * SECURITY.md I6: every accepted request gets exactly one answer, and the
 * answer tells the truth.  A request whose method is not safe
 * (util_method_safe: POST, PUT, PATCH, DELETE, ...) and that may have
 * reached the upstream is never answered with a status a client would
 * retry blindly (502, 503, 504): it gets 409 with
 * `x-paperclip-bridge-outcome: indeterminate` and says why.  Only what
 * certainly never left keyhole (no byte of the request written) keeps a
 * plain 502/503/504, for every method.  Every answer names its cause
 * ("reset", "closed", "cut short", "timed out", ...): a reset is not a
 * timeout.  An upstream status the child may not write (a 1xx as the final
 * answer, anything outside 200..599) never reaches it: the child would
 * take it for an attack and exit, dropping every request in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "audit.h"
#include "log.h"
#include "metrics.h"
#include "paperclip.h"
#include "priv.h"
#include "util.h"

/* Per result (paperclip.h): the answer for a safe method or a request
 * that was never sent, and the 409 for a mutation that may have taken
 * effect (PC_COUNT: the result implies nothing was sent). */
static const struct {
	enum pc_id plain;
	enum pc_id maybe;
} answer_table[UP_RESULT_COUNT] = {
	/* Never looked up for UP_OK (answer_request sends the response). */
	[UP_OK] = { PC_UP_FAILED, PC_UP_FAILED_SENT },
	[UP_UNREACHABLE] = { PC_UP_UNREACHABLE, PC_COUNT },
	[UP_TIMEOUT_UNSENT] = { PC_UP_TIMEOUT_UNSENT, PC_COUNT },
	[UP_TIMEOUT_SENT] = { PC_UP_TIMEOUT, PC_UP_TIMEOUT_SENT },
	[UP_RESET] = { PC_UP_RESET, PC_UP_RESET_SENT },
	[UP_CLOSED] = { PC_UP_CLOSED, PC_UP_CLOSED_SENT },
	[UP_CUT] = { PC_UP_CUT, PC_UP_CUT_SENT },
	[UP_BAD_RESPONSE] = { PC_UP_INVALID, PC_UP_INVALID_SENT },
	[UP_BAD_STATUS] = { PC_UP_STATUS, PC_UP_STATUS_SENT },
	[UP_TOO_LARGE] = { PC_UP_TOO_LARGE, PC_UP_TOO_LARGE_SENT },
	[UP_FAILED] = { PC_UP_FAILED, PC_UP_FAILED_SENT },
	[UP_CANCELLED] = { PC_SHUTTING_DOWN, PC_UP_SHUTDOWN_SENT },
};

enum { ANSWER_NOW = 0, ANSWER_HOLD, ANSWER_HOLD_SYNC };

/* One MSG_RESPONSE to the child, whole or not at all (wire_send).  With
 * own_body, body is the caller's malloc'd buffer, handed over here: it
 * follows the frame's head by reference, not copied (an upstream response
 * costs the parent one buffer, not three), and is freed once written.
 * hold: the frame waits for the audit records appended so far to be
 * written (ANSWER_HOLD), and fdatasync'ed (ANSWER_HOLD_SYNC: the answer
 * to a mutation), audit.h; it goes out at once when there is no audit
 * log.
 * Returns 0, or -1 with nothing sent (body freed when owned). */
static int
answer_frame(struct child *c, uint64_t id, int status,
    const struct up_hdr *hdrs, size_t nhdrs, uint8_t *body, size_t blen,
    bool own_body, int hold)
{
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_RESPONSE, id);
	msg_put_u16(&w, (uint16_t)status);
	msg_put_u16(&w, (uint16_t)nhdrs);
	for (size_t i = 0; i < nhdrs; i++) {
		msg_put_cstr(&w, hdrs[i].name);
		msg_put_str(&w, hdrs[i].value, hdrs[i].vlen);
	}
	msg_put_blob_deferred(&w, blen);
	if (wire_send_buf(hold ? audit_hold(c, hold == ANSWER_HOLD_SYNC) :
	    bufferevent_get_output(c->bev), &w, body, blen, own_body) == 0)
		return 0;
	log_error("internal: could not frame a message to the child");
	return -1;
}

/* The headers of a contract answer: content-type, and the indeterminate
 * outcome's header where the entry has one (paperclip.h).  Returns how
 * many (h holds 2). */
static size_t
answer_contract_hdrs(enum pc_id pid, struct up_hdr *h)
{
	size_t n = 0;

	strcpy(h[n].name, "content-type");
	h[n].value = (char *)"application/json";
	h[n].vlen = strlen(h[n].value);
	n++;
	if (pc_table[pid].flags & PC_INDETERMINATE) {
		strcpy(h[n].name, PC_OUTCOME_HEADER);
		h[n].value = (char *)PC_OUTCOME_VALUE;
		h[n].vlen = strlen(h[n].value);
		n++;
	}
	return n;
}

void
answer_refused_with(struct child *c, uint64_t id,
    const struct req_checked *ck, int status, const struct up_hdr *hdrs,
    size_t nhdrs, const uint8_t *body, size_t blen, const char *why)
{
	struct log_access a;
	char rule[64];
	bool held = audit_refused(c->gen, id, ck, status, why, body, blen);

	(void)answer_frame(c, id, status, hdrs, nhdrs,
	    (uint8_t *)(uintptr_t)body, blen, false,
	    held ? ANSWER_HOLD : ANSWER_NOW);
	snprintf(rule, sizeof(rule), "policy:%u %s", ck->rule->line, why);
	memset(&a, 0, sizeof(a));
	a.id = id;
	a.peer = ck->peer;
	a.method = ck->method;
	a.path = ck->path;
	a.rule = rule;
	a.status = status;
	a.bytes_in = ck->body_len;
	a.bytes_out = blen;
	a.upstream_ms = -1;
	a.gen = c->gen->number;
	log_access("keyhole", kh_parent->pid, &a);
}

void
answer_refused(struct child *c, uint64_t id, const struct req_checked *ck,
    enum pc_id pid, const char *why)
{
	char json[PC_FIXED_BODY_MAX];
	struct up_hdr h[2];
	size_t n = answer_contract_hdrs(pid, h);
	size_t jl = pc_fixed_body(pid, json, sizeof(json));

	answer_refused_with(c, id, ck, pc_table[pid].status, h, n,
	    (const uint8_t *)json, jl, why);
}

/* A contract answer to a forwarded request (held for its record). */
static void
answer_contract(struct child *c, uint64_t id, enum pc_id pid, int hold)
{
	char json[PC_FIXED_BODY_MAX];
	struct up_hdr h[2];
	size_t n = answer_contract_hdrs(pid, h);
	size_t jl = pc_fixed_body(pid, json, sizeof(json));

	(void)answer_frame(c, id, pc_table[pid].status, h, n,
	    (uint8_t *)(uintptr_t)json, jl, false, hold);
}

/* The answer to a request the upstream did not answer normally: the 409
 * of a mutation that may have taken effect, or the plain one. */
static enum pc_id
answer_for(enum up_result res, bool safe, bool sent)
{
	if ((unsigned)res >= UP_RESULT_COUNT)
		res = UP_FAILED;
	if (!safe && answer_table[res].maybe != PC_COUNT &&
	    (res != UP_CANCELLED || sent))
		return answer_table[res].maybe;
	return answer_table[res].plain;
}

int
answer_error_for(enum up_result res, bool safe, bool sent, char *json,
    size_t cap, bool *indeterminate)
{
	enum pc_id pid = answer_for(res, safe, sent);

	*indeterminate = (pc_table[pid].flags & PC_INDETERMINATE) != 0;
	pc_fixed_body(pid, json, cap);
	return pc_table[pid].status;
}

static void
answer_log(struct up_req *r, int status, size_t out)
{
	struct log_access a;
	char rule[32];

	snprintf(rule, sizeof(rule), "policy:%u", r->rule_line);
	a.id = r->id;
	a.peer = r->peer;
	a.method = r->method;
	a.path = r->path;
	a.rule = rule;
	a.status = status;
	a.bytes_in = r->body_len;
	a.bytes_out = out;
	a.upstream_ms = supervise_now_ms() - r->started_ms;
	a.gen = r->gen;
	log_access("keyhole", kh_parent->pid, &a);
	metrics_answered(kh_parent->metrics, r->peer, r->rule_line, status,
	    r->body_len, out, a.upstream_ms);
}

/* Answer the child for r and write its access-log line (and its audit
 * record, which the answer waits for). */
static void
answer_request(struct child *c, struct up_req *r, enum up_result res)
{
	char json[PC_FIXED_BODY_MAX];
	uint8_t dg[32];
	bool indet;
	int status;
	size_t out;
	/* A mutation's answer waits for its record to be on disk. */
	int hold = util_method_safe(r->method) ? ANSWER_HOLD :
	    ANSWER_HOLD_SYNC;

	/* The last check before the wire: the child writes only a final
	 * status, and refuses anything else as an attack. */
	if (res == UP_OK && (r->status < 200 || r->status > 599)) {
		res = UP_BAD_STATUS;
		r->sent = true;
	}
	if (res == UP_OK) {
		status = (int)r->status;
		out = r->resp_len;
		uint8_t *body = r->resp_body;
		r->resp_body = NULL;	/* answer_frame owns it now */
		r->resp_len = r->resp_cap = 0;
		audit_digest(body, out, dg);	/* before the frame owns it */
		if (answer_frame(c, r->id, status, r->resp_hdrs, r->nresp_hdrs,
		    body, out, true, hold) < 0)
			/* Still exactly one answer: the short error frame. */
			res = UP_FAILED;
	}
	if (res != UP_OK) {
		enum pc_id pid = answer_for(res, util_method_safe(r->method),
		    r->sent);
		status = pc_table[pid].status;
		indet = (pc_table[pid].flags & PC_INDETERMINATE) != 0;
		out = pc_fixed_body(pid, json, sizeof(json));
		audit_digest((const uint8_t *)json, out, dg);
		answer_contract(c, r->id, pid, hold);
		log_warn("request id=%llu %s %s: upstream %s%s%s%s; answered "
		    "%d%s", (unsigned long long)r->id, r->method, r->path,
		    up_result_name(res), r->why ? " (" : "",
		    r->why ? r->why : "", r->why ? ")" : "", status,
		    indet ? " indeterminate" : "");
	}
	audit_forwarded(r, res, status, out, dg);
	answer_log(r, status, out);
}

static void
answer_unlink(struct child *c, struct up_req *r)
{
	for (struct up_req **pp = &c->inflight; *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			c->ninflight--;
			return;
		}
	}
}

void
monitor_upstream_done(struct up_req *r, enum up_result res)
{
	struct child *c = r->owner;

	answer_unlink(c, r);
	answer_request(c, r, res);
	up_req_free(r);
}

/*
 * End every request of c still upstream.  answer: the drain deadline,
 * each is answered (503, or 409 indeterminate for a mutation that was
 * sent).  Otherwise the child is gone (exited, killed, or the parent is
 * stopping) and the clients' connections with it: nobody can be answered,
 * and the log says so, with status 0 in the access line and whether the
 * upstream had the request.
 */
void
monitor_abort_inflight(struct parent *p, struct child *c, bool answer)
{
	struct up_req *r;

	(void)p;
	while ((r = c->inflight) != NULL) {
		c->inflight = r->next;
		c->ninflight--;
		upstream_cancel(r);
		if (answer) {
			answer_request(c, r, UP_CANCELLED);
		} else {
			bool safe = util_method_safe(r->method);
			log_warn("request id=%llu %s %s: not answered: the child "
			    "is gone, and the client's connection with it; the "
			    "request %s", (unsigned long long)r->id, r->method,
			    r->path, !r->sent ? "had not been sent upstream" :
			    safe ? "had been sent upstream" : "had been sent "
			    "upstream and may have taken effect");
			audit_forwarded(r, UP_CANCELLED, 0, 0, NULL);
			answer_log(r, 0, 0);
		}
		up_req_free(r);
	}
}
