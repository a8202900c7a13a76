/*
 * keyhole-net decision: what the policy says about one request, whichever
 * transport brought it.  gate.c (HTTP) and queue.c (queue_v1 request
 * files) describe the request as a struct decide_req and turn a refusal
 * into their own answer; everything between is here, once, so a request
 * gets the same answer on both and the parent (which re-checks the rule's
 * query, body size, required body, headers, media type, JSON validity,
 * `keys` and `max`, and kills a child that forwards a violation; and
 * keeps its own `rate` buckets) never sees one from an honest child.
 *
 * In this order; the first refusal decides:
 *
 *   decide_head  (before any body byte is read)
 *     first matching rule; none                     403 Route not allowed
 *     the rule's `query none`                       403
 *     Content-Type given twice                      400
 *     a body on `body none` (or GET/HEAD)           400
 *     the body's media type (the rule's list, else
 *       application/json only)                      415
 *     a parameter but charset=utf-8 (and a boundary
 *       on multipart types): media_type.h           415
 *     a Content-Encoding other than identity        415
 *     announced length over the rule's max-body     413
 *     no body where `body json` / `keys` need one   400
 *     the rule's `rate`, the run's `max`            429
 *   decide_body  (the complete body)
 *     its length over the rule's max-body; a body
 *       on GET/HEAD (backstops: the transports
 *       refuse both before)                         413, 400
 *     JSON validity, depth, \u0000; `body json`,
 *       `keys` (body_check.c)                       400, 415, 422
 *     shutting down; requests in flight             503
 *     `rate` and `max` again (another request may
 *       have spent them meanwhile)                  429
 *   decide_forward
 *     headers reduced to the global allowlist plus
 *       the rule's own; a duplicate or a value that
 *       cannot be forwarded; too many               400, 431
 *     the budgets are charged and one MSG_REQUEST goes to the parent
 *     (link.c), the media type as its typed fields (never the client's
 *     content-type header: the parent writes that from the fields).
 *
 * The bridge token (HTTP) and the envelope checks (queue) come before,
 * in the transports: they are not the policy's.  Whatever passes
 * decide_body also passes every check the parent repeats (unit.test_decide
 * tries every combination of a set of requests).
 */
#ifndef KH_DECIDE_H
#define KH_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kh_limits.h"
#include "paperclip.h"

struct net;
struct pending;

struct decide_hdr {
	const char *name;	/* any case; compared case-insensitively */
	size_t nlen;
	const char *value;
	size_t vlen;
};

struct decide_req {
	const char *method;		/* NUL-terminated */
	const char *path;		/* canonical, NUL-terminated */
	size_t path_len;
	bool has_query;			/* a '?' was present, even if empty */
	const char *query;		/* without '?' */
	size_t query_len;
	const char *peer;		/* for the parent's log */
	const struct decide_hdr *hdrs;	/* as received, in order */
	size_t nhdrs;
	/* The body as announced by the head (decide_head) ... */
	bool has_body;			/* one is coming (chunked or length > 0) */
	bool len_known;			/* len is its exact length */
	uint64_t len;
	/* ... and as read (decide_body, decide_forward). */
	const uint8_t *body;
	size_t body_len;
};

struct decide_verdict {
	int status;			/* 0: go on; else the answer's status */
	int rule;			/* the matched rule, -1 for none */
	uint64_t body_limit;		/* that rule's body limit, bytes */
	uint32_t retry_after;		/* a rate's 429: seconds, else 0 */
	char message[PC_MESSAGE_MAX + 1];	/* "error" */
	char key[KH_POLICY_KEY_MAX * 4 + 1];	/* a 422's key, else "" */
};

/* Each returns v->status: 0 to go on, else the refusal in v. */
int decide_head(struct net *n, const struct decide_req *q,
    struct decide_verdict *v);
/* v->rule as decide_head left it. */
int decide_body(struct net *n, const struct decide_req *q,
    struct decide_verdict *v);
/* After decide_body: one MSG_REQUEST to the parent (link_send_request),
 * budgets charged.  body is q->body's heap buffer (or NULL when empty),
 * which this takes over in every case: it goes to the parent by
 * reference, not copied, and is freed once written, or at once on a
 * refusal.  Returns the pending request, already linked into n->pending
 * (the caller sets its done callback and owner before returning to the
 * event loop), or NULL with the refusal in v. */
struct pending *decide_forward(struct net *n, const struct decide_req *q,
    uint8_t *body, struct decide_verdict *v);

/* The answer's JSON body (paperclip.h's builder): {"error"} plus "key"
 * (422) or "retryAfter" (a rate's 429).  malloc'd (free it); NULL when
 * out of memory. */
char *decide_json(const struct decide_verdict *v);
/* This Content-Type value is one media_type_parse() accepts, of a JSON
 * type (application/json or +json): the body checks treat it as JSON. */
bool decide_ctype_is_json(const char *v, size_t len);
/* What the access log says about a refusal. */
const char *decide_reason(const struct decide_verdict *v);

#endif
