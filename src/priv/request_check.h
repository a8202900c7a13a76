/*
 * keyhole parent: one MSG_REQUEST payload, decoded and re-checked against
 * the parent's own copy of the policy (SECURITY.md I3), before anything is
 * forwarded.  Pure (no allocation, no I/O, no parent state): it returns
 * what it validated, and upstream_req.c turns that into what libcurl
 * sends.  tests/fuzz/fuzz_forward_agreement.c runs exactly this code on
 * what an honest child sends: nothing the child lets through may fail
 * here (the parent kills a child that forwards a violation, so a
 * disagreement would let a hostile request crash-loop keyhole-net).
 *
 * Payload: str method, str path, u8 has_query, str query, str peer,
 * u16 nheaders, nheaders × (str name, str value), u8 media,
 * u8 media_flags, str boundary, blob body (wire.h).
 */
#ifndef KH_REQUEST_CHECK_H
#define KH_REQUEST_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kh_limits.h"
#include "policy_table.h"
#include "wire.h"

/* One forwarded header, as checked: a lower-case token on the global
 * allowlist or the rule's, never a forbidden name nor content-type, a
 * forwardable value.  Points into the frame. */
struct req_hdr {
	const char *name;
	size_t nlen;
	const char *value;
	size_t vlen;
};

/* What request_check() validated.  The strings are copies; hdrs,
 * boundary and body point into the frame (valid while the handler runs:
 * upstream_req.c copies what a transfer keeps). */
struct req_checked {
	char method[KH_METHOD_MAX + 1];
	char path[KH_PATH_MAX + 1];	/* canonical, NUL-terminated */
	size_t path_len;
	char query[KH_QUERY_MAX + 1];	/* without '?' */
	bool has_query;
	char peer[KH_PEER_MAX + 1];	/* printable, for the log */
	size_t nhdrs;
	struct req_hdr hdrs[KH_FWD_HEADERS_MAX];
	/* The body's media type, NULL for none: the parent's own copy of the
	 * rule's spelling (or "application/json"), with the checked charset
	 * flag (media.h) and boundary: upstream_req.c writes content-type
	 * from these alone. */
	const char *media;
	unsigned media_flags;
	const char *boundary;
	size_t blen;
	const uint8_t *body;
	size_t body_len;
	const struct pol_rule *rule;	/* the parent's own match */
	size_t ri;			/* ... its index (rate buckets) */
	bool counts;			/* a mutation under the policy's `max` */
};

/*
 * Decodes rd's payload and checks, in this order: method, canonical
 * path, query syntax; the parent's own policy match (with its own --var
 * values); the rule's `query none`; each header (lower-case token, on the
 * global allowlist or the rule's own, never a forbidden name and never
 * content-type, a forwardable value, no duplicate); the media fields (a
 * type the rule accepts, where the rule forwards content-type; no flag
 * but charset=utf-8; a valid boundary on a multipart type only); the body
 * blob within max_body and no trailing bytes; the body within the rule's
 * limit (0 for `body none`), present where the rule needs one, absent on
 * GET/HEAD; a body with a media type where content-type is forwarded,
 * one JSON text (json_check) when that type is JSON or the rule says
 * `body json` / `keys`, an object of listed keys only under `keys`
 * (json_keys_check); and a mutation only while mutations_used < the
 * policy's `max`.  (`rate` is not here: it needs the parent's clock and
 * buckets, and is answered 429, not a violation: monitor.c.)
 *
 * Fills *out.  Returns 0, or -1 with *why (a fixed string): the child
 * broke the protocol.  No allocation, no I/O, no state of the parent.
 */
int request_check(const struct policy *pol, uint64_t max_body,
    uint32_t mutations_used, struct msg_reader *rd, struct req_checked *out,
    const char **why);

#endif
