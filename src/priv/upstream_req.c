/*
 * keyhole upstream forwarding: one request's own data.  up_req_fill turns
 * what request_check() validated into what libcurl sends: the headers in
 * the order the child sent them, in keyhole's spelling, and the
 * content-type the parent writes itself (media.h); nothing else of the
 * child's frame reaches the upstream.  upstream_start adds keyhole's own
 * lines (run id, "Expect:", the credential) and the URL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "media.h"
#include "upstream.h"

static int
up_req_append(struct up_req *r, const char *line)
{
	struct curl_slist *n = curl_slist_append(r->hdrs, line);

	if (n == NULL)
		return -1;
	r->hdrs = n;
	return 0;
}

int
up_req_fill(struct up_req *r, uint64_t id, const struct req_checked *ck)
{
	char line[KH_HNAME_MAX + KH_HVALUE_MAX + 4];

	r->id = id;
	snprintf(r->method, sizeof(r->method), "%s", ck->method);
	snprintf(r->path, sizeof(r->path), "%s", ck->path);
	snprintf(r->peer, sizeof(r->peer), "%s", ck->peer);
	r->rule_line = ck->rule->line;
	for (size_t i = 0; i < ck->nhdrs; i++) {
		const struct req_hdr *h = &ck->hdrs[i];
		/* An empty value is sent as "name;" (curl's spelling for
		 * "name:" with no value; "name:" alone would delete it). */
		if (h->vlen == 0)
			snprintf(line, sizeof(line), "%.*s;", (int)h->nlen,
			    h->name);
		else
			snprintf(line, sizeof(line), "%.*s: %.*s", (int)h->nlen,
			    h->name, (int)h->vlen, h->value);
		if (up_req_append(r, line) < 0)
			return -1;
	}
	if (ck->media != NULL) {
		char ct[sizeof("content-type: ") + MEDIA_VALUE_MAX];
		memcpy(ct, "content-type: ", 14);
		if (media_format(ct + 14, sizeof(ct) - 14, ck->media,
		    strlen(ck->media), ck->media_flags, ck->boundary,
		    ck->blen) < 0 || up_req_append(r, ct) < 0)
			return -1;
	}
	if (ck->body_len > 0) {
		if ((r->body = malloc(ck->body_len)) == NULL)
			return -1;
		memcpy(r->body, ck->body, ck->body_len);
		r->body_len = ck->body_len;
	}
	return 0;
}

void
up_req_free(struct up_req *r)
{
	if (r == NULL)
		return;
	if (r->easy != NULL)
		upstream_cancel(r);
	/* The credential's node is r's own, its line the locked page's. */
	for (struct curl_slist **pp = &r->hdrs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == &r->auth_node) {
			*pp = NULL;
			break;
		}
	curl_slist_free_all(r->hdrs);
	/* The transfer is gone (libcurl's copies of the line wiped:
	 * upstream_mem.c): the credential may be wiped now if it was
	 * rotated meanwhile. */
	upstream_cred_put(r->cred);
	r->cred = NULL;
	for (size_t i = 0; i < r->nresp_hdrs; i++)
		free(r->resp_hdrs[i].value);
	free(r->url);
	free(r->body);
	free(r->resp_body);
	free(r);
}
