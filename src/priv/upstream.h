/*
 * keyhole upstream forwarding (parent only): libcurl's multi interface
 * driven by the parent's libevent loop.  Never a blocking transfer.
 */
#ifndef KH_UPSTREAM_H
#define KH_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "kh_limits.h"
#include "policy_table.h"
#include "secret.h"

enum up_result {
	UP_OK = 0,		/* status/headers/body valid */
	UP_UNREACHABLE,		/* nothing was sent: 502 */
	UP_TIMEOUT_UNSENT,	/* timed out before the request was sent: 504 */
	UP_TIMEOUT_SENT,	/* timed out after sending: outcome unknown */
	UP_TOO_LARGE,		/* response over --max-response: 502 */
	UP_FAILED,		/* anything else after sending: outcome unknown */
	UP_CANCELLED,		/* drain deadline or child gone */
};

struct up_hdr {
	char name[KH_HNAME_MAX + 1];	/* lower-case */
	char *value;			/* heap, NUL-terminated (or static) */
	size_t vlen;
};

struct up_req;
typedef void (*upstream_done_fn)(struct up_req *r, enum up_result res);

struct up_req {
	uint64_t id;
	void *owner;			/* the child the request came from */
	char method[KH_METHOD_MAX + 1];
	char path[KH_PATH_MAX + 1];	/* canonical, for the log */
	char peer[64];			/* printable, for the log */
	int64_t started_ms;
	uint32_t rule_line;		/* policy line that allowed it */
	char *url;
	struct curl_slist *hdrs;
	uint8_t *body;			/* request body (owned) */
	size_t body_len;
	long status;			/* response */
	struct up_hdr resp_hdrs[KH_FWD_HEADERS_MAX];
	size_t nresp_hdrs;
	uint8_t *resp_body;
	size_t resp_len;
	size_t resp_cap;
	bool too_large;
	void *easy;			/* CURL * */
	struct upstream *up;
	upstream_done_fn done;
	struct up_req *next;		/* owner's in-flight list */
};

struct upstream_cfg {
	const char *base_url;
	const char *ca_file;
	const char *run_id;
	uint32_t timeout_ms;
	uint64_t max_response;
	uint32_t max_connects;		/* idle upstream connections kept */
};

/* Validate the base URL (http/https, host, no userinfo/query/fragment)
 * and set up the multi handle.  NULL after printing an error. */
struct upstream *upstream_new(struct event_base *base,
    const struct upstream_cfg *cfg, const struct secret *credential,
    const struct policy **policy);
void upstream_free(struct upstream *up);

/* Start a transfer.  path and query must already be validated by the
 * caller (canonical path, valid query); headers already allowlisted.
 * Takes ownership of body.  `done` is called exactly once, from the event
 * loop, unless upstream_cancel() is called first. */
int upstream_start(struct upstream *up, struct up_req *r, const char *path,
    const char *query, bool has_query);
void upstream_cancel(struct up_req *r);
void up_req_free(struct up_req *r);
size_t upstream_active(const struct upstream *up);
const char *up_result_name(enum up_result res);

#endif
