/*
 * keyhole compiled route policy: the fixed binary rule table.
 *
 * The child compiles the policy text (src/unpriv/policy_compile.c) into a
 * struct policy, encodes it once as MSG_POLICY; the parent decodes it with
 * policy_decode(), which re-validates every field as hostile input, keeps
 * its own copy, and re-checks every forwarded request with policy_match().
 * The parent never sees the policy text.
 *
 * Encoding (payload of MSG_POLICY, integers big-endian, str as in wire.h):
 *   u64 max_body                      0 = operator default
 *   u16 nrules (1..KH_POLICY_RULES_MAX)
 *   nrules * ( str method, u32 line, u16 nsegs (0..KH_POLICY_SEGS_MAX),
 *              nsegs * ( u8 kind, str literal ) )
 *                                     kind SEG_LIT: literal is a non-empty
 *                                     canonical path segment; SEG_STAR:
 *                                     literal is empty
 *   u16 nreq_hdrs,  nreq_hdrs  * str name   lower-case tokens, allowlist
 *   u16 nresp_hdrs, nresp_hdrs * str name
 */
#ifndef KH_POLICY_TABLE_H
#define KH_POLICY_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kh_limits.h"
#include "wire.h"

enum pol_seg_kind {
	SEG_LIT = 1,	/* matches exactly these bytes */
	SEG_STAR = 2,	/* matches exactly one non-empty segment */
};

struct pol_seg {
	uint8_t kind;
	char lit[KH_POLICY_SEG_MAX + 1];	/* NUL-terminated; "" for STAR */
	size_t len;
};

struct pol_rule {
	char method[KH_METHOD_MAX + 1];
	uint32_t line;			/* source line, for logs/explain */
	uint16_t nsegs;			/* 0 = the root "/" */
	struct pol_seg segs[KH_POLICY_SEGS_MAX];
};

struct policy {
	uint64_t max_body;		/* 0 = use the operator's default */
	size_t nrules;
	struct pol_rule *rules;		/* heap, nrules entries */
	size_t nreq_hdrs;
	char req_hdrs[KH_POLICY_HDRS_MAX][KH_HNAME_MAX + 1];
	size_t nresp_hdrs;
	char resp_hdrs[KH_POLICY_HDRS_MAX][KH_HNAME_MAX + 1];
	bool req_hdrs_set;		/* compiler only: a directive was seen */
	bool resp_hdrs_set;
};

/* Defaults from the Paperclip bridge, used when the policy names none. */
extern const char *const policy_default_req_hdrs[];
extern const char *const policy_default_resp_hdrs[];

void policy_init(struct policy *p);
void policy_free(struct policy *p);

/* Returns the index of the first rule matching, or -1.  path must be
 * canonical (path_is_canonical); a trailing '/' is an empty last segment
 * and matches nothing but the root rule for "/". */
int policy_match(const struct policy *p, const char *method,
    const char *path, size_t pathlen);

bool policy_req_header_allowed(const struct policy *p, const char *name,
    size_t len);
bool policy_resp_header_allowed(const struct policy *p, const char *name,
    size_t len);

/* Header names that neither direction's allowlist may ever hold
 * (authorization, host, cookie, accept-encoding, framing headers …). */
bool policy_header_forbidden(const char *name, size_t len);
/* Method token check used by both compiler and decoder: an upper-case
 * token from the set keyhole forwards (GET HEAD POST PUT PATCH DELETE
 * OPTIONS). */
bool policy_method_valid(const char *m, size_t len);

void policy_encode(const struct policy *p, struct wbuf *w);
/* Decode and validate a table.  Returns 0, or -1 with err filled. */
int policy_decode(struct msg_reader *r, struct policy *out, char *err,
    size_t errlen);
/* Deep equality: a restarted child must send exactly the same table. */
bool policy_equal(const struct policy *a, const struct policy *b);
/* Canonical text form, one directive per line (check-policy). */
void policy_print(FILE *f, const struct policy *p);

#endif
