/*
 * keyhole upstream forwarding: libcurl multi on the parent's libevent loop.
 *
 * The URL is always base + canonical path (+ '?' + query): the sandbox
 * cannot change scheme, host, port or userinfo (SECURITY.md I5).  Redirects
 * are never followed, only http/https are allowed, TLS is verified, no
 * proxy is ever used, and the credential is set here and nowhere else
 * (SECURITY.md I1, I4).
 *
 * At most once (SECURITY.md I6).  libcurl re-sends a request on a new
 * connection when a reused keep-alive connection dies before the first
 * response byte, whatever the method (7.88.1 lib/transfer.c
 * Curl_retry_request, up to CONN_MAX_RETRIES = 5 times, each retry free to
 * take another pooled connection: six copies).  An upstream that read a
 * POST and then dropped the connection would receive it again.  So a
 * request whose method is not safe (util_method_safe) always goes out on
 * a fresh connection (CURLOPT_FRESH_CONNECT): a new connection is never
 * `bits.reuse`, and libcurl retries only on a reused one.  Behind that, a
 * guard counts the sends of each transfer (CURLOPT_PREREQFUNCTION, called
 * right before a request is sent on a new or a reused connection) and
 * aborts a second one, so no future retry path of libcurl can send a
 * mutation twice either.  Safe methods keep using pooled connections, and
 * libcurl's retry of them is harmless.  The cost, a TCP (and TLS)
 * handshake per mutation, is measured in SECURITY.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "hdr.h"
#include "log.h"
#include "inject.h"
#include "upstream_int.h"
#include "util.h"

/*
 * libcurl's receive buffer (bytes; its default is 16 KiB).  Each recv()
 * into it is followed by a poll() to see whether more is waiting, so a
 * 64 KiB response took five of each; now two.  Each transfer in flight
 * holds one, and its wipe on free (upstream_mem.c) makes all of it
 * resident: 96 KiB took the parent's peak at c64 from 16.8 to 19.8 MiB.
 * Below UPMEM_MMAP_THRESHOLD, so it comes from the heap, not a mapping
 * per request; and 64 bytes short of 64 KiB, so that with libcurl's one
 * byte more and upmem's header its heap chunk stays below glibc's
 * FASTBIN_CONSOLIDATION_THRESHOLD (64 KiB): freeing a chunk that large
 * runs malloc_consolidate, once per request (1% of the parent's samples
 * for a small GET).
 */
#define UPSTREAM_RECV_BUFSZ (64 * 1024 - 64)

/* Per-socket libevent state for curl's socket callback. */
struct up_sock {
	struct event *ev;
	struct upstream *up;
};

static void upstream_check_done(struct upstream *up);
static void upstream_free(struct upstream *up);

static void
upstream_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *up = arg;
	int running;
	int action = (what & EV_READ ? CURL_CSELECT_IN : 0) |
	    (what & EV_WRITE ? CURL_CSELECT_OUT : 0);

	curl_multi_socket_action(up->multi, fd, action, &running);
	upstream_check_done(up);
}

static void
upstream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *up = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	upstream_check_done(up);
}

static int
upstream_sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct upstream *up = userp;
	struct up_sock *us = sockp;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (us != NULL) {
			event_free(us->ev);
			free(us);
		}
		curl_multi_assign(up->multi, s, NULL);
		return 0;
	}
	if (us == NULL) {
		us = calloc(1, sizeof(*us));
		if (us == NULL)
			return -1;
		us->up = up;
		curl_multi_assign(up->multi, s, us);
	} else {
		event_free(us->ev);
	}
	short kind = EV_PERSIST |
	    (what & CURL_POLL_IN ? EV_READ : 0) |
	    (what & CURL_POLL_OUT ? EV_WRITE : 0);
	us->ev = event_new(up->base, s, kind, upstream_event_cb, up);
	if (us->ev == NULL)
		return -1;
	event_add(us->ev, NULL);
	return 0;
}

