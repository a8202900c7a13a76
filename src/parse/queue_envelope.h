/*
 * keyhole queue_v1 request envelope: the JSON in requests/<id>.json,
 * parsed and validated in the child only (fuzzed: fuzz_queue_envelope).
 *
 *   {"id": str, "method": str, "path": str, "query": str?,
 *    "headers": {lower-case name: str}?, "body": str,
 *    "bodyEncoding": "utf8" | "base64"?, "createdAt": str?}
 *
 * Every field is checked as hostile input: the root is an object with no
 * duplicate key; id as qc_id_valid; method an upper-case method keyhole
 * forwards; path starts with '/' and is canonicalized (path.h) — dot
 * segments in any spelling, %2F, %00, '//' … are rejected; query is "" or
 * '?' + a query_is_valid string; header names are lower-case tokens,
 * unique, at most max_headers; values forwardable (no CR, LF, NUL or other
 * control); the body decodes (strict base64) to at most max_body bytes.
 * A string holding an escaped NUL (\u0000) is rejected anywhere: cJSON
 * would silently cut it there.  Unknown keys are ignored (newer gateways
 * may add some).  Which headers are forwarded is the caller's decision
 * (the policy's allowlist), not this parser's.
 */
#ifndef KH_QUEUE_ENVELOPE_H
#define KH_QUEUE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kh_limits.h"

struct qenv_limits {
	uint64_t max_body;	/* decoded body bytes (413 beyond) */
	size_t max_headers;	/* entries in "headers" (400 beyond) */
};

struct qenv_header {
	const char *name;	/* NUL-terminated, into the parsed tree */
	size_t nlen;
	const char *value;
	size_t vlen;
};

struct qenv {
	char id[KH_QUEUE_ID_MAX + 1];
	char method[KH_METHOD_MAX + 1];
	char path[KH_PATH_MAX + 1];	/* canonical */
	size_t path_len;
	bool has_query;
	char query[KH_QUERY_MAX + 1];	/* without '?' */
	size_t query_len;
	size_t nheaders;
	struct qenv_header headers[KH_HEADERS_MAX];
	uint8_t *body;			/* heap; NULL when empty */
	size_t body_len;
	void *tree;			/* the cJSON tree the strings live in */
};

/* Parse buf[0..len).  Returns 0, or 400 (malformed) / 413 (body too
 * large); on error *why says what (for the log; never echoes input).
 * e->id is filled as soon as a valid id was read, so an error answer can
 * still carry it.  Call qenv_free() after either outcome. */
/* Shared with keyhole-gateway's response parser: no raw control byte but
 * JSON whitespace and no escaped NUL (\u0000) anywhere in buf; no key
 * twice in obj (a cJSON object).  cJSON would cut a string at an escaped
 * NUL and read the first of two equal keys where JSON.parse reads the
 * last. */
struct cJSON;
bool qenv_raw_ok(const uint8_t *buf, size_t len);
bool qenv_keys_unique(const struct cJSON *obj);
/* The same, n log n: *compares (if not NULL) gets the number of key
 * comparisons made, which the unit test and the fuzz harnesses bound. */
bool qenv_keys_unique_count(const struct cJSON *obj, unsigned long *compares);

int qenv_parse(const uint8_t *buf, size_t len, const struct qenv_limits *lim,
    struct qenv *e, const char **why);
void qenv_free(struct qenv *e);

#endif
