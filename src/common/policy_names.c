/*
 * keyhole route policy: the names a policy may use, and variable
 * bindings.  One definition of each rule, shared by the compiler (child),
 * the table decoder (parent) and the parent's --var option parser, so the
 * three can never disagree about what a header name, a media type, a JSON
 * key, a variable name or a path segment is.
 */
#include <stdio.h>
#include <string.h>

#include "path.h"
#include "policy_table.h"

/* NULL-terminated, in the order Paperclip's bridge lists them. */
const char *const policy_default_req_hdrs[] = {
	"accept", "content-type", "if-match", "if-none-match", NULL
};
const char *const policy_default_resp_hdrs[] = {
	"content-type", "etag", "last-modified", NULL
};

/*
 * Never allowlistable, in either direction, globally or per rule.  Each
 * line says why.
 */
static const char *const forbidden_hdrs[] = {
	/* credentials: only the parent sets them, from its own secret */
	"authorization", "proxy-authorization", "cookie", "set-cookie",
	/* the parent chooses the upstream and its framing */
	"host", "content-length", "transfer-encoding", "connection",
	"keep-alive", "upgrade", "te", "trailer", "expect",
	"proxy-connection", "http2-settings",
	/* Paperclip gzips when asked; the parent never decodes bodies */
	"accept-encoding", "content-encoding",
	/* the parent sets the run id; a sandbox must not pick another run */
	"x-paperclip-run-id",
	/* client-address and proxy claims the upstream might trust */
	"forwarded", "x-forwarded-for", "x-forwarded-host",
	"x-forwarded-proto", "x-forwarded-port", "x-forwarded-prefix",
	"x-forwarded-server", "x-real-ip", "via",
	/* frameworks honour these to change the method or route after the
	 * policy matched */
	"x-http-method-override", "x-http-method", "x-method-override",
	"x-original-url", "x-rewrite-url",
	NULL
};

/*
 * The names this process's configuration makes keyhole write upstream
 * itself (the credential's header, --run-id-header, --upstream-header):
 * forbidden like the list above, in both processes.  The parent registers
 * its own at start-up (config.c); the child those MSG_CONFIG names, before
 * it compiles the policy, so it refuses the same allowlist the parent
 * would and drops the same headers the parent would refuse.
 */
static char forbid_extra[KH_FORBID_EXTRA_MAX][KH_HNAME_MAX + 1];
static size_t nforbid_extra;

static const char *const methods[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", NULL
};

static unsigned char
ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool
policy_name_eq(const char *s, size_t len, const char *lower)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (lower[i] == '\0' ||
		    ascii_lower((unsigned char)s[i]) != (unsigned char)lower[i])
			return false;
	}
	return lower[i] == '\0';
}

bool
policy_header_forbidden(const char *name, size_t len)
{
	for (size_t i = 0; forbidden_hdrs[i] != NULL; i++)
		if (policy_name_eq(name, len, forbidden_hdrs[i]))
			return true;
	for (size_t i = 0; i < nforbid_extra; i++)
		if (policy_name_eq(name, len, forbid_extra[i]))
			return true;
	return false;
}

/* Built in: never allowlistable whatever the configuration says. */
bool
policy_header_builtin_forbidden(const char *name, size_t len)
{
	for (size_t i = 0; forbidden_hdrs[i] != NULL; i++)
		if (policy_name_eq(name, len, forbidden_hdrs[i]))
			return true;
	return false;
}

int
policy_forbid_add(const char *name, size_t len)
{
	if (len == 0 || len > KH_HNAME_MAX || !policy_hname_valid(name, len))
		return -1;
	for (size_t i = 0; i < len; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			return -1;
	if (policy_header_forbidden(name, len))
		return 0;		/* already: nothing to add */
	if (nforbid_extra == KH_FORBID_EXTRA_MAX)
		return -1;
	memcpy(forbid_extra[nforbid_extra], name, len);
	forbid_extra[nforbid_extra][len] = '\0';
	nforbid_extra++;
	return 0;
}

size_t
policy_forbid_count(void)
{
	return nforbid_extra;
}

const char *
policy_forbid_name(size_t i)
{
	return i < nforbid_extra ? forbid_extra[i] : NULL;
}

void
policy_forbid_clear(void)
{
	nforbid_extra = 0;
}

bool
policy_method_valid(const char *m, size_t len)
{
	for (size_t i = 0; methods[i] != NULL; i++)
		if (strlen(methods[i]) == len && memcmp(methods[i], m, len) == 0)
			return true;
	return false;
}

bool
policy_seg_is_dot(const char *s, size_t len)
{
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return true;
	if (len >= 2 && s[0] == '.' && s[1] == ';')
		return true;
	return len >= 3 && s[0] == '.' && s[1] == '.' && s[2] == ';';
}

/*
 * A literal segment exactly as path_canonicalize() could emit it, so a
 * rule (or a bound value) can only name a path that can actually arrive:
 * path.c decides (path_segment_is_canonical), the one definition of a
 * canonical segment.  Not "*" or "**" (the wildcards) either.
 */
bool
policy_segment_valid(const char *s, size_t len)
{
	if (len == 0 || len > KH_POLICY_SEG_MAX || policy_seg_is_dot(s, len))
		return false;
	if ((len == 1 && s[0] == '*') || (len == 2 && s[0] == '*' &&
	    s[1] == '*'))
		return false;
	return path_segment_is_canonical(s, len);
}

bool
policy_var_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > KH_POLICY_VAR_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
			continue;
		if (i > 0 && c >= '0' && c <= '9')
			continue;
		return false;
	}
	return true;
}

