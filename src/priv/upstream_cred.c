/*
 * keyhole upstream forwarding: the credential, and its rotation.
 *
 * The credential lives in its own locked, never-dumped page, with its
 * header line built in that page in the style --auth chose (inject.h:
 * "NAME: Bearer CRED", "NAME: CRED", "authorization: Basic B64"), linked
 * into each transfer's header list without a copy (upstream.c).  A reload
 * may bring a new one (src/priv/reload.c): transfers started from then on
 * carry the new line; a transfer already started keeps the line it was
 * built with until it ends, because libcurl holds a pointer to it (and a
 * request on its way must not change credential halfway).  So each
 * credential counts the transfers using it, plus one while it is the
 * current one; when that reaches zero its page is wiped and unmapped
 * (secret_free) and it leaves the log's redaction list.  At most
 * KH_CRED_LIVE_MAX are ever held (reload.c refuses another rotation until
 * requests end).  SECURITY.md, "Reload".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inject.h"
#include "log.h"
#include "upstream_int.h"

/* The credential's header line, built in its locked page (inject.h):
 * "NAME: Bearer CRED", "NAME: CRED" or "authorization: Basic B64". */
static const char *
upstream_auth_line(const struct inject_cfg *ij, struct secret *credential,
    const char **why)
{
	char prefix[KH_AUTH_HNAME_MAX + 16];
	const char *line;

	*why = "the credential's header line does not fit its page";
	switch (ij->auth) {
	case INJECT_BASIC:
		if (memchr(credential->buf, ':', credential->len) == NULL) {
			*why = "--auth basic: the credential must be "
			    "USER:PASSWORD";
			return NULL;
		}
		line = secret_base64_line(credential, "authorization: Basic ");
		break;
	case INJECT_HEADER:
		snprintf(prefix, sizeof(prefix), "%s: ", ij->auth_name);
		line = secret_prefixed(credential, prefix);
		break;
	case INJECT_BEARER:
	default:
		snprintf(prefix, sizeof(prefix), "%s: Bearer ", ij->auth_name);
		line = secret_prefixed(credential, prefix);
		break;
	}
	return line;
}

struct up_cred *
upstream_cred_new(const struct upstream *up, struct secret *s,
    const char **why)
{
	struct up_cred *c = calloc(1, sizeof(*c));

	*why = "out of memory";
	if (c == NULL)
		return NULL;
	c->line = upstream_auth_line(up->inject, s, why);
	if (c->line == NULL || log_redact(s->buf, s->len) < 0) {
		if (c->line != NULL)
			*why = "internal: no room to redact another secret";
		free(c);
		return NULL;
	}
	c->s = *s;
	memset(s, 0, sizeof(*s));
	c->refs = 1;
	return c;
}

void
upstream_cred_drop(struct up_cred *c)
{
	if (c == NULL)
		return;
	log_unredact(c->s.buf);
	secret_free(&c->s);
	free(c);
}

void
upstream_cred_use(struct upstream *up, struct up_cred *c)
{
	struct up_cred *old = up->cred;

	c->up = up;
	up->ncreds++;
	up->cred = c;
	if (old == NULL)
		return;
	if (old->refs > 1)
		log_info("credential rotated: new requests carry the new one; "
		    "the previous one is wiped when the %u request(s) in "
		    "flight with it end", old->refs - 1);
	upstream_cred_put(old);
}

int
upstream_set_credential(struct upstream *up, struct secret *s)
{
	const char *why;
	struct up_cred *c = upstream_cred_new(up, s, &why);

	if (c == NULL) {
		log_fatal("%s", why);
		return -1;
	}
	upstream_cred_use(up, c);
	return 0;
}

bool
upstream_credential_is(const struct upstream *up, const struct secret *s)
{
	return up->cred != NULL && secret_equal(&up->cred->s, s);
}

size_t
upstream_credentials(const struct upstream *up)
{
	return up->ncreds;
}

const char *
upstream_cred_get(struct upstream *up, struct up_cred **out)
{
	up->cred->refs++;
	*out = up->cred;
	return up->cred->line;
}

void
upstream_cred_put(struct up_cred *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	c->up->ncreds--;
	if (c->up->cred == c)
		c->up->cred = NULL;
	else
		log_info("credential: the previous one is wiped (no request "
		    "in flight uses it any more)");
	upstream_cred_drop(c);
}
