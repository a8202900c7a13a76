/*
 * keyhole parent: a child's MSG_REQUEST re-checked (see request_check.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "hdr.h"
#include "json_check.h"
#include "json_keys.h"
#include "log.h"
#include "media.h"
#include "path.h"
#include "request_check.h"
#include "util.h"

/* Read and check one forwarded header (the global allowlist or the
 * matched rule's own); appends it to r->hdrs. */
static int
reqchk_header(const struct policy *pol, const struct pol_rule *rule,
    struct msg_reader *rd, struct up_req *r, const char **why)
{
	const char *name, *value;
	size_t nl, vl;
	char line[KH_HNAME_MAX + KH_HVALUE_MAX + 4];

	if (msg_get_str(rd, &name, &nl, KH_HNAME_MAX) < 0 ||
	    msg_get_str(rd, &value, &vl, KH_HVALUE_MAX) < 0) {
		*why = "malformed header field";
		return -1;
	}
	if (!hdr_lower_token(name, nl) ||
	    !policy_rule_header_allowed(pol, rule, name, nl) ||
	    policy_header_forbidden(name, nl)) {
		*why = "header name outside the allowlist";
		return -1;
	}
	/* The parent writes content-type itself, from the media fields. */
	if (nl == 12 && memcmp(name, "content-type", 12) == 0) {
		*why = "content-type among the headers";
		return -1;
	}
	if (!hdr_value_forwardable(value, vl)) {
		*why = "header value with a forbidden byte";
		return -1;
	}
	for (struct curl_slist *s = r->hdrs; s != NULL; s = s->next)
		if (strncmp(s->data, name, nl) == 0 &&
		    (s->data[nl] == ':' || s->data[nl] == ';')) {
			*why = "duplicate header";
			return -1;
		}
	/* An empty value is sent as "name;" (curl's spelling for "name:"
	 * with no value; "name:" alone would delete the header). */
	if (vl == 0)
		snprintf(line, sizeof(line), "%.*s;", (int)nl, name);
	else
		snprintf(line, sizeof(line), "%.*s: %.*s", (int)nl, name,
		    (int)vl, value);
	struct curl_slist *n = curl_slist_append(r->hdrs, line);
	if (n == NULL) {
		*why = "out of memory";
		return -1;
	}
	r->hdrs = n;
	return 0;
}

/* Read and check the media fields (wire.h) against the rule: which media
 * type, written by the parent from its own copy of the rule (and the
 * checked charset flag and boundary) and appended to r->hdrs.  *json: a
 * JSON type (the body must then pass json_check). */
static int
reqchk_media(const struct policy *pol, const struct pol_rule *rule,
    struct msg_reader *rd, struct up_req *r, bool *has_media, bool *json,
    const char **why)
{
	char line[sizeof("content-type: ") + MEDIA_VALUE_MAX];
	const char *b, *t;
	size_t bl;
	uint8_t media, flags;
	int n;

	*has_media = *json = false;
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
	memcpy(line, "content-type: ", 14);
	n = media_format(line + 14, sizeof(line) - 14, t, strlen(t), flags, b,
	    bl);
	struct curl_slist *h = n < 0 ? NULL : curl_slist_append(r->hdrs, line);
	if (h == NULL) {
		*why = "out of memory";
		return -1;
	}
	r->hdrs = h;
	*has_media = true;
	*json = media_is_json(t, strlen(t));
	return 0;
}

/* `body json`, `keys` and a JSON media type, on the complete body: what
 * the child checked with cJSON, repeated with the allocation-free
 * json_check() and json_keys_check() (SECURITY.md: why the parent may). */
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
    uint32_t mutations_used, struct msg_reader *rd, struct up_req *r,
    struct req_checked *out, const char **why)
{
	const char *method, *path, *query, *peer;
	size_t ml, pl, ql, peerl, blen;
	const uint8_t *body;
	uint8_t has_query;
	uint16_t nh;
	bool has_media, json;

	memset(out, 0, sizeof(*out));
	msg_get_str(rd, &method, &ml, KH_METHOD_MAX);
	msg_get_str(rd, &path, &pl, KH_PATH_MAX);
	msg_get_u8(rd, &has_query);
	msg_get_str(rd, &query, &ql, KH_QUERY_MAX);
	msg_get_str(rd, &peer, &peerl, 128);
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
	memcpy(out->path, path, pl);
	out->path[pl] = '\0';
	memcpy(out->query, query, ql);
	out->query[ql] = '\0';
	out->has_query = has_query;
	memcpy(r->method, method, ml);
	r->method[ml] = '\0';
	memcpy(r->path, path, pl);
	r->path[pl] = '\0';
	if (peerl >= sizeof(r->peer))
		peerl = sizeof(r->peer) - 1;
	memcpy(r->peer, peer, peerl);
	r->peer[peerl] = '\0';
	log_sanitize(r->peer, peerl);
	/* Invariant 3: the parent's own copy of the policy decides, with
	 * its own variable bindings; then every property of the matched
	 * rule it can check without parsing the body. */
	int ri = policy_match(pol, r->method, out->path, pl);
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
		if (reqchk_header(pol, rule, rd, r, why) < 0)
			return -1;
	if (reqchk_media(pol, rule, rd, r, &has_media, &json, why) < 0)
		return -1;
	if (msg_get_blob(rd, &body, &blen, (size_t)max_body) < 0 ||
	    msg_end(rd) < 0) {
		*why = "malformed request body or trailing bytes";
		return -1;
	}
	/* The rule's max-body (0 for `body none`), never the operator's
	 * more: the child answered 413 for anything larger. */
	if (blen > policy_body_limit(pol, rule, max_body)) {
		*why = "body over the rule's limit";
		return -1;
	}
	if ((rule->flags & POL_BODY_JSON || rule->nkeys > 0) && blen == 0) {
		*why = "no body on a rule that requires one";
		return -1;
	}
	if (blen > 0 && (strcmp(r->method, "GET") == 0 ||
	    strcmp(r->method, "HEAD") == 0)) {
		*why = "body on GET or HEAD";
		return -1;
	}
	if (reqchk_json(rule, policy_rule_header_allowed(pol, rule,
	    "content-type", 12), has_media, json, body, blen, why) < 0)
		return -1;
	/* The run's mutation budget, counted by the parent itself across
	 * child restarts.  An honest child answers 429 before this (it was
	 * told the count in MSG_CONFIG), so one over the budget is an attack
	 * and never reaches the upstream. */
	out->counts = policy_method_mutates(r->method) &&
	    pol->max_mutations != 0;
	if (out->counts && mutations_used >= pol->max_mutations) {
		*why = "mutation over the policy's 'max' budget";
		return -1;
	}
	if (blen > 0) {
		r->body = malloc(blen);
		if (r->body == NULL) {
			*why = "out of memory";
			return -1;
		}
		memcpy(r->body, body, blen);
		r->body_len = blen;
	}
	r->rule_line = rule->line;
	return 0;
}
