/*
 * keyhole parent: the headers it writes upstream itself, from the
 * operator's options (inject.h).  Only names and fixed values are
 * decided here; the credential's line is built in its locked page
 * (secret_header_line) and linked into each request (upstream.c).
 */
#include <stdio.h>
#include <string.h>

#include "hdr.h"
#include "inject.h"
#include "policy_table.h"

void
inject_init(struct inject_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->auth = INJECT_BEARER;
	strcpy(c->auth_name, "authorization");
	strcpy(c->run_id_name, "x-paperclip-run-id");
}

/* A header name the operator gives: a token, stored in lower case (HTTP
 * names are case-insensitive; keyhole compares and writes lower case). */
static int
inject_name(char *dst, size_t cap, const char *s, size_t len,
    const char **why)
{
	if (len == 0 || len >= cap) {
		*why = "a header name must be 1 to 48 bytes";
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		dst[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
	dst[len] = '\0';
	if (!policy_hname_valid(dst, len)) {
		*why = "not a header name (a token of letters, digits and "
		    "!#$%&'*+-.^_`|~)";
		return -1;
	}
	return 0;
}

/* Names keyhole decides itself (framing, the upstream, the client's
 * address, method overrides): never the operator's to inject either.
 * "authorization" is keyhole's own credential header, so it may be named
 * (--auth header:authorization sends the credential as it is). */
static bool
inject_name_reserved(const char *name)
{
	if (strcmp(name, "authorization") == 0)
		return false;
	return policy_header_builtin_forbidden(name, strlen(name)) ||
	    strcmp(name, "content-type") == 0;
}

int
inject_parse_auth(struct inject_cfg *c, const char *arg, const char **why)
{
	if (strcmp(arg, "bearer") == 0) {
		c->auth = INJECT_BEARER;
		strcpy(c->auth_name, "authorization");
		return 0;
	}
	if (strcmp(arg, "basic") == 0) {
		c->auth = INJECT_BASIC;
		strcpy(c->auth_name, "authorization");
		return 0;
	}
	if (strncmp(arg, "header:", 7) == 0) {
		c->auth = INJECT_HEADER;
		if (inject_name(c->auth_name, sizeof(c->auth_name), arg + 7,
		    strlen(arg + 7), why) < 0)
			return -1;
		if (inject_name_reserved(c->auth_name)) {
			*why = "keyhole decides that header itself";
			return -1;
		}
		return 0;
	}
	*why = "use bearer, basic or header:NAME";
	return -1;
}

int
inject_parse_run_id(struct inject_cfg *c, const char *arg, const char **why)
{
	if (inject_name(c->run_id_name, sizeof(c->run_id_name), arg,
	    strlen(arg), why) < 0)
		return -1;
	if (strcmp(c->run_id_name, "x-paperclip-run-id") != 0 &&
	    (inject_name_reserved(c->run_id_name) ||
	    strcmp(c->run_id_name, "authorization") == 0)) {
		*why = "keyhole decides that header itself";
		return -1;
	}
	return 0;
}

int
inject_parse_header(struct inject_cfg *c, const char *arg, const char **why)
{
	const char *colon = strchr(arg, ':');
	char name[KH_HNAME_MAX + 1];
	const char *v;
	size_t vlen;

	if (c->nhdrs == KH_UPSTREAM_HDRS_MAX) {
		*why = "at most 8 --upstream-header options";
		return -1;
	}
	if (colon == NULL) {
		*why = "not NAME: VALUE";
		return -1;
	}
	if (inject_name(name, sizeof(name), arg, (size_t)(colon - arg),
	    why) < 0)
		return -1;
	if (inject_name_reserved(name) || strcmp(name, "authorization") == 0) {
		*why = "keyhole decides that header itself";
		return -1;
	}
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	vlen = strlen(v);
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (vlen == 0 || !hdr_value_forwardable(v, vlen)) {
		*why = "the value must be visible ASCII (spaces inside only)";
		return -1;
	}
	if (strlen(name) + 2 + vlen > KH_UPSTREAM_HDR_MAX) {
		*why = "longer than 512 bytes";
		return -1;
	}
	snprintf(c->hdrs[c->nhdrs], sizeof(c->hdrs[c->nhdrs]), "%s: %.*s",
	    name, (int)vlen, v);
	c->hdr_name_len[c->nhdrs] = strlen(name);
	c->nhdrs++;
	return 0;
}

int
inject_finish(const struct inject_cfg *c, const char **why)
{
	const char *names[KH_FORBID_EXTRA_MAX];
	size_t lens[KH_FORBID_EXTRA_MAX], n = 0;

	names[n] = c->auth_name;
	lens[n++] = strlen(c->auth_name);
	names[n] = c->run_id_name;
	lens[n++] = strlen(c->run_id_name);
	for (size_t i = 0; i < c->nhdrs; i++) {
		names[n] = c->hdrs[i];
		lens[n++] = c->hdr_name_len[i];
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < i; k++)
			if (lens[i] == lens[k] &&
			    memcmp(names[i], names[k], lens[i]) == 0) {
				*why = "a header name is injected twice (--auth, "
				    "--run-id-header, --upstream-header)";
				return -1;
			}
	for (size_t i = 0; i < n; i++)
		if (policy_forbid_add(names[i], lens[i]) < 0) {
			*why = "too many injected headers";
			return -1;
		}
	return 0;
}