static int
upstream_timer_set(CURLM *m, long timeout_ms, void *userp)
{
	struct upstream *up = userp;

	(void)m;
	if (timeout_ms < 0) {
		evtimer_del(up->timer);
	} else {
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
		evtimer_add(up->timer, &tv);
	}
	return 0;
}

/* Split and validate the operator's base URL with libcurl's own parser. */
static int
upstream_parse_base(struct upstream *up, const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	char *user = NULL, *query = NULL, *frag = NULL;
	int rc = -1;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		log_fatal("--upstream '%s' is not a valid URL",
		    url);
		goto out;
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
	if (scheme == NULL || (strcmp(scheme, "http") != 0 &&
	    strcmp(scheme, "https") != 0) || host == NULL) {
		log_fatal("--upstream '%s' must be an http:// or "
		    "https:// URL with a host", url);
		goto out;
	}
	if (user != NULL || query != NULL || frag != NULL) {
		log_fatal("--upstream '%s' must not hold "
		    "userinfo, a query or a fragment", url);
		goto out;
	}
	size_t n = strlen(scheme) + strlen(host) + (port ? strlen(port) : 0) + 8;
	up->origin = malloc(n);
	if (up->origin == NULL)
		goto out;
	snprintf(up->origin, n, "%s://%s%s%s", scheme, host, port ? ":" : "",
	    port ? port : "");
	up->base_path = strdup(path ? path : "");
	if (up->base_path == NULL)
		goto out;
	size_t bl = strlen(up->base_path);
	while (bl > 0 && up->base_path[bl - 1] == '/')
		up->base_path[--bl] = '\0';
	rc = 0;
out:
	curl_free(scheme); curl_free(host); curl_free(port); curl_free(path);
	curl_free(user); curl_free(query); curl_free(frag);
	curl_url_cleanup(u);
	return rc;
}

struct upstream *
upstream_new(struct event_base *base, const struct upstream_cfg *cfg,
    struct secret *credential)
{
	struct upstream *up = calloc(1, sizeof(*up));
	size_t n;

	if (up == NULL)
		return NULL;
	up->base = base;
	up->ca_file = cfg->ca_file;
	up->timeout_ms = cfg->timeout_ms;
	up->max_response = cfg->max_response;
	if (upstream_parse_base(up, cfg->base_url) < 0)
		goto fail;
	up->inject = cfg->inject;
	if (upstream_set_credential(up, credential) < 0)
		goto fail;
	if (cfg->run_id != NULL) {
		if (!hdr_value_forwardable(cfg->run_id, strlen(cfg->run_id)) ||
		    *cfg->run_id == '\0') {
			log_fatal("--run-id must be visible ASCII");
			goto fail;
		}
		n = strlen(cfg->run_id) + KH_HNAME_MAX + 3;
		up->runid_header = malloc(n);
		if (up->runid_header == NULL)
			goto fail;
		snprintf(up->runid_header, n, "%s: %s",
		    cfg->inject->run_id_name, cfg->run_id);
	}
	up->multi = curl_multi_init();
	up->timer = evtimer_new(base, upstream_timer_cb, up);
	/* Every request is its own easy handle, whose TLS session cache would
	 * die with it: share one, so a fresh connection (every mutation's)
	 * resumes the TLS session instead of a full handshake, and share the
	 * DNS cache.  Only the loop's thread uses it: no locks. */
	up->share = curl_share_init();
	if (up->multi == NULL || up->timer == NULL || up->share == NULL ||
	    curl_share_setopt(up->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
	    curl_share_setopt(up->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_DNS) != CURLSHE_OK)
		goto fail;
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, upstream_sock_cb);
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, upstream_timer_set);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
	/* Keep one idle upstream connection per request that may be in
	 * flight, so a full pipeline never reconnects. */
	curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, (long)cfg->max_connects);
	return up;
