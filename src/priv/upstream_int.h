/*
 * keyhole upstream forwarding: state shared by upstream.c (transfers),
 * upstream_recv.c (what comes back) and upstream_mem.c (memory).  Not
 * for the rest of the parent, which uses upstream.h.
 */
#ifndef KH_UPSTREAM_INT_H
#define KH_UPSTREAM_INT_H

#include <curl/curl.h>

#include "upstream.h"

/*
 * Easy handles kept for the next requests (upstream.c, upstream_easy_get).
 * A new handle per request cost a calloc'd Curl_easy and its receive
 * buffer, each allocated, wiped (upstream_mem.c) and freed again.
 */
#define UPSTREAM_IDLE_EASY 16

struct upstream {
	struct event_base *base;
	CURLM *multi;
	CURLSH *share;			/* TLS sessions and DNS across transfers */
	struct event *timer;
	struct event *trim;		/* give memory back once idle */
	char *origin;			/* scheme://host[:port] */
	char *base_path;		/* "" or "/prefix" without trailing '/' */
	struct up_cred *cred;		/* for new transfers (upstream_cred.c) */
	size_t ncreds;			/* live: current + still in use */
	char *runid_header;		/* "x-paperclip-run-id: ..." or NULL */
	const struct inject_cfg *inject;	/* fixed headers (inject.h) */
	const char *ca_file;
	uint32_t timeout_ms;
	uint64_t max_response;
	size_t active;
	CURL *idle[UPSTREAM_IDLE_EASY];	/* finished handles, for reuse */
	size_t nidle;
};

/* upstream_recv.c: libcurl's header and body callbacks, and the verdict
 * on a finished transfer. */
size_t upstream_header_cb(char *buf, size_t size, size_t nitems, void *arg);
size_t upstream_write_cb(char *ptr, size_t size, size_t nmemb, void *arg);
enum up_result upstream_classify(struct up_req *r, CURLcode rc);
/* r->sent from libcurl's count of request bytes written. */
void upstream_note_sent(struct up_req *r);

/* upstream_mem.c: called when the last transfer in flight ends. */
void upstream_mem_idle(struct upstream *up);
/* upstream.c: free the idle easy handles (memory given back when idle). */
void upstream_easy_drop(struct upstream *up);

/* upstream_cred.c: a credential and the transfers using it. */
struct up_cred {
	struct secret s;		/* its locked page */
	const char *line;		/* "authorization: Bearer ..." in it */
	unsigned refs;			/* transfers, + 1 while current */
	struct upstream *up;
};
/* r starts with the current credential: a reference, and its line. */
const char *upstream_cred_get(struct upstream *up, struct up_cred **out);

#endif
