/*
 * keyhole route policy compiler (child only): policy text -> struct policy.
 *
 * The language (v2) is documented for operators in docs/policy.md and
 * keyhole.policy(5).  In short, one directive per line, '#' at the start
 * of a field starts a comment, fields separated by spaces or tabs:
 *
 *   allow METHOD PATTERN [CONSTRAINT VALUE]...
 *                            METHOD: GET HEAD POST PUT PATCH DELETE OPTIONS
 *                            PATTERN: '/' or '/'-separated segments, each
 *                            a canonical literal, '*' (one segment),
 *                            '{name}' (the value bound to name) or, last
 *                            only, '**' (one or more segments)
 *       body json|none       a JSON value is required / no body at all
 *       keys K1,K2,...       a JSON object whose top-level keys are listed
 *       content-type T1,...  accepted media types (default application/json)
 *       request-header H,... extra request headers forwarded on this route
 *       max-body SIZE        body limit for this route
 *       query none|any       whether a query string is allowed (any)
 *       rate N/s | N/min     requests per second or minute on this route
 *   request-header NAME      forward this request header on every route
 *                            (repeatable; default accept, content-type,
 *                            if-match, if-none-match)
 *   response-header NAME     return this upstream response header
 *                            (repeatable; default content-type, etag,
 *                            last-modified)
 *   max-body SIZE            default body limit: bytes, or k/m suffix
 *   max N                    at most N mutations (POST PUT PATCH DELETE)
 *                            per run, all routes together
 *   optional-var NAME        NAME may be left unbound: rules using it then
 *                            match nothing (instead of a start-up error)
 *
 * Diagnostics read "FILE:LINE:COL: message" (errors) or
 * "FILE:LINE:COL: warning: message" (a shadowed rule, an unused
 * declaration); every error is reported, so one run shows them all.
 */
#ifndef KH_POLICY_COMPILE_H
#define KH_POLICY_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy_table.h"

/* Receives one diagnostic, already formatted as above. */
typedef void (*policy_diag_fn)(void *arg, bool warning, const char *msg);

/* Compile flags. */
#define POLICY_LENIENT	0x1u	/* an unbound variable is not an error
				 * (check-policy and explain audit a policy
				 * without a run's values) */

/* Compile text[0..len) read from `filename` (used only in messages),
 * resolving {name} segments against `bind` (NULL: nothing bound).
 * Returns the number of errors (0 = success, *out filled; otherwise *out
 * is freed and empty).  Every error and warning goes through diag. */
int policy_compile(const char *filename, const uint8_t *text, size_t len,
    const struct pol_bindings *bind, unsigned flags, struct policy *out,
    policy_diag_fn diag, void *arg);

#endif
