/*
 * keyhole compiled route policy (v2): the fixed binary rule table.
 *
 * The child compiles the policy text (src/unpriv/policy_compile.c) into a
 * struct policy, encodes it once as MSG_POLICY; the parent decodes it with
 * policy_decode(), which re-validates every field as hostile input, keeps
 * its own copy, and re-checks every forwarded request with policy_match()
 * and the per-rule properties it can check without parsing a body.  The
 * parent never sees the policy text.
 *
 * Variables: a segment {name} matches only the value bound to name for
 * this run.  The table carries the NAME only; each process resolves it
 * against its own bindings (the parent's come from its own --var options,
 * never from the child), so a child cannot change what {issue} means.  A
 * name without a binding matches nothing.
 *
 * Encoding (payload of MSG_POLICY, integers big-endian, str as in wire.h):
 *   u64 max_body                      0 = operator default
 *   u32 max_mutations                 `max N`; 0 = no budget
 *   u16 nrules (1..KH_POLICY_RULES_MAX)
 *   nrules * rule
 *   u16 nreq_hdrs,  nreq_hdrs  * str name   lower-case tokens, allowlist
 *   u16 nresp_hdrs, nresp_hdrs * str name
 *
 *   rule = str method, u32 line,
 *          u16 nsegs (0..KH_POLICY_SEGS_MAX), nsegs * ( u8 kind, str text )
 *                 kind SEG_LIT: text is a non-empty canonical path segment
 *                 SEG_STAR, SEG_GLOB: text is empty; GLOB only as the last
 *                 SEG_VAR: text is the variable name
 *          u8 flags                   POL_BODY_JSON | POL_BODY_NONE (not
 *                                     both) | POL_QUERY_NONE
 *          u64 max_body               0 = the policy's max_body
 *          u16 nkeys,   nkeys   * str key     top-level JSON keys
 *          u16 nctypes, nctypes * str type    media types (type/subtype)
 *          u16 nhdrs,   nhdrs   * str name    extra forwarded headers
 *          u32 rate_count, u32 rate_period_s  0,0 = no rate; else
 *                                     1..KH_POLICY_RATE_MAX per 1 or 60 s
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
	SEG_STAR = 2,	/* '*': exactly one non-empty segment */
	SEG_GLOB = 3,	/* '**': one or more non-empty segments; last only */
	SEG_VAR = 4,	/* '{name}': exactly the value bound to name */
};

/* Rule flags (one wire byte; other bits are refused). */
#define POL_BODY_JSON	0x01u	/* a body is required: one JSON value */
#define POL_BODY_NONE	0x02u	/* no body at all */
#define POL_QUERY_NONE	0x04u	/* no query string, not even a bare '?' */
#define POL_FLAGS_ALL	0x07u

struct pol_seg {
	uint8_t kind;
	char lit[KH_POLICY_SEG_MAX + 1];	/* LIT bytes or VAR name */
	size_t len;
	int var;			/* VAR: index in policy.vars (local) */
	uint32_t col;			/* compiler only: source column */
};

struct pol_rule {
	char method[KH_METHOD_MAX + 1];
	uint32_t line;			/* source line, for logs/explain */
	uint16_t nsegs;			/* 0 = the root "/" */
	struct pol_seg segs[KH_POLICY_SEGS_MAX];
	uint8_t flags;
	uint64_t max_body;		/* 0 = the policy's max_body */
	uint16_t nkeys;
	char keys[KH_POLICY_KEYS_MAX][KH_POLICY_KEY_MAX + 1];
	uint16_t nctypes;		/* 0 = application/json only */
	char ctypes[KH_POLICY_CTYPES_MAX][KH_POLICY_CTYPE_MAX + 1];
	uint16_t nhdrs;
	char hdrs[KH_POLICY_RHDRS_MAX][KH_HNAME_MAX + 1];
	uint32_t rate_count;		/* 0 = no rate limit */
	uint32_t rate_period_s;		/* 1 or 60 */
};

/* One variable a table names, with THIS process's binding.  Not on the
 * wire: the compiler fills it from the child's MSG_CONFIG, the decoder
 * from the parent's own configuration. */
struct pol_var {
	char name[KH_POLICY_VAR_MAX + 1];
	bool bound;
	char value[KH_POLICY_SEG_MAX + 1];
	size_t vlen;
	bool optional;			/* compiler only: `optional-var` */
	uint32_t line;			/* compiler only: where declared */
};

/* The values bound for a run (`--var name=value`). */
struct pol_binding {
	char name[KH_POLICY_VAR_MAX + 1];
	char value[KH_POLICY_SEG_MAX + 1];
	size_t vlen;
};

struct pol_bindings {
	size_t n;
	struct pol_binding b[KH_POLICY_VARS_MAX];
};

struct policy {
	uint64_t max_body;		/* 0 = use the operator's default */
	uint32_t max_mutations;		/* 0 = no budget */
	size_t nrules;
	struct pol_rule *rules;		/* heap, nrules entries */
	size_t nreq_hdrs;
	char req_hdrs[KH_POLICY_HDRS_MAX][KH_HNAME_MAX + 1];
	size_t nresp_hdrs;
	char resp_hdrs[KH_POLICY_HDRS_MAX][KH_HNAME_MAX + 1];
	size_t nvars;			/* local: see struct pol_var */
	struct pol_var vars[KH_POLICY_VARS_MAX];
	bool req_hdrs_set;		/* compiler only: a directive was seen */
	bool resp_hdrs_set;
};

/* Defaults from the Paperclip bridge, used when the policy names none. */
extern const char *const policy_default_req_hdrs[];
extern const char *const policy_default_resp_hdrs[];

void policy_init(struct policy *p);
void policy_free(struct policy *p);

/* ---- matching (policy_match.c) ---- */