bool
policy_key_valid(const char *s, size_t len)
{
	if (len == 0 || len > KH_POLICY_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (c != '\0' && strchr("_.$@-", c) != NULL))
			continue;
		return false;
	}
	return true;
}

/* RFC 9110 tchar, upper-case letters excluded: tables hold names folded. */
static bool
is_lower_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

bool
policy_hname_valid(const char *s, size_t len)
{
	if (len == 0 || len > KH_HNAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_lower_tchar((unsigned char)s[i]))
			return false;
	return true;
}

bool
policy_ctype_valid(const char *s, size_t len)
{
	const char *slash = len ? memchr(s, '/', len) : NULL;

	if (len == 0 || len > KH_POLICY_CTYPE_MAX || slash == NULL ||
	    slash == s || slash == s + len - 1 || memchr(s, '*', len) != NULL)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s + i != slash && !is_lower_tchar((unsigned char)s[i]))
			return false;
	return true;
}

const struct pol_binding *
policy_binding_find(const struct pol_bindings *b, const char *name,
    size_t len)
{
	if (b == NULL)
		return NULL;
	for (size_t i = 0; i < b->n; i++)
		if (strlen(b->b[i].name) == len &&
		    memcmp(b->b[i].name, name, len) == 0)
			return &b->b[i];
	return NULL;
}

int
policy_binding_add(struct pol_bindings *b, const char *arg, char *why,
    size_t whylen)
{
	const char *eq = strchr(arg, '=');
	size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
	const char *v = eq ? eq + 1 : "";
	size_t vlen = strlen(v);

	if (eq == NULL) {
		snprintf(why, whylen, "'%s' is not NAME=VALUE", arg);
		return -1;
	}
	if (!policy_var_name_valid(arg, nlen)) {
		snprintf(why, whylen, "'%.*s' is not a variable name (letters, "
		    "digits and '_', not starting with a digit, at most %u "
		    "bytes)", (int)nlen, arg, KH_POLICY_VAR_MAX);
		return -1;
	}
	if (!policy_segment_valid(v, vlen)) {
		snprintf(why, whylen, "value '%s' of '%.*s' is not one path "
		    "segment as keyhole matches it (non-empty, no '/', not "
		    "'.', '..', '*' or '**'; bytes other than letters, digits "
		    "and -._~!$&'()*+,;=:@ percent-encoded with upper-case hex, "
		    "non-ASCII as UTF-8, e.g. caf%%C3%%A9; at most %u bytes)", v,
		    (int)nlen, arg, KH_POLICY_SEG_MAX);
		return -1;
	}
	if (policy_binding_find(b, arg, nlen) != NULL) {
		snprintf(why, whylen, "variable '%.*s' is bound twice",
		    (int)nlen, arg);
		return -1;
	}
	if (b->n == KH_POLICY_VARS_MAX) {
		snprintf(why, whylen, "more than %u variables",
		    KH_POLICY_VARS_MAX);
		return -1;
	}
	struct pol_binding *e = &b->b[b->n++];
	memcpy(e->name, arg, nlen);
	e->name[nlen] = '\0';
	memcpy(e->value, v, vlen + 1);
	e->vlen = vlen;
	return 0;
}

/*
 * KEYHOLE_VAR_NAME=VALUE in env for every NAME that b does not bind yet
 * (an option wins over the environment): the one reading of these
 * variables, shared by `keyhole serve` and `keyhole check-policy` /
 * `explain`, so the three bind a policy alike.  Returns 0, or -1 with
 * *bad the offending entry and why[] the reason.
 */
int
policy_bindings_env(struct pol_bindings *b, char *const *env,
    const char **bad, char *why, size_t whylen)
{
	static const char prefix[] = "KEYHOLE_VAR_";

	for (char *const *e = env; e != NULL && *e != NULL; e++) {
		const char *kv = *e + sizeof(prefix) - 1;
		const char *eq;
		if (strncmp(*e, prefix, sizeof(prefix) - 1) != 0 ||
		    (eq = strchr(kv, '=')) == NULL)
			continue;
		if (policy_binding_find(b, kv, (size_t)(eq - kv)) != NULL)
			continue;
		if (policy_binding_add(b, kv, why, whylen) < 0) {
			*bad = *e;
			return -1;
		}
	}
	return 0;
}
