/*
 * keyhole upstream forwarding (parent only): libcurl's multi interface
 * driven by the parent's libevent loop.  Never a blocking transfer.
 */
#ifndef KH_UPSTREAM_H
#define KH_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "kh_limits.h"
#include "request_check.h"
#include "secret.h"

/* How a transfer ended.  "Sent" means at least one byte of the request
 * reached the upstream's socket (libcurl's CURLINFO_REQUEST_SIZE): from
 * then on a mutation may have taken effect, whatever happens next, and
 * answer.c answers it 409 indeterminate rather than a status a client
 * would retry blindly. */
enum up_result {
	UP_OK = 0,		/* final status 200..599, head and body whole */
	UP_UNREACHABLE,		/* nothing sent: resolve, connect or TLS failed */
	UP_TIMEOUT_UNSENT,	/* deadline before a byte was sent */
	UP_TIMEOUT_SENT,	/* deadline after sending */
	UP_RESET,		/* sent; reset before any response byte */
	UP_CLOSED,		/* sent; closed before any response byte */
	UP_CUT,			/* a response began; its head or body never ended */
	UP_BAD_RESPONSE,	/* sent; what came back is not HTTP/1.x */
	UP_BAD_STATUS,		/* sent; a final status outside 200..599 (a 1xx
				 * as the answer, 999): the child may not write it */
	UP_TOO_LARGE,		/* sent; response over --max-response */
	UP_FAILED,		/* sent; anything else */
	UP_CANCELLED,		/* drain deadline or child gone; r->sent says */
};
#define UP_RESULT_COUNT (UP_CANCELLED + 1)

struct up_hdr {
	char name[KH_HNAME_MAX + 1];	/* lower-case */
	char *value;			/* heap, NUL-terminated (or static) */
	size_t vlen;
};

struct up_req;
typedef void (*upstream_done_fn)(struct up_req *r, enum up_result res);

/* The response headers a transfer may keep and return: lower-case names
 * (the policy's response-header allowlist). */
struct up_allow {
	const char (*names)[KH_HNAME_MAX + 1];
	size_t n;
};

struct up_cred;

struct up_req {
	uint64_t id;
	void *owner;			/* the child the request came from */
	uint64_t gen;			/* its configuration generation (gen.h) */
	char method[KH_METHOD_MAX + 1];
	char path[KH_PATH_MAX + 1];	/* canonical, for the log */
	char peer[KH_PEER_MAX + 1];	/* printable, for the log */
	int64_t started_ms;
	uint32_t rule_line;		/* policy line that allowed it */
	/* audit.c: the query's SHA-256 (the query itself is not kept). */
	bool audit_has_query;
	uint8_t audit_query[32];
	uint8_t audit_policy[32];	/* its generation's policy digest */
	char *url;
	struct curl_slist *hdrs;	/* allowlisted + keyhole's own (heap) */
	/* The credential's header line, linked last into hdrs: its data
	 * points into the credential's locked page (secret_prefixed), so the
	 * line is never copied into ordinary heap by keyhole.  Unlinked
	 * before hdrs is freed. */
	struct curl_slist auth_node;
	struct up_cred *cred;		/* whose line that is (a reference) */
	uint8_t *body;			/* request body (owned) */
	size_t body_len;
	struct up_allow resp_allow;	/* response headers kept */
	long status;			/* response */
	struct up_hdr resp_hdrs[KH_FWD_HEADERS_MAX];
	size_t nresp_hdrs;
	uint8_t *resp_body;
	size_t resp_len;
	size_t resp_cap;
	uint64_t declared_len;		/* Content-Length of the final head, or 0 */
	int head_status;		/* status line being read, or -1 */
	unsigned sends;			/* times libcurl was about to send it */
	bool sent;			/* a request byte reached the upstream */
	bool resp_started;		/* a byte of a response head arrived */
	bool head_done;			/* the final response head ended */
	bool bad_status;
	bool too_large;
	const char *why;		/* libcurl's words for a failure (static) */
	void *easy;			/* CURL * */
	struct upstream *up;
	upstream_done_fn done;
	struct up_req *next;		/* owner's in-flight list */
};

