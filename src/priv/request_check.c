/*
 * keyhole parent: a child's MSG_REQUEST re-checked (see request_check.h).
 * Only checks: what it accepts goes back to monitor.c as a struct
 * req_checked, which decides what to do with it.
 */
#include <string.h>

#include "hdr.h"
#include "json_check.h"
#include "json_keys.h"
#include "log.h"
#include "media.h"
#include "path.h"
#include "request_check.h"

/* Read and check one forwarded header (the global allowlist or the
 * matched rule's own) into out->hdrs. */
static int
reqchk_header(const struct policy *pol, const struct pol_rule *rule,
    struct msg_reader *rd, struct req_checked *out, const char **why)
{
	struct req_hdr *h = &out->hdrs[out->nhdrs];

	if (msg_get_str(rd, &h->name, &h->nlen, KH_HNAME_MAX) < 0 ||
	    msg_get_str(rd, &h->value, &h->vlen, KH_HVALUE_MAX) < 0) {
		*why = "malformed header field";
		return -1;
	}
	if (!hdr_lower_token(h->name, h->nlen) ||
	    !policy_rule_header_allowed(pol, rule, h->name, h->nlen) ||
	    policy_header_forbidden(h->name, h->nlen)) {
		*why = "header name outside the allowlist";
		return -1;
	}
	/* The parent writes content-type itself, from the media fields. */
	if (h->nlen == 12 && memcmp(h->name, "content-type", 12) == 0) {
		*why = "content-type among the headers";
		return -1;
	}
	if (!hdr_value_forwardable(h->value, h->vlen)) {
		*why = "header value with a forbidden byte";
		return -1;
	}
	for (size_t i = 0; i < out->nhdrs; i++)
		if (out->hdrs[i].nlen == h->nlen &&
		    memcmp(out->hdrs[i].name, h->name, h->nlen) == 0) {
			*why = "duplicate header";
			return -1;
		}
	out->nhdrs++;
	return 0;
}

/* Read and check the media fields (wire.h) against the rule: which media
 * type, taken from the parent's own copy of the rule, and the checked
 * charset flag and boundary.  *json: a JSON type (the body must then
 * pass json_check). */
static int
reqchk_media(const struct policy *pol, const struct pol_rule *rule,
    struct msg_reader *rd, struct req_checked *out, bool *json,
    const char **why)
{
	const char *b, *t;
	size_t bl;
	uint8_t media, flags;

	*json = false;
	msg_get_u8(rd, &media);
	msg_get_u8(rd, &flags);
	if (msg_get_str(rd, &b, &bl, KH_BOUNDARY_MAX) < 0) {
		*why = "malformed media type fields";
		return -1;
	}
	if (media == MEDIA_NONE) {
		if (flags != 0 || bl != 0) {
			*why = "media parameters without a media type";
			return -1;
		}
		return 0;
	}
	if (!policy_rule_header_allowed(pol, rule, "content-type", 12)) {
		*why = "a media type where content-type is not allowed";
		return -1;
	}
	if (media == MEDIA_JSON) {
		t = "application/json";
	} else if (media - MEDIA_RULE_BASE < rule->nctypes &&
	    strcmp(rule->ctypes[media - MEDIA_RULE_BASE],
	    "application/json") != 0) {
		t = rule->ctypes[media - MEDIA_RULE_BASE];
	} else {
		*why = "media type index outside the rule's list";
		return -1;
	}
	if (!policy_rule_ctype_allowed(rule, t, strlen(t))) {
		*why = "media type the rule does not accept";
		return -1;
	}
	if ((flags & ~MEDIA_FLAGS_ALL) != 0) {
		*why = "unknown media flags";
		return -1;
	}
	if (bl != 0 && (!media_is_multipart(t, strlen(t)) ||
	    !media_boundary_valid(b, bl))) {
		*why = "boundary not on a multipart type, or invalid";
		return -1;
	}
	out->media = t;
	out->media_flags = flags;
	out->boundary = b;
	out->blen = bl;
	*json = media_is_json(t, strlen(t));
	return 0;
}

/* `body json`, `keys` and a JSON media type, on the complete body: what
 * the child checked with cJSON, repeated with the allocation-free
 * json_check() and json_keys_check() (SECURITY.md I3 says why the parent
 * may). */
