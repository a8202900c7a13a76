/*
 * keyhole parent: one MSG_REQUEST payload, decoded and re-checked against
 * the parent's own copy of the policy (Invariant 3), before anything is
 * forwarded.  Pure apart from allocation (no I/O, no parent state), so
 * tests/fuzz/fuzz_forward_agreement.c runs exactly this code on what an
 * honest child sends: nothing the child lets through may fail here (the
 * parent kills a child that forwards a violation, so a disagreement would
 * let a hostile request crash-loop keyhole-net).
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
#include "upstream.h"
#include "wire.h"

struct req_checked {
	char path[KH_PATH_MAX + 1];	/* canonical, NUL-terminated */
	char query[KH_QUERY_MAX + 1];	/* without '?' */
	bool has_query;
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
 * Fills r's method, path, peer (printable), rule_line, hdrs (curl list,
 * "name: value" / "name;", and "content-type: ..." written from the
 * media fields) and a copy of the body, and *out.  Returns 0, or -1 with
 * *why (a fixed string): the child broke the protocol.  r is the
 * caller's to free (up_req_free) either way.
 */
int request_check(const struct policy *pol, uint64_t max_body,
    uint32_t mutations_used, struct msg_reader *rd, struct up_req *r,
    struct req_checked *out, const char **why);

#endif