struct inject_cfg;
struct upstream_cfg {
	const char *base_url;
	const char *ca_file;
	const char *run_id;
	/* The credential's header, the run id's name, fixed headers
	 * (inject.h); kept by reference for the run. */
	const struct inject_cfg *inject;
	uint32_t timeout_ms;
	uint64_t max_response;
	uint32_t max_connects;		/* idle upstream connections kept */
};

/* Once, before any other libcurl call and before a thread exists:
 * libcurl's allocations go through allocators that wipe every block when
 * it is freed (its request buffers hold the credential), and large
 * blocks (upstream responses) are their own mappings, returned to the
 * system when freed.  Returns 0, or -1 after printing an error. */
int upstream_global_init(void);

/* Validate the base URL (http/https, host, no userinfo/query/fragment)
 * and set up the multi handle; the credential as upstream_set_credential
 * in the style cfg->inject names.  NULL after printing an error. */
struct upstream *upstream_new(struct event_base *base,
    const struct upstream_cfg *cfg, struct secret *credential);
/* upstream_cred.c.  The credential of every transfer started from now on:
 * *s is taken over (emptied), its header line written into its own
 * locked page in the injection style of --auth (inject.h: "NAME: Bearer
 * CRED" or "NAME: CRED" by secret_prefixed, "authorization: Basic B64"
 * by secret_base64_line) and registered with log_redact.  A
 * transfer keeps the credential it started with to its end (a rotation
 * never changes a request on its way); an earlier credential is wiped and
 * unmapped as soon as no transfer uses it.  Returns 0, or -1 (nothing
 * changed; *s is the caller's still). */
int upstream_set_credential(struct upstream *up, struct secret *s);
/* The same in two steps, for a reload: prepare (may fail: NULL with
 * *why, *s still the caller's), then use (cannot fail), or drop (wiped).
 * A rotated credential keeps the run's injection style. */
struct up_cred *upstream_cred_new(const struct upstream *up, struct secret *s,
    const char **why);
void upstream_cred_use(struct upstream *up, struct up_cred *c);
void upstream_cred_drop(struct up_cred *c);
/* Is *s the credential in use for new transfers? */
bool upstream_credential_is(const struct upstream *up, const struct secret *s);
/* Credentials held: the current one and earlier ones still in use. */
size_t upstream_credentials(const struct upstream *up);
/* r's reference (upstream_req.c, when r is freed). */
void upstream_cred_put(struct up_cred *c);
/* At exit, every transfer ended: wipe and free everything. */
void upstream_destroy(struct upstream *up);

/* upstream_req.c: r made from what request_check() validated: copies of
 * the method, path, peer and body, and libcurl's header list (each
 * header "name: value", or "name;" when empty, then "content-type: ..."
 * written with media_format from the checked type, flag and boundary
 * alone).  Returns 0, or -1 (out of memory; r is the caller's to free). */
int up_req_fill(struct up_req *r, uint64_t id, const struct req_checked *ck);

/* Start a transfer of r (up_req_fill'ed from ck) to base + ck's path and
 * query; keep only the response headers `resp` names.  `done` is called
 * exactly once, from the event loop, unless upstream_cancel() is called
 * first. */
int upstream_start(struct upstream *up, struct up_req *r,
    const struct req_checked *ck, const struct up_allow *resp);
/* Stop a transfer without calling `done`; sets r->sent first. */
void upstream_cancel(struct up_req *r);
/* The at-most-once guard on a libcurl easy handle (exported for
 * unit.test_upstream_once): libcurl calls it right before it sends the
 * request, on a new or a reused connection; a second call for one
 * transfer of a method that is not safe aborts the transfer.
 * upstream_start installs it on every transfer. */
void upstream_once_guard(void *easy, struct up_req *r);
/* upstream_req.c: cancels r's transfer if any, frees r. */
void up_req_free(struct up_req *r);
const char *up_result_name(enum up_result res);

#endif
