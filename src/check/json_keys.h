/*
 * keyhole top-level JSON keys, without a parser (json_keys.c).
 *
 * The parent repeats the child's `keys` check with this: one pass, no
 * allocation, no recursion, no state beyond the call, reading nothing
 * outside p[0..n) whatever the input (SECURITY.md says why the parent
 * may run it on bytes a sandbox sent).  The child's own check
 * (body_check.c, cJSON) and this one must agree on every body the child
 * accepts (tests/fuzz/fuzz_body_check.c, fuzz_forward_agreement.c).
 */
#ifndef KH_JSON_KEYS_H
#define KH_JSON_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "kh_limits.h"

enum json_keys_verdict {
	JSON_KEYS_OK = 0,	/* an object; every top-level key listed */
	JSON_KEYS_NOT_OBJECT,	/* the text is not an object */
	JSON_KEYS_OTHER,	/* a key not listed (or not JSON at all) */
};

/*
 * Is p[0..n) a JSON object whose every top-level key, escapes decoded,
 * is one of keys[0..nkeys)?  Meant for a text json_check() accepted; a
 * key holding anything but ASCII 0x01..0x7f, or longer than
 * KH_POLICY_KEY_MAX, matches no listed key (a `keys` list names ASCII
 * keys only: policy_key_valid).
 */
enum json_keys_verdict json_keys_check(const uint8_t *p, size_t n,
    const char (*keys)[KH_POLICY_KEY_MAX + 1], size_t nkeys);

#endif
