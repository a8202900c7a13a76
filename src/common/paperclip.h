/*
 * keyhole's contract with the sandbox: every answer keyhole makes itself
 * (not one the upstream made), with its status and the message of its
 * JSON body, in one table (paperclip.c), and the one builder of those
 * bodies.  The child (HTTP and queue_v1), the parent and keyhole-gateway
 * answer from here and nowhere else; README.md's "Errors the sandbox
 * sees" lists the same entries, and unit.test_paperclip fails when the
 * two differ.  Where Paperclip's bridge has a wording (401, 403, 415,
 * 503 queue full, the queue's 400 and 413, the indeterminate outcome),
 * it is that wording.
 *
 * A body is {"error": message}, plus "key" (a 422 naming a key),
 * "retryAfter" (a rate's 429, with a retry-after header) or
 * "outcome":"indeterminate","retryable":false (a 409: the request may
 * have taken effect, with x-paperclip-bridge-outcome: indeterminate).
 * A message may hold the request's method, path, media type or key:
 * templates name them {method}, {path}, {type}, {key}, {count}, {period}
 * and {max}.
 */
#ifndef KH_PAPERCLIP_H
#define KH_PAPERCLIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kh_limits.h"

enum pc_id {
	/* HTTP/1.1 front end (the child and keyhole-gateway) */
	PC_HTTP_MALFORMED,
	PC_HTTP_METHOD,
	PC_HTTP_TIMEOUT,
	PC_HTTP_BODY_SLOW,
	PC_HTTP_TOO_LARGE,
	PC_HTTP_TARGET,
	PC_HTTP_EXPECT,
	PC_HTTP_FIELDS,
	PC_HTTP_UNKNOWN_METHOD,
	PC_HTTP_VERSION,
	/* the bridge token and the policy (the child, both transports) */
	PC_TOKEN,
	PC_ROUTE,
	PC_QUERY,
	PC_CTYPE_TWICE,
	PC_BODY_NOT_ALLOWED,
	PC_BODY_OBJECT,
	PC_BODY_VALUE,
	PC_JSON_ONLY,
	PC_CTYPE_ROUTE,
	PC_CTYPE_PARAM,
	PC_ENCODING,
	PC_JSON_DEEP,
	PC_JSON_NUL,
	PC_JSON_INVALID,
	PC_KEYS_OBJECT,
	PC_KEY,
	PC_KEY_UNNAMED,
	PC_RATE,
	PC_BUDGET,
	PC_HEADER_BAD,
	/* capacity (the child, the parent, keyhole-gateway) */
	PC_QUEUE_FULL,
	PC_TOO_MANY_CONNS,
	PC_SHUTTING_DOWN,
	PC_OUT_OF_MEMORY,
	PC_AUDIT_UNAVAILABLE,
	PC_INTERNAL,
	/* request files (queue_v1, the child) */
	PC_Q_INVALID,
	PC_Q_ENVELOPE,
	PC_Q_RESTARTED,
	PC_Q_RESTARTED_SENT,
	/* the upstream (the parent) */
	PC_UP_FAILED,
	PC_UP_FAILED_SENT,
	PC_UP_UNREACHABLE,
	PC_UP_TIMEOUT_UNSENT,
	PC_UP_TIMEOUT,
	PC_UP_TIMEOUT_SENT,
	PC_UP_RESET,
	PC_UP_RESET_SENT,
	PC_UP_CLOSED,
	PC_UP_CLOSED_SENT,
	PC_UP_CUT,
	PC_UP_CUT_SENT,
	PC_UP_INVALID,
	PC_UP_INVALID_SENT,
	PC_UP_STATUS,
	PC_UP_STATUS_SENT,
	PC_UP_TOO_LARGE,
	PC_UP_TOO_LARGE_SENT,
	PC_UP_SHUTDOWN_SENT,
	/* keyhole-gateway (in the sandbox) */
	PC_GW_BODY_LIMIT,
	PC_GW_OUT_OF_MEMORY,
	PC_GW_BODY_EXCEEDED,
	PC_GW_WRITE,
	PC_GW_TIMEOUT,
	PC_GW_RESP_OPEN,
	PC_GW_RESP_NOT_FILE,
	PC_GW_RESP_TOO_LARGE,
	PC_GW_RESP_OUT_OF_MEMORY,
	PC_GW_RESP_CHANGED,
	PC_GW_RESP_JSON,
	PC_GW_RESP_HEADER,
	PC_GW_RESP_STATUS,
	PC_GW_BODY_INVALID,
	PC_GW_BODY_ENCODING,
	PC_GW_BODY_BASE64,
	/* keyhole-gateway, http2_v1 */
	PC_GW_UNAVAILABLE,
	PC_GW_SESSION_LOST,
	PC_GW_STREAM_RESET,
	PC_GW_LEDGER,
	PC_COUNT
};