fail:
	upstream_free(up);
	return NULL;
}

void
upstream_destroy(struct upstream *up)
{
	upstream_free(up);
}

static void
upstream_free(struct upstream *up)
{
	if (up == NULL)
		return;
	if (up->cred != NULL)
		upstream_cred_put(up->cred);	/* the current one's own */
	upstream_easy_drop(up);
	if (up->multi)
		curl_multi_cleanup(up->multi);
	if (up->share)
		curl_share_cleanup(up->share);
	if (up->timer)
		event_free(up->timer);
	if (up->trim)
		event_free(up->trim);
	free(up->runid_header);
	free(up->origin);
	free(up->base_path);
	free(up);
}

const char *
up_result_name(enum up_result res)
{
	switch (res) {
	case UP_OK: return "ok";
	case UP_UNREACHABLE: return "unreachable";
	case UP_TIMEOUT_UNSENT: return "timeout-unsent";
	case UP_TIMEOUT_SENT: return "timeout-sent";
	case UP_RESET: return "reset";
	case UP_CLOSED: return "closed";
	case UP_CUT: return "cut-short";
	case UP_BAD_RESPONSE: return "bad-response";
	case UP_BAD_STATUS: return "bad-status";
	case UP_TOO_LARGE: return "too-large";
	case UP_FAILED: return "failed";
	case UP_CANCELLED: return "cancelled";
	}
	return "?";
}

static int
upstream_prereq_cb(void *arg, char *peer_ip, char *local_ip, int peer_port,
    int local_port)
{
	struct up_req *r = arg;

	(void)peer_ip;
	(void)local_ip;
	(void)peer_port;
	(void)local_port;
	if (r->sends++ > 0 && !util_method_safe(r->method))
		return CURL_PREREQFUNC_ABORT;
	return CURL_PREREQFUNC_OK;
}

void
upstream_once_guard(void *easy, struct up_req *r)
{
	curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, upstream_prereq_cb);
	curl_easy_setopt(easy, CURLOPT_PREREQDATA, r);
}

/*
 * Easy handles are reused (UPSTREAM_IDLE_EASY).  curl_easy_reset() puts
 * every option back to its default, so nothing one request set (its URL,
 * header list, body, method, once-guard) reaches the next; what a handle
 * keeps is its receive buffer and its response-header buffer, which hold
 * upstream response bytes, never the request and so never the
 * credential.  The request libcurl builds from the header list (the one
 * buffer that holds a copy of the credential) is freed, and so wiped,
 * when its transfer ends, as before (test_credential_parent counts the
 * copies left in the parent's memory after traffic: exactly one).
 */
static CURL *
upstream_easy_get(struct upstream *up)
{
	CURL *e;

	if (up->nidle == 0)
		return curl_easy_init();
	e = up->idle[--up->nidle];
	curl_easy_reset(e);
	return e;
}

/* Only a handle whose transfer ended well goes back: curl_easy_reset()
 * leaves the last system error (CURLINFO_OS_ERRNO, which
 * upstream_classify reads to tell a reset from a close) as it was. */
static void
upstream_easy_put(struct upstream *up, CURL *e, bool ok)
{
	long oserr = -1;

	if (ok && up->nidle < UPSTREAM_IDLE_EASY &&
	    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK &&
	    oserr == 0)
		up->idle[up->nidle++] = e;
	else
		curl_easy_cleanup(e);
}

void
upstream_easy_drop(struct upstream *up)
{
	while (up->nidle > 0)
		curl_easy_cleanup(up->idle[--up->nidle]);
}

