/*
 * keyhole upstream forwarding: what comes back from the upstream, and what
 * a finished transfer means.
 *
 * The upstream is trusted not to be malicious, not to be correct: it may
 * reset, close mid-head or mid-body, send a status the child may not
 * write (a 1xx as the answer, 999), or more than --max-response.  The
 * header callback stops a transfer at the first such sign, and
 * upstream_classify tells each ending apart (enum up_result), so the
 * answer says what happened and whether a mutation may have taken effect
 * (answer.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hdr.h"
#include "upstream_int.h"
#include "util.h"

/* "HTTP/x[.y] NNN[ reason]": the 3-digit status, or -1 when the line is
 * not a status line libcurl would have taken for one of three digits. */
static int
upstream_status_code(const char *buf, size_t n)
{
	size_t i = 5;

	while (i < n && buf[i] != ' ')
		i++;
	if (i + 4 > n)
		return -1;
	i++;
	for (size_t k = 0; k < 3; k++)
		if (!isdigit((unsigned char)buf[i + k]))
			return -1;
	if (i + 3 < n && buf[i + 3] != ' ' && buf[i + 3] != '\r' &&
	    buf[i + 3] != '\n')
		return -1;
	return (buf[i] - '0') * 100 + (buf[i + 1] - '0') * 10 +
	    (buf[i + 2] - '0');
}

/* A Content-Length value: digits only (libcurl refuses anything else). */
static bool
upstream_parse_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]) || x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return true;
}

static void
upstream_forget_headers(struct up_req *r)
{
	for (size_t i = 0; i < r->nresp_hdrs; i++)
		free(r->resp_hdrs[i].value);
	r->nresp_hdrs = 0;
	r->declared_len = 0;
}

/*
 * One header line as libcurl received it (not NUL-terminated; CRLF
 * included).  Keeps only response headers on r's allowlist (the policy's,
 * given to upstream_start); a
 * new status line (after a 1xx) starts the list over.  Returning less
 * than the line's length aborts the transfer: a final status keyhole does
 * not pass on, or a declared length over --max-response (stopped before
 * the body is read).  Lines after the final head (chunked trailers) are
 * never kept.
 */
size_t
upstream_header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct up_req *r = arg;
	size_t n = size * nitems, nl;
	const char *colon;

	r->resp_started = true;
	if (r->head_done)
		return n;	/* a trailer: discarded, never merged */
	if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		upstream_forget_headers(r);
		r->head_status = upstream_status_code(buf, n);
		/* 100 and 102..199 are provisional: libcurl reads the next
		 * head.  A 101 it was not asked for is taken as final, and
		 * nothing outside 100..599 is a status at all. */
		if (r->head_status == 101 || r->head_status < 100 ||
		    r->head_status > 599) {
			r->bad_status = true;
			return 0;
		}
		return n;
	}
	if ((n == 2 && buf[0] == '\r' && buf[1] == '\n') ||
	    (n == 1 && buf[0] == '\n')) {
		if (r->head_status >= 200)
			r->head_done = true;
		return n;
	}
	colon = memchr(buf, ':', n);
	if (colon == NULL)
		return n;
	nl = (size_t)(colon - buf);
	if (nl == 0 || nl > KH_HNAME_MAX)
		return n;
	char name[KH_HNAME_MAX + 1];
	for (size_t i = 0; i < nl; i++)
		name[i] = (char)tolower((unsigned char)buf[i]);
	name[nl] = '\0';
	const char *v = colon + 1, *end = buf + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
	    end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vl = (size_t)(end - v);
	/* A body follows (not HEAD, 204 or 304, whose Content-Length only
	 * describes one) and is declared over the limit: stop now. */
	if (strcmp(name, "content-length") == 0 && r->head_status >= 200 &&
	    r->head_status != 204 && r->head_status != 304 &&
	    strcmp(r->method, "HEAD") != 0 &&
	    upstream_parse_length(v, vl, &r->declared_len) &&
	    r->declared_len > r->up->max_response) {
		r->too_large = true;
		return 0;
	}
	if (r->nresp_hdrs >= KH_FWD_HEADERS_MAX ||
	    !policy_name_listed(r->resp_allow.names, r->resp_allow.n, name, nl))
		return n;
	if (!hdr_value_forwardable(v, vl))
		return n;	/* drop, never pass a bad value on */
	struct up_hdr *h = &r->resp_hdrs[r->nresp_hdrs];
	h->value = malloc(vl + 1);
	if (h->value == NULL)
		return 0;	/* abort the transfer: 502 */
	memcpy(h->name, name, nl + 1);
	memcpy(h->value, v, vl);
	h->value[vl] = '\0';
	h->vlen = vl;
	r->nresp_hdrs++;
	return n;
}

/*
 * Body bytes.  The buffer is sized once from the declared length when
 * there is one (already checked against --max-response), else it doubles,
 * never past --max-response: a response costs the parent at most
 * max_response bytes here (SECURITY.md, memory).
 */
size_t
upstream_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct up_req *r = arg;
	size_t n = size * nmemb, max = (size_t)r->up->max_response;

	if (n > max || r->resp_len > max - n) {
		r->too_large = true;
		return 0;	/* aborts the transfer */
	}
	if (r->resp_len + n > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap :
		    r->declared_len ? (size_t)r->declared_len : 4096;
		while (cap < r->resp_len + n)
			cap = cap > max / 2 ? max : cap * 2;
		uint8_t *nb = realloc(r->resp_body, cap);
		if (nb == NULL)
			return 0;
		r->resp_body = nb;
		r->resp_cap = cap;
	}
	memcpy(r->resp_body + r->resp_len, ptr, n);
	r->resp_len += n;
	return n;
}

void
upstream_note_sent(struct up_req *r)
{
	long bytes = 0;

	if (r->easy != NULL &&
	    curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &bytes) == CURLE_OK &&
	    bytes > 0)
		r->sent = true;
	/* The once-guard refused a second send: the first one went out. */
	if (r->sends > 1)
		r->sent = true;
}

enum up_result
upstream_classify(struct up_req *r, CURLcode rc)
{
	long oserr = 0;

	upstream_note_sent(r);
	if (r->too_large)
		return UP_TOO_LARGE;
	if (r->bad_status)
		return UP_BAD_STATUS;
	if (rc == CURLE_OK)
		/* libcurl takes a head cut by the end of the connection for a
		 * whole one (7.88.1): a 200 with no body would reach the
		 * client.  Only a head that ended is an answer. */
		return r->head_done ? UP_OK : UP_CUT;
	r->why = curl_easy_strerror(rc);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return r->sent ? UP_TIMEOUT_SENT : UP_TIMEOUT_UNSENT;
	if (!r->sent)
		return UP_UNREACHABLE;
	switch (rc) {
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:	/* "HTTP/0.9 when not allowed" */
		return UP_BAD_RESPONSE;
	case CURLE_PARTIAL_FILE:
		return UP_CUT;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_ABORTED_BY_CALLBACK:		/* the once-guard */
		if (r->resp_started)
			return UP_CUT;
		curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
		return oserr == ECONNRESET ? UP_RESET : UP_CLOSED;
	default:
		return UP_FAILED;
	}
}
