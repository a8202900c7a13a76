/*
 * keyhole-net body checks: what a rule's `body json` and `keys` ask of a
 * request body, and the JSON validity every JSON body must have.  Pure
 * functions over (const uint8_t *buf, size_t len); the parent never runs
 * them (it never parses JSON), so their verdicts are the child's alone.
 */
#ifndef KH_BODY_CHECK_H
#define KH_BODY_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "paperclip.h"
#include "policy_table.h"

struct body_verdict {
	int status;		/* 0 = accepted; else 400, 415 or 422 */
	enum pc_id id;		/* the answer (paperclip.h), when refused */
	const char *error;	/* its message, pc_table[id].text */
	char key[KH_POLICY_KEY_MAX * 4 + 1];	/* 422: first offending key
						 * (truncated), else "" */
};

/*
 * Check body[0..len) for rule r (NULL: no rule constraints).  is_json:
 * the request's media type is application/json.  A JSON body must be
 * exactly one JSON value (whitespace around it only), nest at most
 * KH_JSON_DEPTH_MAX levels and hold no \u0000 escape; `body json`
 * requires one; `keys` requires an object whose top-level keys are all
 * listed (422 naming the first that is not).
 */
void body_check(const struct pol_rule *r, bool is_json, const uint8_t *body,
    size_t len, struct body_verdict *v);

/* Depth and NUL-escape pre-scan of JSON text (no allocation): 0, or -1
 * too deep, or -2 a \u0000 escape.  Exposed for the unit tests. */
int body_json_prescan(const uint8_t *s, size_t len, unsigned max_depth);

#endif