int
upstream_start(struct upstream *up, struct up_req *r,
    const struct req_checked *ck, const struct up_allow *resp)
{
	CURL *e;
	size_t n;
	struct curl_slist *h;

	n = strlen(up->origin) + strlen(up->base_path) + ck->path_len +
	    (ck->has_query ? strlen(ck->query) + 1 : 0) + 1;
	r->url = malloc(n);
	if (r->url == NULL)
		return -1;
	snprintf(r->url, n, "%s%s%s%s%s", up->origin, up->base_path, ck->path,
	    ck->has_query ? "?" : "", ck->has_query ? ck->query : "");
	r->resp_allow = *resp;

	/* The operator's fixed headers and the run id (inject.h): names the
	 * sandbox can never send (policy_forbid_add), so never twice.
	 * "Expect:" stops curl's 100-continue dance. */
	for (size_t i = 0; i < up->inject->nhdrs; i++) {
		if ((h = curl_slist_append(r->hdrs, up->inject->hdrs[i])) == NULL)
			return -1;
		r->hdrs = h;
	}
	if (up->runid_header != NULL) {
		if ((h = curl_slist_append(r->hdrs, up->runid_header)) == NULL)
			return -1;
		r->hdrs = h;
	}
	if ((h = curl_slist_append(r->hdrs, "Expect:")) == NULL)
		return -1;
	r->hdrs = h;
	/* libcurl would invent "content-type: application/x-www-form-
	 * urlencoded" for a request body; forward only what was checked. */
	if (ck->media == NULL) {
		if ((h = curl_slist_append(r->hdrs, "Content-Type:")) == NULL)
			return -1;
		r->hdrs = h;
	}
	/* The credential last, linked, not copied: the allowlist can never
	 * hold its header's name (policy_header_forbidden, policy_forbid_add),
	 * so this is the only one.  r->hdrs is not empty ("Expect:" is in it). */
	for (h = r->hdrs; h->next != NULL; h = h->next)
		;
	r->auth_node.data = (char *)upstream_cred_get(up, &r->cred);
	r->auth_node.next = NULL;
	h->next = &r->auth_node;
	r->head_status = -1;

	e = upstream_easy_get(up);
	if (e == NULL)
		return -1;
	r->easy = e;
	r->up = up;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* Never a proxy: an operator's http_proxy/https_proxy/ALL_PROXY
	 * would otherwise route the credential through a host nobody
	 * configured for keyhole ("" disables libcurl's environment lookup). */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	/* At most once: see the comment at the top of this file. */
	if (!util_method_safe(r->method))
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	upstream_once_guard(e, r);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (up->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, up->ca_file);
	curl_easy_setopt(e, CURLOPT_SHARE, up->share);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)up->timeout_ms);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, upstream_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, upstream_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	/* The body is forwarded byte-exact; never ask for compression. */
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)UPSTREAM_RECV_BUFSZ);
	if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
		if (r->body_len > 0 || strcmp(r->method, "OPTIONS") != 0) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)r->body_len);
			curl_easy_setopt(e, CURLOPT_POSTFIELDS,
			    r->body_len ? (const char *)r->body : "");
		}
	}
	if (curl_multi_add_handle(up->multi, e) != CURLM_OK) {
		upstream_easy_put(up, e, true);
		r->easy = NULL;
		return -1;
	}
	up->active++;
	return 0;
}

static void
upstream_check_done(struct upstream *up)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(up->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *e = m->easy_handle;
		CURLcode rc = m->data.result;
		struct up_req *r = NULL;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
		enum up_result res = upstream_classify(r, rc);
		curl_multi_remove_handle(up->multi, e);
		upstream_easy_put(up, e, rc == CURLE_OK && res == UP_OK);
		r->easy = NULL;
		if (--up->active == 0)
			upstream_mem_idle(up);
		r->done(r, res);
	}
}

void
upstream_cancel(struct up_req *r)
{
	if (r->easy != NULL) {
		upstream_note_sent(r);
		curl_multi_remove_handle(r->up->multi, r->easy);
		upstream_easy_put(r->up, r->easy, false);
		r->easy = NULL;
		if (--r->up->active == 0)
			upstream_mem_idle(r->up);
	}
}
