/*
 * keyhole-net queue_v1 answers (queue_answer.c).
 *
 * An answer is written responses/<id>.json.tmp (O_CREAT|O_EXCL|
 * O_NOFOLLOW) then renamed into place, and only then is the claim,
 * processing/<id>.json, released: a crash in between finds the claim and
 * the answer both, and only releases the claim (never forwards again).
 * An answer that cannot be written (a full disk) is kept in memory and
 * written again every KH_QUEUE_ANSWER_RETRY_MS; its claim stays until
 * then.  Every answer the child makes itself also goes to the parent's
 * access log.
 */
#ifndef KH_QUEUE_ANSWER_H
#define KH_QUEUE_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kh_limits.h"
#include "paperclip.h"

/* <id>.json.tmp, the longest name keyhole makes in the queue. */
#define QUEUE_NAME_MAX (KH_QUEUE_ID_MAX + sizeof(".json.tmp"))

struct qenv;
struct decide_verdict;

/* {"id","status","headers":{…},"body","bodyEncoding"?,"completedAt"} as
 * responses/<id>.json, then the claim `name` is released (NULL: nothing
 * was claimed).  When it cannot be written now it is kept and written
 * later (queue_answer_held() counts those); the claim stays until then. */
void queue_answer_file(const char *id, const char *name, int status,
    const char *const *names, const char *const *values, const size_t *vlens,
    size_t nh, const uint8_t *body, size_t blen);

/* Answers kept for a retry: while there are any, claim nothing new. */
size_t queue_answer_held(void);

/* Remove the claim processing/<name>. */
void queue_answer_release(const char *name);

/* The child's own answer pid (paperclip.h: its status and message, and
 * the indeterminate outcome's fields and header where the entry has
 * them), written (or kept) as by queue_answer_file(), which releases the
 * claim `name` (NULL: nothing was claimed).  e: the request, when it was
 * parsed (for the log); reason: for the access log (NULL: the message). */
void queue_answer_error(const char *id, const char *name, enum pc_id pid,
    const struct qenv *e, const char *reason);

/* A refusal by the decision (decide.c): the status, JSON body and
 * retry-after the HTTP transport answers for the same request. */
void queue_answer_verdict(const char *id, const char *name,
    const struct qenv *e, const struct decide_verdict *v);

#endif
