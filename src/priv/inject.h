/*
 * keyhole parent: what it writes on every upstream request besides what
 * it checked (inject.c).  Paperclip's defaults: the credential as
 * "authorization: Bearer CRED" and, with --run-id, "x-paperclip-run-id".
 * Any other HTTP API: the credential as a named header (x-api-key: CRED)
 * or HTTP Basic (the credential file holds user:password), the run id
 * under another name, and fixed headers (an API version).  Every name
 * written here is forbidden to the sandbox (policy_forbid_add): no policy
 * may allowlist it, no request may carry it.
 */
#ifndef KH_INJECT_H
#define KH_INJECT_H

#include <stddef.h>

#include "kh_limits.h"

enum inject_auth {
	INJECT_BEARER = 0,	/* NAME: Bearer CRED (default authorization) */
	INJECT_HEADER,		/* NAME: CRED */
	INJECT_BASIC,		/* authorization: Basic base64(CRED) */
};

struct inject_cfg {
	enum inject_auth auth;
	char auth_name[KH_AUTH_HNAME_MAX + 1];	/* lower case */
	char run_id_name[KH_HNAME_MAX + 1];	/* lower case */
	size_t nhdrs;
	char hdrs[KH_UPSTREAM_HDRS_MAX][KH_UPSTREAM_HDR_MAX + 1];	/* "name: value" */
	size_t hdr_name_len[KH_UPSTREAM_HDRS_MAX];
};

/* Defaults: bearer on authorization, run id as x-paperclip-run-id. */
void inject_init(struct inject_cfg *c);
/* --auth bearer|basic|header:NAME.  Returns 0, or -1 with why. */
int inject_parse_auth(struct inject_cfg *c, const char *arg, const char **why);
/* --run-id-header NAME */
int inject_parse_run_id(struct inject_cfg *c, const char *arg,
    const char **why);
/* --upstream-header 'NAME: VALUE' */
int inject_parse_header(struct inject_cfg *c, const char *arg,
    const char **why);
/* Every name is distinct and forbidden from now on (policy_forbid_add).
 * Returns 0, or -1 with why. */
int inject_finish(const struct inject_cfg *c, const char **why);

#endif
