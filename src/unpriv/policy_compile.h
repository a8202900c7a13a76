/*
 * keyhole route policy compiler (child only): policy text -> struct policy.
 *
 * Policy language v1, one directive per line, '#' starts a comment that
 * runs to the end of the line, blank lines ignored, fields separated by
 * spaces or tabs:
 *
 *   allow METHOD PATTERN     METHOD: GET HEAD POST PUT PATCH DELETE OPTIONS
 *                            PATTERN: '/' alone (the root) or '/'-separated
 *                            segments, each a canonical literal segment or
 *                            '*' (exactly one non-empty segment)
 *   request-header NAME      forward this request header (repeatable; when
 *                            absent: accept, content-type, if-match,
 *                            if-none-match)
 *   response-header NAME     return this upstream response header
 *                            (repeatable; when absent: content-type, etag,
 *                            last-modified)
 *   max-body SIZE            request body limit: bytes, or with k/m suffix
 *                            (binary units), at most KH_BODY_MAX
 */
#ifndef KH_POLICY_COMPILE_H
#define KH_POLICY_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "policy_table.h"

/* Receives one diagnostic, already formatted "file:line: message". */
typedef void (*policy_diag_fn)(void *arg, const char *msg);

/* Compile text[0..len) read from `filename` (used only in messages).
 * Returns the number of errors (0 = success, *out filled; otherwise *out
 * is freed and empty).  Every error is reported through diag. */
int policy_compile(const char *filename, const uint8_t *text, size_t len,
    struct policy *out, policy_diag_fn diag, void *arg);

#endif
