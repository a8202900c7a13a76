/*
 * keyhole-net queue_v1 answers (queue_answer.c).
 *
 * An answer is written responses/<id>.json.tmp (O_CREAT|O_EXCL|
 * O_NOFOLLOW) then renamed into place, and only then is the claim,
 * processing/<id>.json, released: a crash in between finds the claim and
 * the answer both, and only releases the claim (never forwards again).
 * Every answer the child makes itself also goes to the parent's access
 * log.
 */
#ifndef KH_QUEUE_ANSWER_H
#define KH_QUEUE_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kh_limits.h"

/* <id>.json.tmp, the longest name keyhole makes in the queue. */
#define QUEUE_NAME_MAX (KH_QUEUE_ID_MAX + sizeof(".json.tmp"))

struct qenv;
struct decide_verdict;

/* {"id","status","headers":{…},"body","bodyEncoding"?,"completedAt"}.
 * Returns 0, or -1 (logged) when it could not be written. */
int queue_answer_write(const char *id, int status, const char *const *names,
    const char *const *values, const size_t *vlens, size_t nh,
    const uint8_t *body, size_t blen);

/* Remove the claim processing/<name>. */
void queue_answer_release(const char *name);

/* The child's own answer {"error": message}, with the indeterminate
 * outcome's fields and header when asked; then the claim `name` is
 * released (NULL: nothing was claimed).  e: the request, when it was
 * parsed (for the log); reason: for the access log (NULL: message). */
void queue_answer_error(const char *id, const char *name, int status,
    const char *message, bool indeterminate, const struct qenv *e,
    const char *reason);

/* A refusal by the decision (decide.c): the status, JSON body and
 * retry-after the HTTP transport answers for the same request. */
void queue_answer_verdict(const char *id, const char *name,
    const struct qenv *e, const struct decide_verdict *v);

#endif