/* Entry flags. */
#define PC_INDETERMINATE 0x1u	/* a 409 whose request may have taken
				   effect: the outcome fields and header */
#define PC_MAYBE_409	0x2u	/* keyhole-gateway: answered 409
				   indeterminate instead for a mutation whose
				   request file was written */
#define PC_RETRY_AFTER	0x4u	/* "retryAfter" and a retry-after header */
#define PC_NAMES_KEY	0x8u	/* "key": the key the message names */

struct pc_entry {
	int status;
	const char *text;	/* the message, or its template */
	unsigned flags;
};

extern const struct pc_entry pc_table[PC_COUNT];

/* What a template's fields stand for (unused ones may be NULL / 0). */
struct pc_args {
	const char *method;	/* NUL-terminated */
	const char *path;	/* path_len bytes */
	size_t path_len;
	const char *type;	/* type_len bytes: a media type as sent */
	size_t type_len;
	const char *key;	/* NUL-terminated */
	unsigned count;		/* a rate: requests ... */
	const char *period;	/* ... per "second" or "minute" */
	unsigned max;		/* the run's mutation budget */
};

/* The longest message, bytes (NUL excluded): a template with a method
 * and a path of KH_PATH_MAX. */
#define PC_MESSAGE_MAX	(64 + KH_METHOD_MAX + KH_PATH_MAX)

/* The message of id with its fields filled in, NUL-terminated, into
 * out[cap] (cut if cap is short).  Returns its length. */
size_t pc_message(enum pc_id id, const struct pc_args *a, char *out,
    size_t cap);

/* The body's optional fields. */
struct pc_extra {
	const char *key;		/* "key", or NULL */
	uint32_t retry_after;		/* "retryAfter" when not 0 */
	bool indeterminate;		/* the outcome fields */
};

/* The JSON body for message (escaped as JSON strings are, as
 * cJSON_PrintUnformatted writes them).  pc_body_len: its length;
 * pc_body: written into out[cap], NUL-terminated, returning its length,
 * or 0 (and out[0] = '\0') when cap is too small: never a partial body;
 * pc_body_dup: malloc'd, or NULL. */
size_t pc_body_len(const char *message, const struct pc_extra *x);
size_t pc_body(char *out, size_t cap, const char *message,
    const struct pc_extra *x);
char *pc_body_dup(const char *message, const struct pc_extra *x);

/* The body of an entry whose text has no template field, with the
 * outcome fields when the entry is PC_INDETERMINATE, into out[cap]
 * (PC_FIXED_BODY_MAX holds every one). */
#define PC_FIXED_BODY_MAX 256
size_t pc_fixed_body(enum pc_id id, char *out, size_t cap);

/* The answer to an HTTP error the parser or a deadline decided (400,
 * 405, 408, 413, 414, 417, 431, 501, 505); PC_HTTP_MALFORMED for any
 * other status. */
enum pc_id pc_http_error(int status);

/* Header names keyhole adds to its own answers. */
#define PC_OUTCOME_HEADER	"x-paperclip-bridge-outcome"
#define PC_OUTCOME_VALUE	"indeterminate"

#endif