static int
reqchk_json(const struct pol_rule *rule, bool ctype_ok, bool has_media,
    bool json, const uint8_t *body, size_t blen, const char **why)
{
	bool need = (rule->flags & POL_BODY_JSON) || rule->nkeys > 0;

	if (blen == 0)
		return 0;
	if (need && ctype_ok && !json) {
		*why = has_media ? "a JSON rule's body with another media type" :
		    "a body without a media type";
		return -1;
	}
	if (!need && ctype_ok && !has_media) {
		*why = "a body without a media type";
		return -1;
	}
	if ((need || json) && !json_check(body, blen)) {
		*why = "body is not one JSON text";
		return -1;
	}
	if (rule->nkeys > 0 && json_keys_check(body, blen,
	    (const char (*)[KH_POLICY_KEY_MAX + 1])rule->keys, rule->nkeys) !=
	    JSON_KEYS_OK) {
		*why = "a top-level key outside the rule's 'keys'";
		return -1;
	}
	return 0;
}

int
request_check(const struct policy *pol, uint64_t max_body,
    uint32_t mutations_used, struct msg_reader *rd, struct req_checked *out,
    const char **why)
{
	const char *method, *path, *query, *peer;
	size_t ml, pl, ql, peerl;
	uint8_t has_query;
	uint16_t nh;
	bool json;

	memset(out, 0, sizeof(*out));
	msg_get_str(rd, &method, &ml, KH_METHOD_MAX);
	msg_get_str(rd, &path, &pl, KH_PATH_MAX);
	msg_get_u8(rd, &has_query);
	msg_get_str(rd, &query, &ql, KH_QUERY_MAX);
	msg_get_str(rd, &peer, &peerl, KH_PEER_MAX);
	if (msg_get_u16(rd, &nh) < 0 || nh > KH_FWD_HEADERS_MAX) {
		*why = "malformed request or too many headers";
		return -1;
	}
	if (!policy_method_valid(method, ml)) {
		*why = "invalid method";
		return -1;
	}
	if (!path_is_canonical(path, pl)) {
		*why = "path is not canonical";
		return -1;
	}
	if (has_query > 1 || (!has_query && ql != 0) ||
	    !query_is_valid((const uint8_t *)query, ql)) {
		*why = "invalid query";
		return -1;
	}
	memcpy(out->method, method, ml);
	out->method[ml] = '\0';
	memcpy(out->path, path, pl);
	out->path[pl] = '\0';
	out->path_len = pl;
	memcpy(out->query, query, ql);
	out->query[ql] = '\0';
	out->has_query = has_query;
	memcpy(out->peer, peer, peerl);
	out->peer[peerl] = '\0';
	log_sanitize(out->peer, peerl);
	/* SECURITY.md I3: the parent's own copy of the policy decides, with
	 * its own variable bindings; then every property of the matched
	 * rule it can check without parsing the body. */
	int ri = policy_match(pol, out->method, out->path, pl);
	if (ri < 0) {
		*why = "request outside the policy";
		return -1;
	}
	const struct pol_rule *rule = &pol->rules[ri];
	out->rule = rule;
	out->ri = (size_t)ri;
	if ((rule->flags & POL_QUERY_NONE) && has_query) {
		*why = "query string on a 'query none' rule";
		return -1;
	}
	for (uint16_t i = 0; i < nh; i++)
		if (reqchk_header(pol, rule, rd, out, why) < 0)
			return -1;
	if (reqchk_media(pol, rule, rd, out, &json, why) < 0)
		return -1;
	if (msg_get_blob(rd, &out->body, &out->body_len, (size_t)max_body) < 0 ||
	    msg_end(rd) < 0) {
		*why = "malformed request body or trailing bytes";
		return -1;
	}
	/* The rule's max-body (0 for `body none`), never the operator's
	 * more: the child answered 413 for anything larger. */
	if (out->body_len > policy_body_limit(pol, rule, max_body)) {
		*why = "body over the rule's limit";
		return -1;
	}
	if ((rule->flags & POL_BODY_JSON || rule->nkeys > 0) &&
	    out->body_len == 0) {
		*why = "no body on a rule that requires one";
		return -1;
	}
	if (out->body_len > 0 && (strcmp(out->method, "GET") == 0 ||
	    strcmp(out->method, "HEAD") == 0)) {
		*why = "body on GET or HEAD";
		return -1;
	}
	if (reqchk_json(rule, policy_rule_header_allowed(pol, rule,
	    "content-type", 12), out->media != NULL, json, out->body,
	    out->body_len, why) < 0)
		return -1;
	/* The run's mutation budget, counted by the parent itself across
	 * child restarts.  An honest child answers 429 before this (it was
	 * told the count in MSG_CONFIG), so one over the budget is an attack
	 * and never reaches the upstream. */
	out->counts = policy_method_mutates(out->method) &&
	    pol->max_mutations != 0;
	if (out->counts && mutations_used >= pol->max_mutations) {
		*why = "mutation over the policy's 'max' budget";
		return -1;
	}
	if (out->body_len == 0)
		out->body = NULL;
	return 0;
}
