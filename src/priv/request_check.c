/*
 * keyhole parent: a child's MSG_REQUEST re-checked (see request_check.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "log.h"
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
	if (!util_lower_token(name, nl) ||
	    !policy_rule_header_allowed(pol, rule, name, nl) ||
	    policy_header_forbidden(name, nl)) {
		*why = "header name outside the allowlist";
		return -1;
	}
	if (!util_hvalue_forwardable(value, vl)) {
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
	if ((rule->flags & POL_QUERY_NONE) && has_query) {
		*why = "query string on a 'query none' rule";
		return -1;
	}
	for (uint16_t i = 0; i < nh; i++)
		if (reqchk_header(pol, rule, rd, r, why) < 0)
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