/* Returns the index of the first rule whose method and pattern match, or
 * -1.  path must be canonical (path_is_canonical); a trailing '/' is an
 * empty last segment and matches nothing but the root rule for "/".  The
 * first matching rule decides: its constraints apply, later rules are
 * never consulted. */
int policy_match(const struct policy *p, const char *method,
    const char *path, size_t pathlen);
/* Does one pattern segment match one path segment?  (GLOB is checked per
 * segment here; the caller checks it is last and non-empty.) */
bool policy_seg_match(const struct policy *p, const struct pol_seg *g,
    const char *s, size_t len);

bool policy_req_header_allowed(const struct policy *p, const char *name,
    size_t len);
/* Allowed on this rule: the global allowlist plus the rule's own list. */
bool policy_rule_header_allowed(const struct policy *p,
    const struct pol_rule *r, const char *name, size_t len);
bool policy_resp_header_allowed(const struct policy *p, const char *name,
    size_t len);

/* Body limit for a rule: the rule's max-body, else the policy's, never
 * above the operator's (op_max). */
uint64_t policy_body_limit(const struct policy *p, const struct pol_rule *r,
    uint64_t op_max);
/* The largest policy_body_limit() of any rule: what the HTTP parser may
 * read before it knows the route. */
uint64_t policy_body_limit_any(const struct policy *p, uint64_t op_max);
/* Is media type t[0..len) (parameters already cut off, any case)
 * accepted by r?  No `content-type` constraint: application/json only. */
bool policy_rule_ctype_allowed(const struct pol_rule *r, const char *t,
    size_t len);
/* A mutation (counts toward `max N`): any method but GET HEAD OPTIONS. */
bool policy_method_mutates(const char *method);

/* ---- names and tokens shared with the compiler and the parent's
 * option parser (policy_names.c) ---- */

/* Case-insensitive (ASCII only, locale-free): s[0..len) equals the
 * lower-case C string `lower`. */
bool policy_name_eq(const char *s, size_t len, const char *lower);
/* name[0..len) (any case) is one of list[0..n) (lower-case names). */
bool policy_name_listed(const char list[][KH_HNAME_MAX + 1], size_t n,
    const char *name, size_t len);
/* Header names that neither direction's allowlist may ever hold
 * (authorization, host, cookie, accept-encoding, framing headers …). */
bool policy_header_forbidden(const char *name, size_t len);
/* Only the built-in list (authorization, host, content-length, ...). */
bool policy_header_builtin_forbidden(const char *name, size_t len);
/* A name this process's configuration makes keyhole write upstream
 * itself (a lower-case token): forbidden from now on, like the built-in
 * ones.  Returns 0, or -1 (not a lower-case token, or too many). */
int policy_forbid_add(const char *name, size_t len);
size_t policy_forbid_count(void);
const char *policy_forbid_name(size_t i);
void policy_forbid_clear(void);
/* Method token check used by both compiler and decoder: an upper-case
 * token from the set keyhole forwards (GET HEAD POST PUT PATCH DELETE
 * OPTIONS). */
bool policy_method_valid(const char *m, size_t len);
/* A literal segment exactly as path_canonicalize() could emit it (and not
 * "*"): what a pattern literal and a bound value must be. */
bool policy_segment_valid(const char *s, size_t len);
/* ".", "..", or either followed by ";params": a dot segment in any
 * spelling a canonical path could still carry. */
bool policy_seg_is_dot(const char *s, size_t len);
/* [A-Za-z_][A-Za-z0-9_]*, at most KH_POLICY_VAR_MAX bytes. */
bool policy_var_name_valid(const char *s, size_t len);
/* A JSON key a `keys` list may name: [A-Za-z0-9_.$@-], 1..KEY_MAX. */
bool policy_key_valid(const char *s, size_t len);
/* A media type a `content-type` list may name: lower-case type/subtype
 * tokens, no parameters, no wildcards. */
bool policy_ctype_valid(const char *s, size_t len);
/* Lower-case RFC 9110 token (a folded header name), 1..KH_HNAME_MAX. */
bool policy_hname_valid(const char *s, size_t len);

/* Add `name=value` (arg) to b.  Returns 0, or -1 with why filled: a bad
 * name, a value that is not one canonical path segment, a name given
 * twice, too many. */
int policy_binding_add(struct pol_bindings *b, const char *arg, char *why,
    size_t whylen);
/* KEYHOLE_VAR_NAME=VALUE entries of env for names b does not bind yet
 * (policy_names.c).  Returns 0, or -1 with *bad and why[]. */
int policy_bindings_env(struct pol_bindings *b, char *const *env,
    const char **bad, char *why, size_t whylen);
const struct pol_binding *policy_binding_find(const struct pol_bindings *b,
    const char *name, size_t len);

/* ---- the wire (policy_table.c) ---- */

void policy_encode(const struct policy *p, struct wbuf *w);
/* Decode and validate a table; {name} segments are resolved against
 * `bind` (may be NULL: nothing bound).  Returns 0, or -1 with err
 * filled and *out empty. */
int policy_decode(struct msg_reader *r, const struct pol_bindings *bind,
    struct policy *out, char *err, size_t errlen);
/* Deep equality of everything on the wire: a restarted child must send
 * exactly the same table. */
bool policy_equal(const struct policy *a, const struct policy *b);

/* ---- text (policy_print.c) ---- */

/* Canonical text form, one directive per line (check-policy); compiles
 * back to an equal table. */
void policy_print(FILE *f, const struct policy *p);
/* One rule as its canonical `allow ...` line, without the newline. */
void policy_print_rule(FILE *f, const struct pol_rule *r);
/* A size as the policy language writes it (1m, 64k, 1000). */
void policy_print_size(FILE *f, uint64_t v);

#endif
